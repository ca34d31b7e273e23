"""What a reader sees on a PDF's pages: page images and the words with their boxes.

The report tests assert through these helpers only, so the tool behind them can be swapped
(today poppler-utils' ``pdftoppm`` and ``pdftotext``; a pip library such as pypdfium2 would
only change this module).

Coordinates are PDF points (1/72 inch) from the page's top-left corner.
"""

from __future__ import annotations

import html
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from benchmarking_assets_tests.system_tools import require_executable

_PAGE = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">')
_WORD = re.compile(
    r'<word xMin="([-\d.]+)" yMin="([-\d.]+)" xMax="([-\d.]+)" yMax="([-\d.]+)">(.*?)</word>'
)


@dataclass(frozen=True)
class Word:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float

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


def _tool(name: str) -> str:
    return require_executable(name, apt_package="poppler-utils")


def read_pages(pdf: Path) -> list[Page]:
    """Every page's words with their boxes, and its layout text."""
    boxes = subprocess.run(
        [_tool("pdftotext"), "-bbox", str(pdf), "-"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    layout = subprocess.run(
        [_tool("pdftotext"), "-layout", str(pdf), "-"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.split("\f")
    pages: list[Page] = []
    for chunk in boxes.split("<page ")[1:]:
        size = _PAGE.match("<page " + chunk)
        assert size, f"no page size in pdftotext output of {pdf}"
        words = tuple(
            Word(html.unescape(t), float(a), float(b), float(c), float(d))
            for a, b, c, d, t in _WORD.findall(chunk)
        )
        number = len(pages) + 1
        pages.append(Page(number, float(size[1]), float(size[2]), words, layout[number - 1]))
    return pages


def render_png(
    pdf: Path, out_dir: Path, dpi: int = 60, first: int = 1, last: int = 0
) -> list[Path]:
    """The pages (``first`` … ``last``, 0 = to the end) as PNG files, in page order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    prefix = out_dir / pdf.stem
    cmd = [_tool("pdftoppm"), "-png", "-r", str(dpi), "-f", str(first)]
    if last:
        cmd += ["-l", str(last)]
    subprocess.run([*cmd, str(pdf), str(prefix)], check=True, timeout=300)
    found = sorted(out_dir.glob(f"{pdf.stem}-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    return found
