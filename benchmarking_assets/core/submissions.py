"""Private metric submissions: parse and validate CSV or JSON files (pure; no warehouse).

A file holds rows ``leaid, year, category, metric, value``:

* CSV: UTF-8 (a BOM is allowed), a header with exactly those five columns in any order;
  line numbers are the file's (the header is line 1);
* JSON: UTF-8, an array of objects with those five keys (or ``{"submissions": [...]}``);
  "line" is then the record number (1-based).

Whole-file errors (the file is quarantined, nothing is accepted): empty file, not UTF-8,
malformed or too deeply nested JSON, wrong columns, more rows than the caller's limit
(``SUBMISSIONS_MAX_ROWS``). Row errors (that row is rejected, the valid rows are kept): wrong
number of fields, a field longer than :data:`MAX_FIELD_CHARS`, malformed leaid, bad year,
unknown metric, category that does not match the metric, empty / non-numeric / non-finite value,
value outside the metric's public bounds, district not in ``district_data_history``, district
not enrolled, category not shared by the district, and a duplicate (leaid, year, metric) within
the file (the first one is kept). Each reason names the file, the line and the offending value
(quoted, and cut to :data:`QUOTE_CHARS` characters).

Numbers are decimal numbers in ASCII digits (``12``, ``-3.5``, ``1e3``): Python's ``float`` and
``int`` also take ``1_0`` and other scripts' digits (``५०``), which no spreadsheet writes for a
number, so those are refused here. A leaid of 6 digits is padded to 7
(:mod:`benchmarking_assets.core.ids`); a year is 4 ASCII digits; a value on a bound is accepted.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from benchmarking_assets.core.catalog import CATEGORIES
from benchmarking_assets.core.catalog import PRIVATE_BY_NAME as METRICS
from benchmarking_assets.core.geography import FIRST_YEAR
from benchmarking_assets.core.ids import normalize_leaid

# Every field of a valid row is short (a 7-digit id, a year, a catalog name, a number); a longer
# one is a broken export, rejected with its row instead of being carried into the reasons.
MAX_FIELD_CHARS = 200
QUOTE_CHARS = 60
_NUMBER = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")
_YEAR = re.compile(r"^[0-9]{4}$")

COLUMNS: tuple[str, ...] = ("leaid", "year", "category", "metric", "value")

ACCEPTED_SCHEMA: dict[str, pl.DataType] = {
    "leaid": pl.String(),
    "year": pl.Int32(),
    "category": pl.String(),
    "metric": pl.String(),
    "value": pl.Float64(),
    "line": pl.Int32(),
}
REJECTED_SCHEMA: dict[str, pl.DataType] = {
    "line": pl.Int32(),
    "error": pl.String(),
    "reason": pl.String(),
}


@dataclass(frozen=True)
class Registry:
    """What validation must know: the known districts and what each participant shares."""

    districts: frozenset[str]
    shares: Mapping[str, frozenset[str]] = field(default_factory=dict)
    last_year: int = datetime.now(UTC).year


@dataclass(frozen=True)
class ParsedFile:
    name: str
    sha256: str
    accepted: pl.DataFrame  # ACCEPTED_SCHEMA
    rejected: pl.DataFrame  # REJECTED_SCHEMA; line 0 = the whole file
    file_error: str | None = None

    @property
    def reasons_text(self) -> str:
        return "".join(f"{r}\n" for r in self.rejected["reason"])


class _Rejects:
    def __init__(self, name: str) -> None:
        self.name = name
        self.rows: list[tuple[int, str, str]] = []

    def add(self, line: int, error: str, message: str) -> None:
        where = f"{self.name} line {line}" if line else self.name
        self.rows.append((line, error, f"{where}: {message}"))

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(self.rows, schema=REJECTED_SCHEMA, orient="row").sort(
            "line", maintain_order=True
        )


def quote(value: str) -> str:
    """``value`` quoted for a reason, cut to :data:`QUOTE_CHARS` characters."""
    if len(value) <= QUOTE_CHARS:
        return repr(value)
    return f"{value[:QUOTE_CHARS]!r}… ({len(value):,} characters)"


def parse_file(path: Path, registry: Registry, max_rows: int | None = None) -> ParsedFile:
    return parse_bytes(path.name, path.read_bytes(), registry, max_rows)


def parse_bytes(
    name: str, data: bytes, registry: Registry, max_rows: int | None = None
) -> ParsedFile:
    """Validate one file's content; never raises on bad input, reports it instead.

    ``max_rows`` bounds the records read: a file with more is a whole-file error."""
    sha = hashlib.sha256(data).hexdigest()
    rejects = _Rejects(name)
    records, error = _records(name, data, rejects)
    if error is None and max_rows is not None and len(records) > max_rows:
        rejects = _Rejects(name)
        rejects.add(
            0,
            "too_many_rows",
            f"the file has more than {max_rows:,} rows (SUBMISSIONS_MAX_ROWS); split it",
        )
        records, error = [], "too_many_rows"
    if error is not None:  # the whole-file reason is already in ``rejects``
        return ParsedFile(name, sha, pl.DataFrame(schema=ACCEPTED_SCHEMA), rejects.frame(), error)
    accepted: list[tuple[Any, ...]] = []
    first_line: dict[tuple[str, int, str], int] = {}
    for line, record in records:
        row = _validate(line, record, registry, rejects)
        if row is None:
            continue
        key = (row[0], row[1], row[3])
        if key in first_line:
            rejects.add(
                line,
                "duplicate",
                f"duplicate of line {first_line[key]} for leaid {key[0]}, year {key[1]}, "
                f"metric {key[2]}",
            )
            continue
        first_line[key] = line
        accepted.append((*row, line))
    return ParsedFile(
        name, sha, pl.DataFrame(accepted, schema=ACCEPTED_SCHEMA, orient="row"), rejects.frame()
    )


def _records(
    name: str, data: bytes, rejects: _Rejects
) -> tuple[list[tuple[int, dict[str, str]]], str | None]:
    """(line, {column: raw text}) per row, or a whole-file error (its message in ``rejects``)."""
    if not data.strip():
        rejects.add(0, "empty", "the file is empty")
        return [], "empty"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        rejects.add(
            0,
            "encoding",
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} "
            "(save the file as UTF-8)",
        )
        return [], "encoding"
    if name.lower().endswith(".json"):
        return _json_records(text, rejects)
    return _csv_records(text, rejects)


def _csv_records(
    text: str, rejects: _Rejects
) -> tuple[list[tuple[int, dict[str, str]]], str | None]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader, [])]
    except csv.Error as exc:
        rejects.add(0, "columns", f"the header line cannot be read as CSV ({exc})")
        return [], "columns"
    if error := _column_error(header, rejects):
        return [], error
    out: list[tuple[int, dict[str, str]]] = []
    while True:  # bounded by the file, whose size the caller bounds
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. a field beyond csv's own limit (131,072 characters)
            rejects.add(reader.line_num, "field_too_long", f"the line cannot be read ({exc})")
            continue
        line = reader.line_num
        if not any(f.strip() for f in fields):
            continue  # blank line
        longest = max(len(f) for f in fields)
        if longest > MAX_FIELD_CHARS:
            rejects.add(
                line,
                "field_too_long",
                f"a field of {longest:,} characters (at most {MAX_FIELD_CHARS} are allowed)",
            )
            continue
        if len(fields) != len(header):
            rejects.add(
                line, "columns", f"expected {len(header)} fields, found {len(fields)}: {fields!r}"
            )
            continue
        out.append((line, dict(zip(header, (f.strip() for f in fields), strict=True))))
    if not out and not rejects.rows:
        rejects.add(0, "empty", "the file has a header but no rows")
        return [], "empty"
    return out, None


def _json_records(
    text: str, rejects: _Rejects
) -> tuple[list[tuple[int, dict[str, str]]], str | None]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        rejects.add(0, "json", f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")
        return [], "json"
    except RecursionError:
        rejects.add(0, "json", "JSON nested too deeply (a record is one flat object)")
        return [], "json"
    if isinstance(doc, dict) and isinstance(doc.get("submissions"), list):
        doc = doc["submissions"]
    if not isinstance(doc, list):
        rejects.add(0, "json", 'expected an array of records or {"submissions": [...]}')
        return [], "json"
    if not doc:
        rejects.add(0, "empty", "the file has no records")
        return [], "empty"
    out: list[tuple[int, dict[str, str]]] = []
    for i, rec in enumerate(doc, start=1):
        if not isinstance(rec, dict):
            rejects.add(i, "columns", f"record is not an object: {quote(repr(rec))}")
            continue
        keys = [str(k).strip().lower() for k in rec]
        missing = [c for c in COLUMNS if c not in keys]
        extra = [k for k in keys if k not in COLUMNS]
        if missing or extra:
            rejects.add(i, "columns", _columns_message(missing, extra))
            continue
        values = {str(k).strip().lower(): _text(v) for k, v in rec.items()}
        longest = max(len(v) for v in values.values())
        if longest > MAX_FIELD_CHARS:
            rejects.add(
                i,
                "field_too_long",
                f"a field of {longest:,} characters (at most {MAX_FIELD_CHARS} are allowed)",
            )
            continue
        out.append((i, values))
    return out, None


def _text(v: Any) -> str:
    if isinstance(v, dict | list):  # a nested value where a scalar belongs: never a number
        return json.dumps(v)[: MAX_FIELD_CHARS + 1]
    return "" if v is None else str(v).strip()


def _column_error(header: list[str], rejects: _Rejects) -> str | None:
    missing = [c for c in COLUMNS if c not in header]
    extra = [h for h in header if h not in COLUMNS]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if missing or extra or dupes:
        msg = _columns_message(missing, extra)
        if dupes:
            msg += f"; repeated: {', '.join(dupes)}"
        rejects.add(0, "columns", msg)
        return "columns"
    return None


def _columns_message(missing: list[str], extra: list[str]) -> str:
    parts = [f"columns must be {', '.join(COLUMNS)}"]
    if missing:
        parts.append(f"missing: {', '.join(missing)}")
    if extra:
        parts.append(f"unexpected: {', '.join(extra)}")
    return "; ".join(parts)


def _validate(
    line: int, rec: dict[str, str], registry: Registry, rejects: _Rejects
) -> tuple[str, int, str, str, float] | None:
    leaid, year_text, category, metric_name = (
        rec["leaid"],
        rec["year"],
        rec["category"].lower(),
        rec["metric"].lower(),
    )
    value_text = rec["value"]
    normalized = normalize_leaid(leaid)
    if normalized is None:
        rejects.add(line, "leaid", f"leaid {quote(leaid)} is not a 7-digit NCES district id")
        return None
    leaid = normalized
    if not _YEAR.match(year_text):
        rejects.add(line, "year", f"year {quote(year_text)} is not a 4-digit year")
        return None
    year = int(year_text)
    if not FIRST_YEAR <= year <= registry.last_year:
        rejects.add(line, "year", f"year {year} is outside {FIRST_YEAR}–{registry.last_year}")
        return None
    metric = METRICS.get(metric_name)
    if metric is None:
        rejects.add(
            line,
            "unknown_metric",
            f"unknown metric {quote(metric_name)} (the catalog has {', '.join(sorted(METRICS))})",
        )
        return None
    if category != metric.category:
        known = "" if category in CATEGORIES else " (not a known category)"
        rejects.add(
            line,
            "category",
            f"metric {metric.name} belongs to category {metric.category!r}, "
            f"not {quote(category)}{known}",
        )
        return None
    if value_text == "":
        rejects.add(line, "value", f"value of {metric.name} is empty")
        return None
    if value_text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        rejects.add(
            line,
            "non_numeric",
            f"value {quote(value_text)} of {metric.name} is not a finite number",
        )
        return None
    if not _NUMBER.match(value_text):
        rejects.add(
            line,
            "non_numeric",
            f"value {quote(value_text)} of {metric.name} is not a number "
            "(decimal digits 0-9, e.g. 12.5)",
        )
        return None
    value = float(value_text)
    if not math.isfinite(value):
        rejects.add(
            line,
            "non_numeric",
            f"value {quote(value_text)} of {metric.name} is not a finite number",
        )
        return None
    if not metric.lower <= value <= metric.upper:
        rejects.add(
            line,
            "out_of_bounds",
            f"value {value_text} of {metric.name} is outside its public bounds "
            f"[{metric.lower:g}, {metric.upper:g}] {metric.unit}",
        )
        return None
    if leaid not in registry.districts:
        rejects.add(line, "unknown_district", f"district {leaid} is not in district_data_history")
        return None
    shared = registry.shares.get(leaid)
    if shared is None:
        rejects.add(line, "not_participant", f"district {leaid} is not an enrolled participant")
        return None
    if metric.category not in shared:
        rejects.add(
            line,
            "category_not_shared",
            f"district {leaid} does not share category {metric.category!r} "
            f"(it shares: {', '.join(sorted(shared)) or 'nothing'})",
        )
        return None
    return (leaid, year, metric.category, metric.name, value)
