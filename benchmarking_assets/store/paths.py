"""Checks on the local paths the settings name (warehouse file, inbox, reports), no Dagster.

A path is usable when it is not on a kernel pseudo-file system (``/proc``, ``/sys``, ``/dev``:
writes there fail or, worse, change the running system), is not something else than what is
wanted (a directory where a file belongs, or the reverse), and its nearest existing ancestor is
a writable directory, so it can be created on first use. Nothing is created here: settings are
checked at load, before anything runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

PSEUDO_FILE_SYSTEMS = (Path("/proc"), Path("/sys"), Path("/dev"))


def check_local_path(value: str | os.PathLike[str], kind: Literal["file", "directory"]) -> Path:
    """The absolute path, or ``ValueError`` saying why it cannot be used as a ``kind``."""
    text = os.fspath(value).strip()
    if not text:
        raise ValueError("is empty")
    if "\x00" in text:
        raise ValueError("contains a NUL character")
    path = Path(os.path.abspath(os.path.expanduser(text)))
    real = Path(os.path.realpath(path))
    for pseudo in PSEUDO_FILE_SYSTEMS:
        if real == pseudo or pseudo in real.parents:
            raise ValueError(f"is under {pseudo}, a kernel pseudo-file system, not storage")
    if path.exists():
        if kind == "file" and not path.is_file():
            raise ValueError(f"{path} exists and is not a regular file")
        if kind == "directory" and not path.is_dir():
            raise ValueError(f"{path} exists and is not a directory")
        if not os.access(path, os.W_OK):
            raise ValueError(f"{path} is not writable")
        return path
    ancestor = path.parent
    while not ancestor.exists():  # bounded by the path's depth
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ValueError(f"cannot be created: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValueError(f"cannot be created: {ancestor} is not writable")
    return path
