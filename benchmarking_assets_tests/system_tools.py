"""System programs some tests drive (pdftoppm, pdftotext, chromium).

A missing program fails the test loudly with the command that installs it, in CI and on a
developer's machine alike: a skipped test would hide a feature nobody checked.
"""

from __future__ import annotations

import shutil

import pytest


def require_executable(*names: str, apt_package: str) -> str:
    """Path of the first of ``names`` on PATH, or fail saying what to install."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        f"{names[0]} is not installed: run `apt-get install {apt_package}` "
        "(`.ci/run` installs it in CI)"
    )
