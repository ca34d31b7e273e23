"""Benchmark assets, one partition per school year (``docs/metrics.md``).

Lineage, and why it is drawn this way:

* ``state_benchmarks`` and ``district_outliers`` of year Y depend on every state partition of
  ``district_data_history`` of Y (``MultiToSingleDimensionPartitionMapping`` on ``year``).
* ``district_benchmarks`` of Y depends on the same raw partitions **and** on
  ``state_benchmarks`` of Y − 7 … Y (``TimeWindowPartitionMapping(start_offset=-7)``). Dagster
  cannot offset the year through a multi → single mapping, so the trend's reach back into the
  raw years Y − 7 … Y − 1 (the absenteeism rule, ``core.benchmarks.history_years_needed``) is
  drawn through the ``state_benchmarks`` of those years, each of which depends on its year's raw
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

from benchmarking_assets.core import benchmark_checks as checks
from benchmarking_assets.core.benchmarks import (
    compute_district_benchmarks,
    compute_district_outliers,
    compute_state_benchmarks,
)
from benchmarking_assets.defs.metadata import frame_metadata, markdown_table, null_counts
from benchmarking_assets.defs.partitions import (
    REACH_BACK_YEARS,
    TREND_REACH_BACK,
    YEAR_OF_STATE_YEAR,
    partition_years,
    year_partitions,
)
from benchmarking_assets.defs.resources import Warehouse
from benchmarking_assets.store import WarehouseStore
from benchmarking_assets.store.benchmarks import read_history, read_state_benchmarks

RAW = "district_data_history"


def check_specs(asset: str, descriptions: dict[str, str]) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(n, asset=asset, description=d) for n, d in descriptions.items()]


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
    for name, outcome in outcomes.items():
        yield dg.AssetCheckResult(
            asset_key=asset,
            check_name=name,
            passed=outcome.passed,
            metadata={
                **outcome.counts,
                "offending_rows": dg.MetadataValue.int(outcome.offenders.height),
                "examples": dg.MetadataValue.md(markdown_table(outcome.offenders, 20)),
            },
            severity=dg.AssetCheckSeverity.ERROR,
        )


@dg.asset(
    group_name="benchmarks",
    partitions_def=year_partitions,
    deps=[dg.AssetDep(RAW, partition_mapping=YEAR_OF_STATE_YEAR)],
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "sql"},
    check_specs=check_specs("state_benchmarks", checks.STATE_CHECKS),
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


@dg.asset(
    group_name="benchmarks",
    partitions_def=year_partitions,
    deps=[
        dg.AssetDep(RAW, partition_mapping=YEAR_OF_STATE_YEAR),
        dg.AssetDep(
            "state_benchmarks",
            partition_mapping=TREND_REACH_BACK,
        ),
    ],
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "sql"},
    check_specs=check_specs("district_benchmarks", checks.DISTRICT_CHECKS),
    description=(
        "Per district and year: SWD %, ELL %, student-teacher ratio and the other metric "
        "values, deltas against the state and national averages, quartile labels within the "
        "state, and 3-year trends (docs/metrics.md). Proficiency compared across states "
        "(*_vs_national) compares different state tests."
    ),
)
def district_benchmarks(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> dg.MaterializeResult:
    store = warehouse.store()
    years = partition_years(context)
    history = read_history(store, years[0] - REACH_BACK_YEARS, years[-1])
    states = read_state_benchmarks(store, years)
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
    deps=[dg.AssetDep(RAW, partition_mapping=YEAR_OF_STATE_YEAR)],
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
