"""Turn API result rows (lists of JSON objects) into typed Polars frames. Pure; no I/O.

The API's quirks (``shared/research/urban_api.md`` §2, §3.9) are handled here, once:

* ``leaid`` arrives as a string, sometimes with its leading zero lost (``"100002"``) or as a
  number: it is zero-filled to 7 digits. Rows without one are set aside, never guessed.
* Numbers may arrive as strings (``"29.000"``, ``"-2.000"``): they are parsed; a value that does
  not parse is set aside (with its raw text) and the cell becomes NULL.
* ``-1`` missing, ``-2`` not applicable, ``-3`` suppressed become NULL with the code kept in a
  ``<column>__code`` column. In grade columns ``-1`` means Pre-K and is kept as a value.
* Other negative numbers are not a documented code: NULL, and set aside with the raw value.
* Subgroup rows are dropped (only rows whose every subgroup column is 99 are totals) and rows of
  another state are set aside, because the API silently ignores filters it does not know.

Plausibility (proficiency above 100, ELL above enrollment) is deliberately NOT judged here: the
values are kept as sent and the downstream checks flag them.

The work is column-wise: one list comprehension per needed field, then Polars expressions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

MISSING_CODES: dict[int, str] = {-1: "missing", -2: "not applicable", -3: "suppressed"}
SET_ASIDE_SCHEMA: dict[str, pl.DataType] = {
    "endpoint": pl.String(),
    "leaid": pl.String(),
    "column_name": pl.String(),
    "value": pl.String(),
    "reason": pl.String(),
}
Kind = Literal["text", "float", "int", "grade", "category"]
_NUMERIC_KINDS = ("float", "int", "grade", "category")
_ROW = "__row"
_LEAID_RAW = "__leaid_raw"
_FIPS_RAW = "__fips_raw"


@dataclass(frozen=True)
class Field:
    """One API field to keep: its name in the API, its name in our frame, how to parse it."""

    source: str
    name: str
    kind: Kind = "float"


@dataclass
class Parsed:
    """Usable rows (``leaid`` + typed fields + ``<name>__code``) and what was set aside."""

    frame: pl.DataFrame
    set_aside: pl.DataFrame
    rows: int  # rows received
    subgroup_rows: int  # rows dropped because they are not all-students / total rows


def code_column(name: str) -> str:
    return f"{name}__code"


def empty_set_aside() -> pl.DataFrame:
    return pl.DataFrame(schema=SET_ASIDE_SCHEMA)


def set_aside_rows(
    endpoint: str,
    leaid: Iterable[str | None],
    column_name: str,
    value: Iterable[str | None],
    reason: str | Iterable[str],
) -> pl.DataFrame:
    """A set-aside frame from parallel columns (``reason`` may be one string for all)."""
    leaids = list(leaid)
    reasons = [reason] * len(leaids) if isinstance(reason, str) else list(reason)
    return pl.DataFrame(
        {
            "endpoint": [endpoint] * len(leaids),
            "leaid": leaids,
            "column_name": [column_name] * len(leaids),
            "value": list(value),
            "reason": reasons,
        },
        schema=SET_ASIDE_SCHEMA,
    )


def frame_schema(fields: Sequence[Field]) -> dict[str, pl.DataType]:
    schema: dict[str, pl.DataType] = {"leaid": pl.String()}
    for f in fields:
        if f.kind == "text":
            schema[f.name] = pl.String()
        else:
            schema[f.name] = pl.Float64() if f.kind == "float" else pl.Int64()
            schema[code_column(f.name)] = pl.Int32()
    return schema


def parse_rows(
    rows: Sequence[dict[str, Any]],
    fields: Sequence[Field],
    *,
    endpoint: str,
    fips: int,
    subgroup_columns: Sequence[str] = (),
) -> Parsed:
    """Parse the rows of one endpoint and state; see the module docstring for the rules."""
    n = len(rows)
    if n == 0:
        return Parsed(pl.DataFrame(schema=frame_schema(fields)), empty_set_aside(), 0, 0)

    columns: dict[str, pl.Series] = {
        _LEAID_RAW: pl.Series(_LEAID_RAW, [r.get("leaid") for r in rows], strict=False),
        _FIPS_RAW: pl.Series(_FIPS_RAW, [r.get("fips") for r in rows], strict=False),
    }
    for f in fields:
        columns[f.source] = pl.Series(f.source, [r.get(f.source) for r in rows], strict=False)
    subgroups = []
    for c in subgroup_columns:
        values = [r.get(c) for r in rows]
        if any(v is not None for v in values):  # a column absent from every row is not asked
            columns["__sg_" + c] = pl.Series(values, strict=False)
            subgroups.append("__sg_" + c)
    df = pl.DataFrame(columns).with_row_index(_ROW)

    if subgroups:
        total = pl.all_horizontal(
            [pl.col(c).cast(pl.Int64, strict=False).eq(99).fill_null(False) for c in subgroups]
        )
        df = df.filter(total).drop(subgroups)
    subgroup_rows = n - df.height

    df = df.with_columns(_leaid_exprs(df.schema[_LEAID_RAW], fips))
    problems = df.filter(pl.col("__row_reason").is_not_null())
    set_asides = [_row_set_aside(endpoint, problems, rows)] if problems.height else []
    df = df.filter(pl.col("__row_reason").is_null())

    exprs: list[pl.Expr] = [pl.col("leaid")]
    reason_cols: list[tuple[Field, str]] = []
    for f in fields:
        if f.kind == "text":
            exprs.append(pl.col(f.source).cast(pl.String).alias(f.name))
            continue
        value, code, reason = _number_exprs(f, df.schema[f.source])
        exprs += [
            value.alias(f.name),
            code.alias(code_column(f.name)),
            reason.alias("__r_" + f.name),
        ]
        reason_cols.append((f, "__r_" + f.name))
    parsed = df.select(
        [*exprs, *(pl.col(f.source).alias("__raw_" + f.name) for f, _ in reason_cols)]
    )

    for f, reason_col in reason_cols:
        bad = parsed.filter(pl.col(reason_col).is_not_null())
        if bad.height:
            set_asides.append(
                set_aside_rows(
                    endpoint,
                    bad["leaid"],
                    f.source,
                    bad["__raw_" + f.name].cast(pl.String),
                    bad[reason_col],
                )
            )
    frame = parsed.select(list(frame_schema(fields))).cast(frame_schema(fields))  # type: ignore[arg-type]
    set_aside = pl.concat(set_asides) if set_asides else empty_set_aside()
    return Parsed(frame=frame, set_aside=set_aside, rows=n, subgroup_rows=subgroup_rows)


def dedupe(frame: pl.DataFrame, key: str, endpoint: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keep the first row per ``key``; set the later duplicates aside (the API should not send
    two total rows for one district, so neither is silently preferred without a record)."""
    dup = frame.select(pl.col(key).is_first_distinct().not_()).to_series()
    if not dup.any():
        return frame, empty_set_aside()
    extra = frame.filter(dup)
    leaids = extra["leaid"] if "leaid" in extra.columns else extra[key]
    aside = set_aside_rows(
        endpoint,
        leaids,
        key,
        extra[key].cast(pl.String),
        f"duplicate row for {key}; kept the first",
    )
    return frame.filter(~dup), aside


def _leaid_exprs(dtype: pl.DataType, fips: int) -> list[pl.Expr]:
    """``leaid`` normalised to 7 digits, and why a row cannot be used (or NULL)."""
    raw = pl.col(_LEAID_RAW)
    text = raw.cast(pl.String).str.strip_chars() if dtype != pl.Null else pl.lit(None, pl.String)
    digits = text.str.contains(r"^\d{1,7}$")
    leaid = pl.when(digits).then(text.str.zfill(7))
    row_fips = pl.col(_FIPS_RAW).cast(pl.Int64, strict=False)
    owner = pl.coalesce(row_fips, leaid.str.slice(0, 2).cast(pl.Int64, strict=False))
    reason = (
        pl.when(text.is_null() | (text == ""))
        .then(pl.lit("no leaid"))
        .when(~digits)
        .then(pl.lit("malformed leaid (want up to 7 digits)"))
        .when(owner != fips)
        .then(pl.format("row is for fips {}, not the requested {}", owner, pl.lit(fips)))
    )
    return [leaid.alias("leaid"), reason.alias("__row_reason")]


def _row_set_aside(
    endpoint: str, problems: pl.DataFrame, rows: Sequence[dict[str, Any]]
) -> pl.DataFrame:
    """Whole rows that cannot be used: keep the full raw row as JSON so nothing is lost."""
    values = [json.dumps(rows[i], sort_keys=True, default=str) for i in problems[_ROW]]
    return set_aside_rows(endpoint, problems["leaid"], "leaid", values, problems["__row_reason"])


def _number_exprs(f: Field, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    raw = pl.col(f.source)
    present = raw.is_not_null()
    if dtype == pl.String:  # "" is how a blank arrives: NULL, not an unparseable number
        text = raw.str.strip_chars()
        present = text.is_not_null() & (text != "")
        num = text.cast(pl.Float64, strict=False)
    elif dtype.is_numeric() or dtype in (pl.Boolean, pl.Null):
        num = raw.cast(pl.Float64)
    else:  # lists or objects where a number belongs: every non-null value is unparseable
        num = pl.lit(None, pl.Float64)
    codes = [-2, -3] if f.kind == "grade" else [-1, -2, -3]
    is_code = num.is_in(codes).fill_null(False)
    floor = -1 if f.kind == "grade" else 0
    reason = (
        pl.when(present & num.is_null())
        .then(pl.lit("unparseable number"))
        .when(num.is_nan() | num.is_infinite())
        .then(pl.lit("not a finite number"))
        .when(is_code)
        .then(pl.lit(None, pl.String))
        .when(num < floor)
        .then(pl.lit("negative value that is not a missing code (-1/-2/-3)"))
    )
    if f.kind != "float":
        reason = reason.when(num != num.floor()).then(pl.lit("not a whole number"))
    value = pl.when(reason.is_null() & ~is_code).then(num)
    code = pl.when(is_code).then(num.cast(pl.Int32))
    return value, code, reason
