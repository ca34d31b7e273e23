"""An independent implementation of docs/metrics.md in SQL, and the national sample to run it on.

The Polars code in ``benchmarking_assets.core.benchmarks`` and the SQL here share nothing but
the definitions in docs/metrics.md: the SQL computes every output inside the database from
``district_data_history`` with aggregates and window functions (``PERCENT_RANK`` for quartiles,
``ROW_NUMBER`` for the two latest absenteeism observations and for type-7 quantiles), so that
the parity test compares two readings of the definitions. It runs unchanged on SQLite (≥ 3.25)
and PostgreSQL.

Every query takes one bind parameter, ``:year``. (A single all-years query is slower on both
backends: their window functions sort the whole table.)"""

from __future__ import annotations

import hashlib
import os
import tempfile
from functools import lru_cache
from pathlib import Path

import polars as pl

from benchmarking_assets.core.benchmarks import (
    DISTRICT_BENCHMARKS_SCHEMA,
    DISTRICT_OUTLIERS_SCHEMA,
    STATE_BENCHMARKS_SCHEMA,
)
from benchmarking_assets.core.geography import STATES
from benchmarking_assets.store.warehouse import WarehouseStore

DOUBLE = "DOUBLE PRECISION"
Y = "CAST(:year AS INTEGER)"

# name, SQL of the district value (over district_data_history), state_benchmarks column
METRIC_SQL: tuple[tuple[str, str, str], ...] = (
    ("absenteeism", "chronic_absenteeism_rate", "avg_chronic_absenteeism_rate"),
    ("graduation", "graduation_rate", "avg_graduation_rate"),
    (
        "student_teacher_ratio",
        f"CASE WHEN enrollment > 0 AND teachers_fte > 0 "
        f"THEN CAST(enrollment AS {DOUBLE}) / teachers_fte END",
        "avg_student_teacher_ratio",
    ),
    (
        "swd_pct",
        f"CASE WHEN enrollment > 0 AND spec_ed_students IS NOT NULL "
        f"THEN CAST(spec_ed_students AS {DOUBLE}) / enrollment * 100 END",
        "avg_swd_pct",
    ),
    (
        "ell_pct",
        f"CASE WHEN enrollment > 0 AND ell_students IS NOT NULL "
        f"THEN CAST(ell_students AS {DOUBLE}) / enrollment * 100 END",
        "avg_ell_pct",
    ),
    ("math_proficiency", "math_proficiency", "avg_math_proficiency"),
    ("read_proficiency", "read_proficiency", "avg_read_proficiency"),
    ("expenditure_pp", "expenditure_pp", "avg_expenditure_per_pupil"),
)
NAMES = [name for name, _, _ in METRIC_SQL]

# trend column, column of `vals` it compares, kind
TREND_SQL: tuple[tuple[str, str, str], ...] = (
    ("swd_trend_3yr", "spec_ed_students", "pct"),
    ("ell_trend_3yr", "ell_students", "pct"),
    ("absenteeism_trend_3yr", "", "abs"),
    ("graduation_trend_3yr", "graduation", "diff"),
    ("student_teacher_ratio_trend_3yr", "student_teacher_ratio", "diff"),
    ("math_proficiency_trend_3yr", "math_proficiency", "diff"),
    ("read_proficiency_trend_3yr", "read_proficiency", "diff"),
    ("expenditure_pp_trend_3yr", "expenditure_pp", "pct"),
)

_VALS = (
    "vals AS (SELECT leaid, year, state_code, enrollment, spec_ed_students, ell_students, "
    + ", ".join(f"{expr} AS {name}" for name, expr, _ in METRIC_SQL)
    + " FROM district_data_history)"
)


def _weighted(x: str) -> str:
    ok = f"enrollment > 0 AND {x} IS NOT NULL"
    return (
        f"SUM(CASE WHEN {ok} THEN enrollment * {x} END) / "
        f"SUM(CASE WHEN {ok} THEN CAST(enrollment AS {DOUBLE}) END)"
    )


# The nation is a second copy of every row of the year, grouped under 'US'.
_STATE_AVG = (
    "state_avg AS (SELECT year, grp AS state_code, COUNT(*) AS district_count, "
    f"AVG(CASE WHEN enrollment > 0 THEN CAST(enrollment AS {DOUBLE}) END) AS avg_enrollment, "
    + ", ".join(f"{_weighted(name)} AS {col}" for name, _, col in METRIC_SQL)
    + f" FROM (SELECT state_code AS grp, vals.* FROM vals WHERE year = {Y}"
    f" UNION ALL SELECT 'US' AS grp, vals.* FROM vals WHERE year = {Y}) g GROUP BY year, grp)"
)

STATE_BENCHMARKS_SQL = (
    f"WITH {_VALS}, {_STATE_AVG} SELECT state_code, year, district_count, avg_enrollment, "
    "avg_swd_pct, avg_ell_pct, avg_chronic_absenteeism_rate, avg_graduation_rate, "
    "avg_student_teacher_ratio, avg_math_proficiency, avg_read_proficiency, "
    "avg_expenditure_per_pupil FROM state_avg ORDER BY state_code"
)


def _quartile(name: str) -> str:
    return (
        f"CASE WHEN c.{name} IS NULL OR c.n_{name} < 4 THEN NULL "
        f"WHEN c.pr_{name} >= 0.75 THEN 'well_above' WHEN c.pr_{name} >= 0.5 THEN 'above' "
        f"WHEN c.pr_{name} >= 0.25 THEN 'below' ELSE 'well_below' END"
    )


def _percent_rank(name: str) -> str:
    # NULLs get a partition of their own so that they do not count in n − 1.
    return (
        f"PERCENT_RANK() OVER (PARTITION BY state_code, CASE WHEN {name} IS NULL "
        f"THEN 1 ELSE 0 END ORDER BY {name}) AS pr_{name}, "
        f"COUNT({name}) OVER (PARTITION BY state_code) AS n_{name}"
    )


def _trend(column: str, base: str, kind: str) -> str:
    if kind == "abs":
        return f"at.trend AS {column}"
    cur, prior = f"c.{base}", f"p.{base}"
    if kind == "pct":
        return (
            f"CASE WHEN {prior} <> 0 THEN CAST({cur} - {prior} AS {DOUBLE}) / {prior} * 100 END "
            f"AS {column}"
        )
    return f"{cur} - {prior} AS {column}"


# Every absenteeism observation at or before the year (no lower bound: the rule, not the
# Polars reach-back window, decides), latest first; LEAD gives the one before the latest.
_ABS_TREND = (
    "obs AS (SELECT leaid, year, chronic_absenteeism_rate AS rate, "
    "ROW_NUMBER() OVER w AS rn, LEAD(year) OVER w AS prior_year, "
    "LEAD(chronic_absenteeism_rate) OVER w AS prior_rate FROM district_data_history "
    f"WHERE year <= {Y} AND chronic_absenteeism_rate IS NOT NULL "
    "WINDOW w AS (PARTITION BY leaid ORDER BY year DESC)), "
    "abs_trend AS (SELECT leaid, rate - prior_rate AS trend FROM obs "
    f"WHERE rn = 1 AND prior_year IS NOT NULL AND year >= {Y} - 3 "
    "AND year - prior_year <= 4)"
)

DISTRICT_BENCHMARKS_SQL = (
    f"WITH {_VALS}, {_STATE_AVG}, {_ABS_TREND}, "
    "ranked AS (SELECT vals.*, "
    + ", ".join(_percent_rank(n) for n in NAMES)
    + f" FROM vals WHERE year = {Y}) "
    "SELECT c.leaid, c.year, c.state_code, "
    "c.swd_pct, c.ell_pct, c.student_teacher_ratio, c.absenteeism, c.graduation, "
    "c.math_proficiency, c.read_proficiency, c.expenditure_pp, "
    + ", ".join(
        f"c.{n} - s.{col} AS {n}_vs_state, c.{n} - us.{col} AS {n}_vs_national, "
        f"{_quartile(n)} AS {n}_quartile_state"
        for n, _, col in METRIC_SQL
    )
    + ", "
    + ", ".join(_trend(*t) for t in TREND_SQL)
    + " FROM ranked c "
    "LEFT JOIN state_avg s ON s.state_code = c.state_code "
    "LEFT JOIN state_avg us ON us.state_code = 'US' "
    f"LEFT JOIN vals p ON p.leaid = c.leaid AND p.year = {Y} - 3 "
    "LEFT JOIN abs_trend at ON at.leaid = c.leaid "
    "ORDER BY c.leaid"
)


def _type7(k: int, value: str, index: str) -> str:
    """The k/4 quantile (type 7) of a group whose rows carry a 0-based ``index`` and ``n``."""
    lo = f"({k} * (n - 1)) / 4"  # integer division on both backends
    frac = f"(CAST(({k} * (n - 1)) % 4 AS {DOUBLE}) / 4)"
    x_lo = f"MAX(CASE WHEN {index} = {lo} THEN {value} END)"
    x_hi = f"MAX(CASE WHEN {index} = {lo} + 1 THEN {value} END)"
    return f"{x_lo} + {frac} * (COALESCE({x_hi}, {x_lo}) - {x_lo})"


_GROUP = "state_code, metric"
DISTRICT_OUTLIERS_SQL = (
    f"WITH {_VALS}, "
    "long AS ("
    + " UNION ALL ".join(
        f"SELECT leaid, year, state_code, '{n}' AS metric, {n} AS value FROM vals "
        f"WHERE year = {Y} AND {n} IS NOT NULL"
        for n in NAMES
    )
    + "), ranked AS (SELECT long.*, "
    f"ROW_NUMBER() OVER (PARTITION BY {_GROUP} ORDER BY value) - 1 AS i, "
    f"COUNT(*) OVER (PARTITION BY {_GROUP}) AS n FROM long), "
    f"stats AS (SELECT {_GROUP}, n, {_type7(1, 'value', 'i')} AS q1, "
    f"{_type7(2, 'value', 'i')} AS median, {_type7(3, 'value', 'i')} AS q3 "
    f"FROM ranked WHERE n >= 4 GROUP BY {_GROUP}, n), "
    "devs AS (SELECT r.leaid, r.year, r.state_code, r.metric, r.value, s.n, s.q1, s.q3, "
    "s.median, ABS(r.value - s.median) AS dev FROM ranked r JOIN stats s "
    "ON s.state_code = r.state_code AND s.metric = r.metric), "
    "dev_ranked AS (SELECT devs.*, "
    f"ROW_NUMBER() OVER (PARTITION BY {_GROUP} ORDER BY dev) - 1 AS j FROM devs), "
    f"mads AS (SELECT {_GROUP}, {_type7(2, 'dev', 'j')} AS mad "
    f"FROM dev_ranked GROUP BY {_GROUP}, n), "
    "scored AS (SELECT d.*, m.mad, d.q1 - 1.5 * (d.q3 - d.q1) AS lower_fence, "
    "d.q3 + 1.5 * (d.q3 - d.q1) AS upper_fence, "
    "CASE WHEN m.mad > 0 THEN 0.6745 * (d.value - d.median) / m.mad END AS robust_z "
    "FROM devs d JOIN mads m "
    "ON m.state_code = d.state_code AND m.metric = d.metric), "
    "flagged AS (SELECT scored.*, "
    "CASE WHEN value < lower_fence OR value > upper_fence THEN 1 ELSE 0 END AS is_tukey_outlier, "
    "CASE WHEN ABS(robust_z) > 3.5 THEN 1 ELSE 0 END AS is_robust_z_outlier FROM scored) "
    "SELECT leaid, year, state_code, metric, value, q1, q3, lower_fence, upper_fence, "
    "median, mad, robust_z, is_tukey_outlier, is_robust_z_outlier FROM flagged "
    "WHERE is_tukey_outlier = 1 OR is_robust_z_outlier = 1 ORDER BY leaid, metric"
)


# ------------------------------------------------------------------ the national data set
def national_history() -> pl.DataFrame:
    """The national data set the parity test and the benchmark script run on: the sample."""
    return sample_history()


@lru_cache(maxsize=1)
def sample_history() -> pl.DataFrame:
    """Every state-year of the offline sample, through the same client and derivation as the
    raw asset (``fetch_district_year``), concatenated into one ``district_data_history``.

    Building it takes ~40 s (612 state-years of simulated HTTP), so the frame is cached as
    Parquet in the temp folder, keyed by a hash of the code that produces it.
    """
    from benchmarking_assets.sources.district_year import fetch_district_year
    from benchmarking_assets.sources.sample import SAMPLE_YEARS, sample_client

    package = Path(__file__).resolve().parents[1] / "benchmarking_assets"
    sources = [
        *sorted((package / "sources").glob("*.py")),
        package / "core" / "schemas.py",
        package / "core" / "ids.py",
    ]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / f"benchmarking-assets-sample-{digest}.parquet"
    if cache.exists():
        return pl.read_parquet(cache)
    with sample_client() as client:
        frames = [
            fetch_district_year(client, state.code, year, source="sample").history
            # years outer: the sample builds a whole year at a time and keeps few years cached
            for year in SAMPLE_YEARS
            for state in STATES
        ]
    history = pl.concat([f for f in frames if f.height], how="vertical_relaxed")
    partial = cache.with_suffix(f".{os.getpid()}.tmp")
    history.write_parquet(partial)
    partial.replace(cache)  # atomic: a parallel run never reads half a file
    return history


TOLERANCE = 1e-6


def assert_frames_agree(polars_df: pl.DataFrame, sql_df: pl.DataFrame, keys: list[str]) -> None:
    """Same keys, same strings and integers, floats within 1e-6 (NULL only against NULL)."""
    assert polars_df.columns == sql_df.columns
    left, right = polars_df.sort(keys), sql_df.sort(keys)
    assert left.select(keys).equals(right.select(keys)), "different rows"
    for column in left.columns:
        a, b = left[column], right[column]
        nulls = a.is_null() != b.is_null()
        assert not nulls.any(), f"{column}: NULL in one only, e.g. {left.filter(nulls).row(0)}"
        if a.dtype == pl.Float64:
            diff = (a - b).abs()
            worst = diff.max()
            assert worst is None or worst <= TOLERANCE, f"{column}: off by {worst}"
        else:
            assert a.equals(b), f"{column} differs"


def sql_outputs(store: WarehouseStore, year: int) -> tuple[pl.DataFrame, ...]:
    params = {"year": year}
    return (
        store.read_df(STATE_BENCHMARKS_SQL, params, schema=STATE_BENCHMARKS_SCHEMA),
        store.read_df(DISTRICT_BENCHMARKS_SQL, params, schema=DISTRICT_BENCHMARKS_SCHEMA),
        store.read_df(DISTRICT_OUTLIERS_SQL, params, schema=DISTRICT_OUTLIERS_SCHEMA),
    )
