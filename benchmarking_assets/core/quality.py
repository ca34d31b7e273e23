"""Data-quality rules of the raw layer, as pure Polars (no Dagster).

The source's values are kept as they are unless they are impossible. An impossible cell
(a percentage above 100, a negative count, more students with disabilities than students, a
count or amount no district can have, such as an enrollment of 1e308, which would also
overflow every sum it enters) is set to NULL in ``district_data_history`` and its original
value goes to ``data_quality_issues`` with the reason, so nothing is silently dropped or
clamped and the rest of the row stays usable. A duplicated ``(leaid, year)`` keeps its first
row; the others are recorded the same way.

Text is cleaned rather than nulled: control characters in a district name (a NUL, which
PostgreSQL cannot store; others that spreadsheets refuse) are replaced by a space, and the
original, with those characters written as ``\\xNN``, is recorded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from benchmarking_assets.core.schemas import (
    DATA_QUALITY_ISSUES,
    HISTORY_COUNT_COLUMNS,
    HISTORY_PERCENT_COLUMNS,
)

# check name → what it guarantees; these names are the asset checks' names in the UI.
RULES: dict[str, str] = {
    "unique_leaid_year": "one row per (leaid, year)",
    "counts_non_negative": "enrollment, SWD, ELL and FRL counts, teacher FTE and spending ≥ 0",
    "percentages_in_range": "absenteeism, graduation and proficiency rates within [0, 100]",
    "swd_ell_within_enrollment": "SWD and ELL counts never exceed enrollment",
    "magnitudes_possible": "counts, teacher FTE and spending per pupil within what a district "
    "can have",
    "names_printable": "district names hold no control characters (replaced at ingestion)",
}
# Beyond these no district's value is possible: 100 million students is twice every US student,
# 10 million teachers three times every US teacher; $100 million per pupil is 5,000 times the
# US average. Far above any real outlier, far below where sums overflow (1e308).
MAX_COUNT = 100_000_000
MAX_TEACHERS_FTE = 10_000_000.0
MAX_EXPENDITURE_PP = 100_000_000.0
TEXT_COLUMNS = ("lea_name",)
CONTROL_CHARACTERS = r"[\x00-\x1f\x7f-\x9f]"
DISTRICT_COUNT_TOLERANCE = 0.20


@dataclass(frozen=True)
class CellRule:
    check_name: str
    column: str
    violated: pl.Expr
    reason: str
    clean: pl.Expr | None = None  # what the cell becomes; None: NULL


def cell_rules() -> list[CellRule]:
    rules: list[CellRule] = []
    for column in (*HISTORY_COUNT_COLUMNS, "teachers_fte", "expenditure_pp"):
        rules.append(
            CellRule("counts_non_negative", column, pl.col(column) < 0, f"negative {column}")
        )
    for column in HISTORY_PERCENT_COLUMNS:
        rules.append(
            CellRule(
                "percentages_in_range",
                column,
                (pl.col(column) < 0) | (pl.col(column) > 100),
                f"{column} outside [0, 100]",
            )
        )
    for column, label in (("spec_ed_students", "SWD"), ("ell_students", "ELL")):
        rules.append(
            CellRule(
                "swd_ell_within_enrollment",
                column,
                pl.col(column) > pl.col("enrollment"),
                f"{label} count exceeds enrollment",
            )
        )
    limits = {c: MAX_COUNT for c in HISTORY_COUNT_COLUMNS}
    limits |= {"teachers_fte": MAX_TEACHERS_FTE, "expenditure_pp": MAX_EXPENDITURE_PP}
    for column, limit in limits.items():
        rules.append(
            CellRule(
                "magnitudes_possible",
                column,
                pl.col(column).abs() > limit,
                f"{column} above {limit:,.0f}, more than any district can have",
            )
        )
    for column in TEXT_COLUMNS:
        rules.append(
            CellRule(
                "names_printable",
                column,
                pl.col(column).str.contains(CONTROL_CHARACTERS),
                f"{column} had control characters (shown as \\xNN); each was replaced by a space",
                clean=pl.col(column).str.replace_all(CONTROL_CHARACTERS, " "),
            )
        )
    return rules


def quarantine(
    history: pl.DataFrame, *, asset: str, partition_key: str, detected_at: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a partition's rows into what can be loaded and the issues to record.

    Returns ``(clean_history, issues)``; ``issues`` has the ``DATA_QUALITY_ISSUES`` schema.
    """
    issue_frames: list[pl.DataFrame] = []

    dup = pl.struct("leaid", "year").is_first_distinct()
    duplicates = history.filter(~dup)
    if duplicates.height:
        issue_frames.append(
            _issues(duplicates, "unique_leaid_year", None, "duplicate (leaid, year) in source")
        )
        history = history.filter(dup)

    nulls: dict[str, pl.Expr] = {}
    cleaned: dict[str, pl.Expr] = {}
    for rule in cell_rules():
        bad = history.filter(rule.violated.fill_null(False))
        if bad.height:
            escape = rule.clean is not None
            issue_frames.append(_issues(bad, rule.check_name, rule.column, rule.reason, escape))
            if rule.clean is not None:
                cleaned[rule.column] = rule.clean
                continue
            cond = nulls.get(rule.column, pl.lit(False))
            nulls[rule.column] = cond | rule.violated.fill_null(False)
    if nulls or cleaned:
        # All conditions read the original values, so one rule's NULL can't hide another's.
        history = history.with_columns(
            *(
                pl.when(cond).then(None).otherwise(pl.col(col)).alias(col)
                for col, cond in nulls.items()
            ),
            *(expr.alias(col) for col, expr in cleaned.items()),
        )

    issues = (
        pl.concat(issue_frames, how="vertical")
        if issue_frames
        else pl.DataFrame(schema=_ISSUE_PARTS)
    ).with_columns(
        pl.lit(asset).alias("asset"),
        pl.lit(partition_key).alias("partition_key"),
        pl.lit(detected_at).alias("detected_at"),
    )
    return history, issues.select(list(DATA_QUALITY_ISSUES)).cast(DATA_QUALITY_ISSUES)


# The issue columns a rule fills in; asset, partition and time are added per partition.
_ISSUE_PARTS = {
    k: v
    for k, v in DATA_QUALITY_ISSUES.items()
    if k not in ("asset", "partition_key", "detected_at")
}


def escape_controls(text: str | None) -> str | None:
    """``text`` with each control character written as ``\\xNN`` (storable, readable)."""
    if text is None:
        return None
    return "".join(f"\\x{ord(c):02x}" if _CONTROL.match(c) else c for c in text)


_CONTROL = re.compile(CONTROL_CHARACTERS)


def _issues(
    rows: pl.DataFrame, check_name: str, column: str | None, reason: str, escape: bool = False
) -> pl.DataFrame:
    value = pl.col(column).cast(pl.String) if column else pl.lit(None, pl.String)
    if escape and column:  # the few rows whose text is recorded: escaped in Python
        value = value.map_elements(escape_controls, return_dtype=pl.String)
    return rows.select(
        pl.lit(check_name).alias("check_name"),
        pl.col("leaid"),
        pl.col("year").cast(pl.Int32),
        pl.lit(column, pl.String).alias("column_name"),
        value.alias("value"),
        pl.lit(reason).alias("reason"),
    )


def violations(history: pl.DataFrame, check_name: str) -> pl.DataFrame:
    """Rows of ``history`` that break ``check_name`` (what the table itself holds)."""
    if check_name == "unique_leaid_year":
        return history.filter(pl.struct("leaid", "year").is_duplicated())
    conditions = [r.violated.fill_null(False) for r in cell_rules() if r.check_name == check_name]
    if not conditions:
        raise ValueError(f"unknown check {check_name!r}")
    return history.filter(pl.any_horizontal(conditions))


def district_count_changes(
    counts: pl.DataFrame, partitions: Sequence[tuple[str, int]]
) -> pl.DataFrame:
    """For each (state, year) loaded, the district count against the previous year's.

    ``counts`` holds ``state_code, year, districts`` for the loaded years and the years
    before them. Returns ``state_code, year, districts, previous, change`` where
    ``change`` is the relative change (NULL without a previous year), flagged by
    ``outside_tolerance`` when it exceeds ±20 %.
    """
    wanted = pl.DataFrame(
        {"state_code": [s for s, _ in partitions], "year": [y for _, y in partitions]},
        schema={"state_code": pl.String(), "year": pl.Int32()},
    )
    counts = counts.with_columns(pl.col("year").cast(pl.Int32), pl.col("districts").cast(pl.Int64))
    previous = counts.select(
        "state_code", (pl.col("year") + 1).alias("year"), pl.col("districts").alias("previous")
    )
    return (
        wanted.join(counts, on=["state_code", "year"], how="left")
        .join(previous, on=["state_code", "year"], how="left")
        .with_columns(pl.col("districts").fill_null(0))
        .with_columns(
            pl.when(pl.col("previous") > 0)
            .then((pl.col("districts") - pl.col("previous")) / pl.col("previous"))
            .alias("change")
        )
        .with_columns(
            (pl.col("change").abs() > DISTRICT_COUNT_TOLERANCE)
            .fill_null(False)
            .alias("outside_tolerance")
        )
        .sort("state_code", "year")
    )


def set_aside_issues(
    set_aside: pl.DataFrame, *, asset: str, partition_key: str, year: int, detected_at: str
) -> pl.DataFrame:
    """Rows the source layer could not use (no leaid, unparseable numbers) as issues."""
    if set_aside.height == 0:
        return pl.DataFrame(schema=DATA_QUALITY_ISSUES)
    return set_aside.select(
        pl.lit(asset).alias("asset"),
        pl.lit(partition_key).alias("partition_key"),
        pl.lit("ingestion").alias("check_name"),
        pl.col("leaid"),
        pl.lit(year, pl.Int32).alias("year"),
        pl.col("column_name"),
        pl.col("value"),
        (pl.col("endpoint") + ": " + pl.col("reason")).alias("reason"),
        pl.lit(detected_at).alias("detected_at"),
    ).cast(DATA_QUALITY_ISSUES)
