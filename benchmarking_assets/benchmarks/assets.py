"""Benchmark assets, one partition per school year (SPEC §3–§5).

Lineage, and why it is drawn this way:

* ``state_benchmarks`` and ``district_outliers`` of year Y depend on every state partition of
  ``district_data_history`` of Y (``MultiToSingleDimensionPartitionMapping`` on ``year``).
* ``district_benchmarks`` of Y depends on the same raw partitions **and** on
  ``state_benchmarks`` of Y − 7 … Y (``TimeWindowPartitionMapping(start_offset=-7)``). Dagster
  cannot offset the year through a multi → single mapping, so the trend's reach back into the
  raw years Y − 7 … Y − 1 (the absenteeism rule, see ``metrics.history_years_needed``) is drawn
  through the ``state_benchmarks`` of those years, each of which depends on its year's raw
  partitions. The UI therefore shows the true upstream set, and a backfill materializes earlier
  years' state benchmarks, hence their raw data, first.

The assets read and write the warehouse directly (no IO manager). With
``BackfillPolicy.single_run()`` a backfill of many years is one run: the history is read once
and the years are computed one at a time, each year's rows replaced atomically.

(No ``from __future__ import annotations`` here: Dagster 1.13 rejects a string annotation of
``context``.)
"""

import time
from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg
import polars as pl

from benchmarking_assets.benchmarks import checks
from benchmarking_assets.benchmarks.metrics import (
    HISTORY_COLUMNS,
    STATE_BENCHMARKS_SCHEMA,
    compute_district_benchmarks,
    compute_district_outliers,
    compute_state_benchmarks,
    history_years_needed,
)
from benchmarking_assets.metadata import frame_metadata, null_counts
from benchmarking_assets.raw.partitions import partition_years, year_partitions
from benchmarking_assets.warehouse import Warehouse, WarehouseStore
from benchmarking_assets.warehouse.schema import DISTRICT_DATA_HISTORY

RAW = "district_data_history"
RAW_YEAR = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="year")
REACH_BACK = len(history_years_needed(2000)) - 1  # 7 years


def read_history(store: WarehouseStore, first: int, last: int) -> pl.LazyFrame:
    """The district_data_history columns the benchmarks use, for years first … last."""
    columns = ", ".join(HISTORY_COLUMNS)
    frame = store.read_df(
        f"SELECT {columns} FROM {RAW} WHERE year BETWEEN :first AND :last",
        {"first": first, "last": last},
        schema={c: DISTRICT_DATA_HISTORY[c] for c in HISTORY_COLUMNS},
    )
    return frame.lazy()


def _run_years(
    context: dg.AssetExecutionContext,
    store: WarehouseStore,
    table: str,
    years: list[int],
    compute: Callable[[int], pl.DataFrame],
) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    """Compute and atomically replace each year's rows; returns all rows and per-year timings."""
    frames, timings = [], []
    for year in years:
        started = time.perf_counter()
        frame = compute(year)
        computed = time.perf_counter()
        store.replace_rows(table, frame, where={"year": year})
        timings.append(
            {
                "year": year,
                "rows": frame.height,
                "compute_s": round(computed - started, 3),
                "write_s": round(time.perf_counter() - computed, 3),
            }
        )
        if frame.height == 0:
            context.log.warning(f"{table} {year}: no districts in {RAW}; the year is now empty")
        else:
            context.log.info(f"{table} {year}: {frame.height:,} rows ({timings[-1]})")
        frames.append(frame)
    return pl.concat(frames), timings


def _metadata(frame: pl.DataFrame, timings: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        **frame_metadata(frame),
        "years": dg.MetadataValue.json([t["year"] for t in timings]),
        "null_counts": dg.MetadataValue.json(null_counts(frame)),
        "timings": dg.MetadataValue.json(timings),
        "compute_seconds": dg.MetadataValue.float(sum(t["compute_s"] for t in timings)),
    }


def _results(asset: str, outcomes: dict[str, checks.CheckOutcome]) -> Iterator[dg.AssetCheckResult]:
    for name, (passed, metadata) in outcomes.items():
        yield dg.AssetCheckResult(
            asset_key=asset,
            check_name=name,
            passed=passed,
            metadata=metadata,
            severity=dg.AssetCheckSeverity.ERROR,
        )


@dg.asset(
    group_name="benchmarks",
    partitions_def=year_partitions,
    deps=[dg.AssetDep(RAW, partition_mapping=RAW_YEAR)],
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "sql"},
    check_specs=checks.specs("state_benchmarks", checks.STATE_CHECKS),
    description=(
        "Enrollment-weighted state averages per year, plus the row US computed over every "
        "district. avg_student_teacher_ratio is the weighted mean of district ratios, not "
        "NCES's ratio of totals."
    ),
)
def state_benchmarks(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> dg.MaterializeResult:
    store = warehouse.store()
    years = partition_years(context)
    history = read_history(store, years[0], years[-1]).filter(pl.col("year").is_in(years))
    frame, timings = _run_years(
        context, store, "state_benchmarks", years, lambda y: compute_state_benchmarks(history, y)
    )
    outcomes = {
        "every_state_and_us_present": checks.check_every_state_and_us_present(
            history, frame, years
        ),
        "averages_within_district_range": checks.check_averages_within_district_range(
            history, frame
        ),
    }
    return dg.MaterializeResult(
        metadata=_metadata(frame, timings),
        check_results=list(_results("state_benchmarks", outcomes)),
    )


def _read_state_benchmarks(store: WarehouseStore, years: list[int]) -> pl.DataFrame:
    return store.read_table("state_benchmarks", STATE_BENCHMARKS_SCHEMA, where={"year": years})


@dg.asset(
    group_name="benchmarks",
    partitions_def=year_partitions,
    deps=[
        dg.AssetDep(RAW, partition_mapping=RAW_YEAR),
        dg.AssetDep(
            "state_benchmarks",
            partition_mapping=dg.TimeWindowPartitionMapping(
                start_offset=-REACH_BACK, end_offset=0, allow_nonexistent_upstream_partitions=True
            ),
        ),
    ],
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "sql"},
    check_specs=checks.specs("district_benchmarks", checks.DISTRICT_CHECKS),
    description=(
        "Per district and year: SWD %, ELL %, student-teacher ratio and the other metric "
        "values, deltas against the state and national averages, quartile labels within the "
        "state, and 3-year trends (SPEC §5). Proficiency compared across states "
        "(*_vs_national) compares different state tests."
    ),
)
def district_benchmarks(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> dg.MaterializeResult:
    store = warehouse.store()
    years = partition_years(context)
    history = read_history(store, years[0] - REACH_BACK, years[-1])
    states = _read_state_benchmarks(store, years)
    missing = sorted(set(years) - set(states["year"].to_list()))
    if missing:
        context.log.warning(
            f"state_benchmarks has no rows for {missing}: their deltas will be NULL. "
            "Materialize state_benchmarks for those years first."
        )
    frame, timings = _run_years(
        context,
        store,
        "district_benchmarks",
        years,
        lambda y: compute_district_benchmarks(history, states, y),
    )
    outcomes = {
        "quartiles_ordered": checks.check_quartiles_ordered(frame),
        "quartiles_balanced": checks.check_quartiles_balanced(frame),
        "no_delta_without_state_average": checks.check_no_delta_without_state_average(
            frame, states
        ),
    }
    return dg.MaterializeResult(
        metadata=_metadata(frame, timings),
        check_results=list(_results("district_benchmarks", outcomes)),
    )


@dg.asset(
    group_name="benchmarks",
    partitions_def=year_partitions,
    deps=[dg.AssetDep(RAW, partition_mapping=RAW_YEAR)],
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "sql"},
    description=(
        "Districts whose value of a metric is extreme within their state and year: Tukey "
        "fences (1.5 × IQR) and robust z-score (0.6745·(x − median)/MAD, |z| > 3.5), with the "
        "statistics behind each flag. Only flagged rows; states with ≥ 4 reporting districts."
    ),
)
def district_outliers(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> dg.MaterializeResult:
    store = warehouse.store()
    years = partition_years(context)
    history = read_history(store, years[0], years[-1])
    frame, timings = _run_years(
        context, store, "district_outliers", years, lambda y: compute_district_outliers(history, y)
    )
    by_metric = frame.group_by("metric").agg(
        pl.col("is_tukey_outlier").sum().alias("tukey"),
        pl.col("is_robust_z_outlier").sum().alias("robust_z"),
    )
    metadata = _metadata(frame, timings)
    metadata["flags_by_metric"] = dg.MetadataValue.json(
        {
            r["metric"]: {"tukey": r["tukey"], "robust_z": r["robust_z"]}
            for r in by_metric.rows(named=True)
        }
    )
    return dg.MaterializeResult(metadata=metadata)


__all__ = [
    "district_benchmarks",
    "district_outliers",
    "state_benchmarks",
]
