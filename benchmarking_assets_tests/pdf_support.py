"""Read a generated PDF the way a person would: its pages as pictures and the text on them.

PDFium (Chrome's PDF engine) through ``pypdfium2``, a dev dependency installed by pip, so the
report tests need no system program (poppler's ``pdftoppm``/``pdftotext`` used to be one).
"""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image

POINTS_PER_INCH = 72  # one PDF canvas unit is 1/72 in


def render_pages(pdf: Path, dpi: int, first: int = 1, last: int | None = None) -> list[Image.Image]:
    """Pages ``first``…``last`` (1-based, inclusive, like ``pdftoppm -f/-l``) as RGB images."""
    document = pdfium.PdfDocument(pdf)
    try:
        stop = len(document) if last is None else min(last, len(document))
        return [
            document[index].render(scale=dpi / POINTS_PER_INCH).to_pil().convert("RGB")
            for index in range(first - 1, stop)
        ]
    finally:
        document.close()


def extract_text(pdf: Path) -> str:
    """Every page's text in reading order, pages separated by a form feed (as ``pdftotext``)."""
    document = pdfium.PdfDocument(pdf)
    try:
        return "\f".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()
