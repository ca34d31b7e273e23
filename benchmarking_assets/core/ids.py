"""What a valid district id (NCES ``leaid``) and a year key are: one rule, used by every layer.

An NCES district id is 7 ASCII digits: the 2-digit state FIPS code and a 5-digit number. Sources
often drop the leading zero of a one-digit FIPS code (Alabama's ``0100002`` arrives as
``"100002"`` or the number ``100002``), so 6 digits are accepted and zero-filled; anything else
(other lengths, signs, decimals, non-ASCII digits such as ``५०``) is not a district id.

:func:`normalize_leaid` applies the rule to one value; :func:`leaid_expr` is the same rule as a
Polars expression for whole columns (tested to agree).
"""

from __future__ import annotations

import re
from typing import Any

import polars as pl

LEAID_LENGTH = 7
# ASCII digits only: Python's \d and str.isdigit() also accept other scripts' digits.
LEAID_PATTERN = r"^[0-9]{6,7}$"
_LEAID = re.compile(LEAID_PATTERN)
_YEAR = re.compile(r"^[0-9]{4}$")


def normalize_leaid(value: Any) -> str | None:
    """The 7-digit leaid, or None when ``value`` is not a district id.

    Strings are stripped of surrounding white space; integers are taken as their digits.
    """
    if isinstance(value, bool) or value is None:
        return None
    text = str(value).strip() if isinstance(value, str | int) else None
    if text is None or not _LEAID.match(text):
        return None
    return text.zfill(LEAID_LENGTH)


def require_leaid(value: Any) -> str:
    """:func:`normalize_leaid`, raising ``ValueError`` with a message a user can act on."""
    leaid = normalize_leaid(value)
    if leaid is None:
        raise ValueError(f"{value!r} is not an NCES district id (7 digits, e.g. 0100005)")
    return leaid


def leaid_expr(column: pl.Expr) -> pl.Expr:
    """The rule of :func:`normalize_leaid` on a column (any dtype): the leaid, or NULL."""
    text = column.cast(pl.String, strict=False).str.strip_chars()
    return pl.when(text.str.contains(LEAID_PATTERN)).then(text.str.zfill(LEAID_LENGTH))


def require_year(value: Any) -> int:
    """A 4-digit year (as text or int), or ``ValueError``."""
    text = str(value)
    if isinstance(value, bool) or not _YEAR.match(text):
        raise ValueError(f"not a 4-digit year: {value!r}")
    return int(text)
