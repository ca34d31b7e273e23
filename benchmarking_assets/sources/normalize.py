"""Turn API result rows (lists of JSON objects) into typed Polars frames. Pure; no I/O.

The API's quirks (``shared/research/urban_api.md`` §2, §3.9) are handled here, once:

* ``leaid`` arrives as a string, sometimes with its leading zero lost (``"100002"``) or as a
  number: it is zero-filled to 7 digits (:mod:`benchmarking_assets.core.ids`). Rows without a
  valid one are set aside, never guessed.
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

import functools
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from benchmarking_assets.core.ids import leaid_expr

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
_MAX_WHOLE = float(2**53)  # beyond this a float no longer holds every whole number exactly


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
    key: Sequence[str] = ("leaid",),
) -> Parsed:
    """Parse the rows of one endpoint and state; see the module docstring for the rules.

    ``key`` names the output columns (coalesced in order) that identify a row: ``leaid`` for
    district endpoints, a school id for school endpoints. A row whose key repeats an earlier
    usable row is set aside as a duplicate (the API should not send two total rows for one
    district, and neither is silently preferred without a record).

    Speed: one lazy plan of cheap boolean flags; the reason text is only worked out for the
    (rare) rows that are set aside.
    """
    n = len(rows)
    schema = frame_schema(fields)
    if n == 0:
        return Parsed(pl.DataFrame(schema=schema), empty_set_aside(), 0, 0)

    columns: list[pl.Series] = [
        pl.Series(_LEAID_RAW, [r.get("leaid") for r in rows], strict=False),
        pl.Series(_FIPS_RAW, [r.get("fips") for r in rows], strict=False),
    ]
    columns += [pl.Series(f.source, [r.get(f.source) for r in rows], strict=False) for f in fields]
    subgroups = []
    for c in subgroup_columns:
        values = [r.get(c) for r in rows]
        if any(v is not None for v in values):  # a column absent from every row is not asked
            columns.append(pl.Series("__sg_" + c, values, strict=False))
            subgroups.append("__sg_" + c)
    df = pl.DataFrame(columns)
    numeric = [f for f in fields if f.kind != "text"]
    plan = _plan(tuple(fields), tuple(df.schema.items()), tuple(key), tuple(subgroups))
    lf = df.lazy().with_row_index(_ROW)
    if plan.total is not None:
        lf = lf.filter(plan.total)
    out = lf.with_columns(plan.parse).select(plan.select).with_columns(plan.flags)
    out = out.collect(engine="in-memory")  # faster than the default for pages this small

    subgroup_rows = n - out.height
    set_asides: list[pl.DataFrame] = []
    owner = out["__owner"]  # Series operations here: no query plan, no collect
    bad_row = out["leaid"].is_null() | owner.is_null() | (owner != fips)
    unusable = bad_row | out["__dup"] | out["__no_id"]
    if unusable.any():
        problems = out.filter(unusable)
        set_asides.append(_row_set_aside(endpoint, problems, rows, fips, key))
        out = out.filter(~unusable)
    for f in numeric:
        bad = _unusable_values(out, f)
        if bad is not None:
            bad_rows = out.filter(bad)
            raw = [rows[i].get(f.source) for i in bad_rows[_ROW]]
            set_asides.append(
                set_aside_rows(
                    endpoint,
                    bad_rows["leaid"],
                    f.source,
                    [None if v is None else str(v) for v in raw],
                    [_number_reason(v, f.kind) for v in raw],
                )
            )
    frame = pl.DataFrame([out.get_column(c) for c in schema])
    set_aside = pl.concat(set_asides) if set_asides else empty_set_aside()
    return Parsed(frame=frame, set_aside=set_aside, rows=n, subgroup_rows=subgroup_rows)


@dataclass(frozen=True)
class _Plan:
    total: pl.Expr | None  # keeps all-students / total rows
    parse: list[pl.Expr]
    select: list[pl.Expr]
    flags: list[pl.Expr]


@functools.lru_cache(maxsize=256)
def _plan(
    fields: tuple[Field, ...],
    dtypes: tuple[tuple[str, pl.DataType], ...],
    key: tuple[str, ...],
    subgroups: tuple[str, ...],
) -> _Plan:
    """The Polars expressions for one endpoint shape, built once (building them is not free)."""
    dtype = dict(dtypes)
    schema = frame_schema(fields)
    total = None
    if subgroups:
        total = pl.all_horizontal(
            [pl.col(c).cast(pl.Int64, strict=False).eq(99).fill_null(False) for c in subgroups]
        )
    numeric = [f for f in fields if f.kind != "text"]
    parse = [
        _leaid_expr(dtype[_LEAID_RAW]),
        *(_parse_number(f.source, dtype[f.source]).alias("__n_" + f.name) for f in numeric),
    ]
    owner = pl.coalesce(
        pl.col(_FIPS_RAW).cast(pl.Int64, strict=False),
        pl.col("leaid").str.slice(0, 2).cast(pl.Int64, strict=False),
    )
    select: list[pl.Expr] = [pl.col(_ROW), pl.col("leaid"), owner.alias("__owner")]
    for f in fields:
        if f.kind == "text":
            raw = pl.col(f.source) if dtype[f.source] != pl.Null else pl.lit(None)
            select.append(raw.cast(pl.String).alias(f.name))
            continue
        value, code = _number_exprs(f, pl.col("__n_" + f.name))
        select += [
            value.cast(schema[f.name]).alias(f.name),
            code.alias(code_column(f.name)),
            pl.col(f.source).alias("__raw_" + f.name),
        ]
    ident = pl.coalesce([pl.col(k) for k in key]) if key != ("leaid",) else pl.col("leaid")
    flags = [
        (~pl.when(pl.col("leaid").is_not_null()).then(ident).is_first_distinct()).alias("__dup"),
        ident.is_null().alias("__no_id"),
    ]
    return _Plan(total=total, parse=parse, select=select, flags=flags)


def _leaid_expr(dtype: pl.DataType) -> pl.Expr:
    """``leaid`` by the one district-id rule (:mod:`benchmarking_assets.core.ids`), or NULL."""
    if dtype == pl.Null:
        return pl.lit(None, pl.String).alias("leaid")
    return leaid_expr(pl.col(_LEAID_RAW)).alias("leaid")


def _row_set_aside(
    endpoint: str,
    problems: pl.DataFrame,
    rows: Sequence[dict[str, Any]],
    fips: int,
    key: Sequence[str],
) -> pl.DataFrame:
    """Whole rows that cannot be used: keep the full raw row as JSON so nothing is lost."""
    raws = [rows[i] for i in problems[_ROW]]
    reasons = []
    for raw, leaid, dup in zip(raws, problems["leaid"], problems["__dup"], strict=True):
        reasons.append(_row_reason(raw, leaid, bool(dup), fips, key))
    values = [json.dumps(raw, sort_keys=True, default=str) for raw in raws]
    return set_aside_rows(endpoint, problems["leaid"], "leaid", values, reasons)


def _row_reason(
    raw: dict[str, Any], leaid: str | None, dup: bool, fips: int, key: Sequence[str]
) -> str:
    if raw.get("leaid") is None or str(raw.get("leaid")).strip() == "":
        return "no leaid"
    if leaid is None:
        return "malformed leaid (want 7 digits)"
    row_fips = raw.get("fips")
    try:
        owner = int(row_fips) if row_fips is not None else int(leaid[:2])
    except (TypeError, ValueError):
        owner = None
    if owner != fips:
        return f"row is for fips {row_fips if row_fips is not None else leaid[:2]}, not {fips}"
    if dup:
        return f"duplicate row for {'/'.join(key)}; kept the first"
    return f"no {' or '.join(key)}"


def _parse_number(source: str, dtype: pl.DataType) -> pl.Expr:
    raw = pl.col(source)
    if dtype == pl.String:
        return raw.str.strip_chars().cast(pl.Float64, strict=False)
    if dtype.is_numeric() or dtype in (pl.Boolean, pl.Null):
        return raw.cast(pl.Float64)
    return pl.lit(None, pl.Float64)  # lists or objects where a number belongs


def _number_exprs(f: Field, num: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(value, code): a code becomes NULL + code; anything else unusable becomes NULL (and is
    found afterwards by :func:`_unusable_values`, off the hot path)."""
    floor = -1.0 if f.kind == "grade" else 0.0
    ok = (num >= floor) & num.is_finite()
    if f.kind != "float":  # a whole number a 64-bit integer holds exactly (1e308 does not)
        ok = ok & (num == num.floor()) & (num <= _MAX_WHOLE)
    is_code = num.is_in([-2.0, -3.0] if f.kind == "grade" else [-1.0, -2.0, -3.0])
    return pl.when(ok).then(num), pl.when(is_code).then(num).cast(pl.Int32)


def _unusable_values(out: pl.DataFrame, f: Field) -> pl.Series | None:
    """Mask of rows whose value for ``f`` was sent but is neither a number nor a code, or None.

    Cheap when all is well: counting NULLs is O(1), so the mask is only built when the number
    of values sent exceeds the number of values and codes kept."""
    raw, value, code = out["__raw_" + f.name], out[f.name], out[code_column(f.name)]
    sent = out.height - raw.null_count()
    kept = 2 * out.height - value.null_count() - code.null_count()
    if sent <= kept:
        return None
    mask = raw.is_not_null() & value.is_null() & code.is_null()
    if raw.dtype == pl.String:  # "" is how a blank arrives: NULL, not an unparseable number
        mask = mask & (raw.str.strip_chars() != "")
    return mask if mask.any() else None


def _number_reason(raw: object, kind: Kind) -> str:
    """Why a present value was not usable (only called for set-aside values)."""
    try:
        number = float(str(raw).strip()) if not isinstance(raw, bool | list | dict) else None
    except ValueError:
        number = None
    if number is None:
        return "unparseable number"
    if not math.isfinite(number):
        return "not a finite number"
    if number < 0:
        return "negative value that is not a missing code (-1/-2/-3)"
    if kind != "float" and not number.is_integer():
        return "not a whole number"
    if kind != "float" and number > _MAX_WHOLE:
        return f"too large for a count (above {_MAX_WHOLE:.0f})"
    return "unusable number"
