"""What a reader sees on a PDF's pages: page images and the words with their boxes.

The report tests assert through these helpers only. They read the PDF with PDFium (through
``pypdfium2``, a pip-installed dev dependency): no system program is needed. Word boxes are
PDFium's *loose* character boxes (the font's ascent to descent, as a reader's eye measures a
line), joined into words at white space.

Coordinates are PDF points (1/72 inch) from the page's top-left corner.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium

from benchmarking_assets_tests.pdf_support import POINTS_PER_INCH


@dataclass(frozen=True)
class Word:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float
    size: float = 0.0  # font size in points (of the word's first character)

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2)


@dataclass(frozen=True)
class Page:
    number: int  # 1-based
    width: float
    height: float
    words: tuple[Word, ...]
    text: str  # the page's text in reading layout

    def find(self, text: str) -> list[Word]:
        return [w for w in self.words if w.text == text]


def _words(textpage: pdfium.PdfTextPage, height: float) -> tuple[Word, ...]:
    words: list[Word] = []
    chars: list[tuple[str, tuple[float, float, float, float]]] = []
    sizes: list[float] = []

    def flush() -> None:
        if chars:
            text = "".join(c for c, _ in chars)
            x0 = min(b[0] for _, b in chars)
            x1 = max(b[2] for _, b in chars)
            top = max(b[3] for _, b in chars)
            bottom = min(b[1] for _, b in chars)
            words.append(Word(text, x0, height - top, x1, height - bottom, sizes[0]))
            chars.clear()
            sizes.clear()

    for index in range(textpage.count_chars()):
        char = textpage.get_text_range(index, 1)
        box = textpage.get_charbox(index, loose=True)
        if not char or char.isspace() or box[2] <= box[0]:
            flush()  # white space, or a character PDFium generated between words
            continue
        if chars and abs(box[1] - chars[-1][1][1]) > 0.5 * (box[3] - box[1]):
            flush()  # a new line without white space between
        chars.append((char, box))
        sizes.append(round(pdfium.raw.FPDFText_GetFontSize(textpage.raw, index), 2))
    flush()
    return tuple(words)


def read_pages(pdf: Path) -> list[Page]:
    """Every page's words with their boxes, and its text in reading order."""
    document = pdfium.PdfDocument(pdf)
    try:
        pages: list[Page] = []
        for number, page in enumerate(document, start=1):
            width, height = page.get_size()
            textpage = page.get_textpage()
            text = textpage.get_text_range()
            pages.append(Page(number, width, height, _words(textpage, height), text))
        return pages
    finally:
        document.close()


def render_png(
    pdf: Path, out_dir: Path, dpi: int = 60, first: int = 1, last: int = 0
) -> list[Path]:
    """The pages (``first`` … ``last``, 0 = to the end) as PNG files, in page order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    document = pdfium.PdfDocument(pdf)
    try:
        stop = len(document) if not last else min(last, len(document))
        paths = []
        for index in range(first - 1, stop):
            path = out_dir / f"{pdf.stem}-{index + 1}.png"
            document[index].render(scale=dpi / POINTS_PER_INCH).to_pil().save(path)
            paths.append(path)
        return paths
    finally:
        document.close()
