"""State/national benchmarks, district comparisons and trends (``docs/metrics.md``), in Polars.

Everything here is a function of the ``district_data_history`` table (schema
:data:`benchmarking_assets.core.schemas.DISTRICT_DATA_HISTORY`) and a school year; what each
metric is and how its value and trend derive is the catalog's (:mod:`.catalog`). Each
function works on one year at a time, vectorised over every district of the country at once:
no per-district Python, lazy frames so that Polars reads only the columns and years it needs
(a ``pl.scan_parquet`` of a 100× national history works as well as an in-memory frame).

Decisions (also in ``docs/metrics.md``):

* ``avg_enrollment`` is kept as a float (the plain mean), not rounded to an integer.
* A year with no districts at all yields no ``state_benchmarks`` rows (not even ``US``).
* An absenteeism *observation* is a non-NULL ``chronic_absenteeism_rate``; rows where it is NULL
  (the CRDC off-years) do not count as observations.
* ``district_benchmarks`` also carries the district's own value of every metric (the original
  design listed only SWD %, ELL % and the ratio), so that reports and checks need not re-derive
  them.
* Quartile thresholds are compared in exact integer arithmetic, ``4·(rank−1) ≥ 3·(n−1)`` for
  ``p ≥ 0.75`` and so on, which is what ``PERCENT_RANK`` means without float rounding.
* Outliers (:func:`compute_district_outliers`) are computed per state, year and metric over the
  districts with a non-NULL value, only where there are at least :data:`MIN_GROUP_SIZE` of them
  (as for quartiles); the table keeps only flagged rows (Tukey or robust z), each with the
  statistics that flagged it. When MAD = 0, ``robust_z`` is NULL and never flags (the Tukey test
  still can).
"""

from __future__ import annotations

import polars as pl

from benchmarking_assets.core.catalog import (
    ABSENTEEISM_MAX_AGE,
    ABSENTEEISM_MAX_GAP,
    ENROLLMENT,
    PUBLIC_METRICS,
    TREND_YEARS,
    TrendKind,
)

MIN_GROUP_SIZE = 4
"""Fewest non-NULL districts in a state for quartile labels and outlier statistics."""
TUKEY_K = 1.5
ROBUST_Z_SCALE = 0.6745
ROBUST_Z_LIMIT = 3.5

QUARTILE_LABELS = ("well_below", "below", "above", "well_above")

# Measured on 10× the national sample (perf/bench_benchmarks.py): Polars' in-memory
# engine is faster here than the default and needs about half the peak memory (the streaming
# engine buffers each of the several scans of the history). Common-subplan elimination is off
# so that each scan (the year, year − 3, the absenteeism window) keeps its own filter.
_ENGINE = "in-memory"
_OPTIMIZATIONS = pl.QueryOptFlags(comm_subplan_elim=False)

METRICS = PUBLIC_METRICS
_ENROLLMENT = ENROLLMENT
TRENDED = tuple(m for m in METRICS if m.trend is not None)

HISTORY_COLUMNS: tuple[str, ...] = (
    "leaid",
    "year",
    "state_code",
    *dict.fromkeys(c for m in METRICS for c in m.history_columns),
)

STATE_BENCHMARKS_SCHEMA: dict[str, pl.DataType] = {
    "state_code": pl.String(),
    "year": pl.Int32(),
    "district_count": pl.Int32(),
    "avg_enrollment": pl.Float64(),
    **{
        c: pl.Float64()
        for c in (
            "avg_swd_pct",
            "avg_ell_pct",
            "avg_chronic_absenteeism_rate",
            "avg_graduation_rate",
            "avg_student_teacher_ratio",
            "avg_math_proficiency",
            "avg_read_proficiency",
            "avg_expenditure_per_pupil",
        )
    },
}

DISTRICT_BENCHMARKS_SCHEMA: dict[str, pl.DataType] = {
    "leaid": pl.String(),
    "year": pl.Int32(),
    "state_code": pl.String(),
    **{m.name: pl.Float64() for m in METRICS},
    **{
        col: dtype
        for m in METRICS
        for col, dtype in (
            (f"{m.name}_vs_state", pl.Float64()),
            (f"{m.name}_vs_national", pl.Float64()),
            (f"{m.name}_quartile_state", pl.String()),
        )
    },
    **{m.trend.column: pl.Float64() for m in TRENDED},
}

DISTRICT_OUTLIERS_SCHEMA: dict[str, pl.DataType] = {
    "leaid": pl.String(),
    "year": pl.Int32(),
    "state_code": pl.String(),
    "metric": pl.String(),
    "value": pl.Float64(),
    "q1": pl.Float64(),
    "q3": pl.Float64(),
    "lower_fence": pl.Float64(),
    "upper_fence": pl.Float64(),
    "median": pl.Float64(),
    "mad": pl.Float64(),
    "robust_z": pl.Float64(),
    "is_tukey_outlier": pl.Int32(),  # 0/1: portable across SQLite and PostgreSQL
    "is_robust_z_outlier": pl.Int32(),
}


def history_years_needed(year: int) -> range:
    """Years of history the benchmarks of ``year`` read: year − 7 … year.

    The absenteeism trend may compare an observation of year − 3 with one up to 4 years older
    (CRDC is biennial), so the reach-back is 3 + 4 = 7 years; every other trend needs year − 3.
    """
    return range(year - ABSENTEEISM_MAX_AGE - ABSENTEEISM_MAX_GAP, year + 1)


def _lazy(history: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    return history.lazy() if isinstance(history, pl.DataFrame) else history


def district_values(history: pl.LazyFrame | pl.DataFrame, year: int) -> pl.LazyFrame:
    """leaid, year, state_code, enrollment and each metric's value for the districts of ``year``."""
    return (
        _lazy(history)
        .filter(pl.col("year") == year)
        .select(
            "leaid",
            pl.col("year").cast(pl.Int32),
            "state_code",
            pl.col("enrollment"),
            *[m.value.alias(m.name) for m in METRICS],
        )
    )


def _average_exprs() -> list[pl.Expr]:
    """Aggregations of one group (a state, or the nation): the averages of docs/metrics.md."""
    positive = _ENROLLMENT > 0  # NULL enrollment is NULL here, which filter() drops
    exprs = [
        pl.len().cast(pl.Int32).alias("district_count"),
        _ENROLLMENT.filter(positive).cast(pl.Float64).mean().alias("avg_enrollment"),
    ]
    for m in METRICS:
        ok = positive & pl.col(m.name).is_not_null()
        weight = _ENROLLMENT.filter(ok).cast(pl.Float64)
        numerator = (pl.col(m.name) * _ENROLLMENT.cast(pl.Float64)).filter(ok).sum()
        denominator = weight.sum()
        exprs.append(pl.when(denominator > 0).then(numerator / denominator).alias(m.state_column))
    return exprs


def compute_state_benchmarks(history: pl.LazyFrame | pl.DataFrame, year: int) -> pl.DataFrame:
    """Enrollment-weighted state averages for ``year``, one row per state with districts + US.

    The ``US`` row aggregates every district of the year directly (it is not an average of the
    state rows), so large states weigh in proportion to their students.
    """
    values = district_values(history, year)
    states = values.group_by("state_code").agg(_average_exprs())
    nation = values.select(_average_exprs()).with_columns(state_code=pl.lit("US"))
    return (
        pl.concat([states.sort("state_code"), nation], how="diagonal")
        .filter(pl.col("district_count") > 0)
        .with_columns(year=pl.lit(year, dtype=pl.Int32))
        .select([pl.col(c).cast(t) for c, t in STATE_BENCHMARKS_SCHEMA.items()])
        .collect(optimizations=_OPTIMIZATIONS, engine=_ENGINE)
    )


def _change(kind: TrendKind, current: pl.Expr, prior: pl.Expr) -> pl.Expr:
    if kind == "pct_change":
        return pl.when(prior != 0).then((current - prior) / prior * 100)
    return current - prior  # NULL when either is NULL


def _absenteeism_trend(history: pl.LazyFrame, year: int) -> pl.LazyFrame:
    """Point change between the two latest absenteeism observations at or before ``year``.

    NULL (row absent) when fewer than two, when the latest is older than year − 3, or when the
    two are more than 4 years apart: CRDC collects every other year, so the strict year − 3
    comparison would almost never find a value.
    """
    rate = pl.col("chronic_absenteeism_rate").cast(pl.Float64)
    observations = history.filter(
        pl.col("year").is_between(year - ABSENTEEISM_MAX_AGE - ABSENTEEISM_MAX_GAP, year)
        & rate.is_not_null()
    ).select("leaid", pl.col("year").cast(pl.Int32), rate.alias("rate"))
    # Sorted by district and year, each district's latest observation is its last row and the
    # observation before it the row above (measured 2× faster than a group_by on 100× data).
    leaid = pl.col("leaid")
    last_two = (
        observations.sort("leaid", "year")
        .with_columns(
            has_prior=leaid.shift(1).eq_missing(leaid),
            prior_year=pl.col("year").shift(1),
            prior=pl.col("rate").shift(1),
        )
        .filter(leaid.ne_missing(leaid.shift(-1)))
        .rename({"year": "latest_year", "rate": "latest"})
    )
    usable = (
        pl.col("has_prior")
        & (pl.col("latest_year") >= year - ABSENTEEISM_MAX_AGE)
        & (pl.col("latest_year") - pl.col("prior_year") <= ABSENTEEISM_MAX_GAP)
    )
    return last_two.filter(usable).select(
        "leaid", (pl.col("latest") - pl.col("prior")).alias("absenteeism_trend_3yr")
    )


def _rank_columns(value: str) -> list[pl.Expr]:
    """n (non-NULL districts of the state) and rank − 1 (ties share the lowest rank).

    Computed once into columns: inside a when/then chain the rank would be evaluated again for
    every branch, which costs a second per year at 100× the national sample.
    """
    v = pl.col(value)
    return [
        v.count().over("state_code").cast(pl.Int64).alias(f"_n_{value}"),
        (v.rank("min").over("state_code").cast(pl.Int64) - 1).alias(f"_below_{value}"),
    ]


def _quartile_label(value: str) -> pl.Expr:
    """PERCENT_RANK quartile within state, in exact integer arithmetic (see module notes)."""
    n, below = pl.col(f"_n_{value}"), pl.col(f"_below_{value}")
    span = n - 1
    return (
        pl.when(pl.col(value).is_null() | (n < MIN_GROUP_SIZE))
        .then(None)
        .when(4 * below >= 3 * span)
        .then(pl.lit("well_above"))
        .when(2 * below >= span)
        .then(pl.lit("above"))
        .when(4 * below >= span)
        .then(pl.lit("below"))
        .otherwise(pl.lit("well_below"))
    )


def compute_district_benchmarks(
    history: pl.LazyFrame | pl.DataFrame,
    state_benchmarks: pl.DataFrame | pl.LazyFrame,
    year: int,
) -> pl.DataFrame:
    """One row per district of ``year``: values, deltas, quartiles within state and trends.

    ``history`` must hold the years :func:`history_years_needed` (more is fine);
    ``state_benchmarks`` the rows of ``year`` (other years are ignored), including ``US``.
    """
    lf = _lazy(history)
    trended = [m for m in TRENDED if m.trend.kind != "latest_two_observations"]
    prior = lf.filter(pl.col("year") == year - TREND_YEARS).select(
        "leaid", *[m.trend.base.alias(f"_prior_{m.name}") for m in trended]
    )
    current = lf.filter(pl.col("year") == year).select(
        "leaid",
        "state_code",
        *[m.value.alias(m.name) for m in METRICS],
        *[m.trend.base.alias(f"_base_{m.name}") for m in trended],
    )
    averages = _lazy(state_benchmarks).filter(pl.col("year") == year)
    state_avg = averages.filter(pl.col("state_code") != "US").select(
        "state_code", *[pl.col(m.state_column).alias(f"_state_{m.name}") for m in METRICS]
    )
    national_avg = averages.filter(pl.col("state_code") == "US").select(
        *[pl.col(m.state_column).alias(f"_us_{m.name}") for m in METRICS]
    )
    # A cross join with an empty US frame would drop every district; use a left join on a
    # constant key instead so that missing national averages give NULL deltas, not no rows.
    joined = (
        current.join(prior, on="leaid", how="left")
        .join(_absenteeism_trend(lf, year), on="leaid", how="left")
        .join(state_avg, on="state_code", how="left")
        .with_columns(_one=pl.lit(1))
        .join(national_avg.with_columns(_one=pl.lit(1)), on="_one", how="left")
    )
    columns: list[pl.Expr] = []
    for m in METRICS:
        columns += [
            (pl.col(m.name) - pl.col(f"_state_{m.name}")).alias(f"{m.name}_vs_state"),
            (pl.col(m.name) - pl.col(f"_us_{m.name}")).alias(f"{m.name}_vs_national"),
            _quartile_label(m.name).alias(f"{m.name}_quartile_state"),
        ]
    for m in trended:
        columns.append(
            _change(m.trend.kind, pl.col(f"_base_{m.name}"), pl.col(f"_prior_{m.name}")).alias(
                m.trend.column
            )
        )
    return (
        joined.with_columns([e for m in METRICS for e in _rank_columns(m.name)])
        .with_columns(columns, year=pl.lit(year, dtype=pl.Int32))
        .select([pl.col(c).cast(t) for c, t in DISTRICT_BENCHMARKS_SCHEMA.items()])
        .sort("leaid")
        .collect(optimizations=_OPTIMIZATIONS, engine=_ENGINE)
    )


def compute_district_outliers(
    history: pl.LazyFrame | pl.DataFrame, year: int, *, flagged_only: bool = True
) -> pl.DataFrame:
    """Districts whose value of a metric is extreme within their state and year.

    Two tests, both recorded so a reader can weigh them: Tukey fences (outside
    [Q1 − 1.5·IQR, Q3 + 1.5·IQR], type-7 quartiles) and the robust z-score
    0.6745·(x − median)/MAD with |z| > 3.5 (Iglewicz–Hoaglin). Only groups with at least
    :data:`MIN_GROUP_SIZE` non-NULL values are tested. With ``flagged_only`` (the table's
    content) only rows flagged by either test are returned.
    """
    group = ["state_code", "metric"]
    long = (
        district_values(history, year)
        .unpivot(
            index=["leaid", "year", "state_code"],
            on=[m.name for m in METRICS],
            variable_name="metric",
            value_name="value",
        )
        .drop_nulls("value")
    )
    v = pl.col("value")
    stats = (
        long.with_columns(
            n=pl.len().over(group),
            q1=v.quantile(0.25, interpolation="linear").over(group),
            q3=v.quantile(0.75, interpolation="linear").over(group),
            median=v.quantile(0.5, interpolation="linear").over(group),
        )
        .filter(pl.col("n") >= MIN_GROUP_SIZE)
        .with_columns(
            mad=(v - pl.col("median")).abs().quantile(0.5, interpolation="linear").over(group)
        )
    )
    iqr = pl.col("q3") - pl.col("q1")
    flagged = stats.with_columns(
        lower_fence=pl.col("q1") - TUKEY_K * iqr,
        upper_fence=pl.col("q3") + TUKEY_K * iqr,
        robust_z=pl.when(pl.col("mad") > 0).then(
            ROBUST_Z_SCALE * (v - pl.col("median")) / pl.col("mad")
        ),
    ).with_columns(
        is_tukey_outlier=((v < pl.col("lower_fence")) | (v > pl.col("upper_fence"))).cast(pl.Int32),
        is_robust_z_outlier=(pl.col("robust_z").abs() > ROBUST_Z_LIMIT)
        .fill_null(False)
        .cast(pl.Int32),
    )
    if flagged_only:
        flagged = flagged.filter((pl.col("is_tukey_outlier") + pl.col("is_robust_z_outlier")) > 0)
    return (
        flagged.select([pl.col(c).cast(t) for c, t in DISTRICT_OUTLIERS_SCHEMA.items()])
        .sort("leaid", "metric")
        .collect(optimizations=_OPTIMIZATIONS, engine=_ENGINE)
    )
