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
  So are numbers beyond ``MAX_MAGNITUDE`` (``1e308`` enrolled students) and JSON objects or
  arrays where a number or a name belongs (however deeply nested): one bad cell never fails
  the page or spoils the other rows' values.
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
# No count, FTE or dollar amount of a US school district reaches 10^15 (the largest budgets are
# ~3·10^10 dollars); beyond it a value is a fault, and it would overflow a 64-bit integer column.
MAX_MAGNITUDE = 1e15
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


MAX_SET_ASIDE_TEXT = 2_000  # characters of a raw value kept in data_quality_issues


def bounded_text(text: str | None, limit: int = MAX_SET_ASIDE_TEXT) -> str | None:
    """``text`` cut to ``limit`` characters, saying how long it was (a 200 KB cell is a fault,
    and the issue table is read by people)."""
    if text is None or len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


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
            "value": [bounded_text(v) for v in value],
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
        _series(_LEAID_RAW, [r.get("leaid") for r in rows])[0],
        _series(_FIPS_RAW, [r.get("fips") for r in rows])[0],
    ]
    nested_text: dict[str, list[int]] = {}  # text fields: rows that sent an object or array
    for f in fields:
        series, nested = _series(f.source, [r.get(f.source) for r in rows], f.kind == "text")
        columns.append(series)
        if nested and f.kind == "text":
            nested_text[f.source] = nested
    subgroups = []
    for c in subgroup_columns:
        values = [r.get(c) for r in rows]
        # A column absent from every row, or blank in every row (how an API that honours
        # ``fields=`` may answer a variable a year lacks), is not a subgroup dimension.
        if any(v is not None and v != "" for v in values):
            columns.append(_series("__sg_" + c, values)[0])
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
            raw = [_scalar(rows[i].get(f.source)) for i in bad_rows[_ROW]]
            set_asides.append(
                set_aside_rows(
                    endpoint,
                    bad_rows["leaid"],
                    f.source,
                    [None if v is None else str(v) for v in raw],
                    [_number_reason(v, f.kind) for v in raw],
                )
            )
    for f in fields:
        if f.source in nested_text:
            hit = out.filter(pl.col(_ROW).is_in(nested_text[f.source]))
            set_asides.append(
                set_aside_rows(
                    endpoint,
                    hit["leaid"],
                    f.source,
                    [_scalar(rows[i].get(f.source)) for i in hit[_ROW]],
                    "a JSON object or array where text belongs",
                )
            )
    frame = pl.DataFrame([out.get_column(c) for c in schema])
    set_aside = pl.concat(set_asides) if set_asides else empty_set_aside()
    return Parsed(frame=frame, set_aside=set_aside, rows=n, subgroup_rows=subgroup_rows)


_NESTED = {dict: "<JSON object {…}>", list: "<JSON array […]>"}


def _scalar(value: Any) -> Any:
    """``value`` if it is a JSON scalar, else a short marker for the object or array."""
    marker = _NESTED.get(type(value))
    return value if marker is None else marker


def _series(name: str, values: list[Any], text: bool = False) -> tuple[pl.Series, list[int]]:
    """A column from row values, and the rows that sent a JSON object or array (the API never
    does). Those become marker strings (unparseable numbers, set aside) or, in a text column,
    NULL; on the slow path only: deep nesting would exhaust Python's recursion, and one list
    among numbers would make Polars give up on the whole column."""
    # The type check first (a C-level pass): Polars takes minutes to infer the type of an
    # object nested 400 levels deep.
    kinds = set(map(type, values))
    if not _NESTED.keys() & kinds:
        try:
            series = pl.Series(name, values, strict=False)
        except (OverflowError, ValueError, TypeError, pl.exceptions.PolarsError):
            series = None
        # strict=False turns an integer beyond 128 bits into NULL without a word: more NULLs
        # than were sent means the slow path, which keeps it as text.
        if series is not None and (
            int not in kinds
            or series.null_count() == (values.count(None) if type(None) in kinds else 0)
        ):
            return series, []
    nested = [i for i, v in enumerate(values) if type(v) in _NESTED]
    cleaned = [None if text and type(v) in _NESTED else _scalar(v) for v in values]
    if not nested:  # no object or array, yet Polars refused: keep every value as text
        cleaned = [None if v is None else str(v) for v in values]
    return pl.Series(name, cleaned, strict=False), nested


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
    values = [_row_text(raw) for raw in raws]
    return set_aside_rows(endpoint, problems["leaid"], "leaid", values, reasons)


def _row_text(raw: dict[str, Any]) -> str:
    try:
        return json.dumps(raw, sort_keys=True, default=str)
    except (RecursionError, ValueError):  # nested too deeply to encode: keep the scalars
        return json.dumps({k: _scalar(v) for k, v in raw.items()}, sort_keys=True, default=str)


def _row_reason(
    raw: dict[str, Any], leaid: str | None, dup: bool, fips: int, key: Sequence[str]
) -> str:
    if raw.get("leaid") is None or str(_scalar(raw.get("leaid"))).strip() == "":
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
    ok = (num >= floor) & (num <= MAX_MAGNITUDE)
    if f.kind != "float":
        ok = ok & (num == num.floor())
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
    if isinstance(raw, str) and raw.startswith("<JSON "):
        return "a JSON object or array where a number belongs"
    if number is None:
        return "unparseable number"
    if not math.isfinite(number):
        return "not a finite number"
    if abs(number) > MAX_MAGNITUDE:
        return f"number too large (beyond {MAX_MAGNITUDE:.0e})"
    if number < 0:
        return "negative value that is not a missing code (-1/-2/-3)"
    if kind != "float" and not number.is_integer():
        return "not a whole number"
    return "unusable number"
