"""Peer cohorts and privacy, as Dagster assets (group ``privacy``); the rules are
``docs/privacy.md``, the logic :mod:`benchmarking_assets.core` and :mod:`benchmarking_assets.store`.

(No ``from __future__ import annotations``: Dagster 1.13 rejects a string annotation of
``context``.)

* ``benchmark_metric_submissions`` (unpartitioned): ingests inbox files (the run config's
  ``files``, or every file in the inbox); see :mod:`benchmarking_assets.store.submissions`.
* ``peer_cohorts``, ``cohort_benchmarks``, ``participant_percentiles``,
  ``private_cohort_benchmarks`` (partitioned by year, single-run backfills).

Every published table gets a ``min_cohort_size`` check (no row with n < k, over the whole
table), and metadata and logs only carry counts of published cells and previews of published
rows — never a count or value of a suppressed cell or a single participant's private value.
"""

import os
import time
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from benchmarking_assets.core.suppression import cohort_statistics, percentile_ranks
from benchmarking_assets.defs.metadata import frame_metadata
from benchmarking_assets.defs.partitions import YEAR_OF_STATE_YEAR, partition_years, year_partitions
from benchmarking_assets.defs.resources import PrivacySettings, Warehouse
from benchmarking_assets.store import participation
from benchmarking_assets.store.cohorts import (
    compute_peer_cohorts,
    public_values,
    release_year,
    rows_below_k,
)
from benchmarking_assets.store.submissions import (
    inbox_entries,
    inbox_names,
    ingest_file,
    validation_registry,
)

GROUP = "privacy"
CHECK = "min_cohort_size"
MAPPING_CHECK = "participant_private_benchmarks_min_cohort_size"


def min_size_check(
    store, table: str, column: str, k: int, asset: str, name: str = CHECK
) -> dg.AssetCheckResult:
    """Whole table: no row with ``column`` < k (and, for peer_cohorts, no real group < k)."""
    small = rows_below_k(store, table, column, k)
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=name,
        passed=small == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"k": k, "rows_below_k": small, "table": table},
    )


def _check_spec(asset: str, what: str) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(CHECK, asset=asset, description=f"no {what} below MIN_COHORT_SIZE")]


class SubmissionFiles(dg.Config):
    files: list[str] = Field(
        default=[], description="files of the inbox to ingest (names or paths); empty = all"
    )


@dg.asset(
    group_name=GROUP,
    deps=["district_data_history"],
    kinds={"python", "sql"},
    description=(
        "Private metric submissions from the inbox (CSV/JSON: leaid, year, category, metric, "
        "value), validated against the metric catalog and the participation registry."
    ),
)
def benchmark_metric_submissions(
    context: dg.AssetExecutionContext,
    config: SubmissionFiles,
    warehouse: Warehouse,
    privacy: PrivacySettings,
) -> dg.MaterializeResult:
    store = warehouse.store()
    inbox = Path(privacy.inbox_dir)
    # Run-config paths outside the inbox are refused before anything is read or moved.
    paths = inbox_names(inbox, config.files) if config.files else inbox_entries(inbox)
    registry = validation_registry(store)
    results = []
    for path in paths:
        if not os.path.lexists(path):
            context.log.warning(f"{path.name}: no longer in the inbox (already processed?)")
            continue
        summary = ingest_file(store, path, registry, privacy.inbox_limits())
        context.log.info(
            f"{summary['file']}: {summary['status']}, {summary['accepted']} row(s) accepted, "
            f"{summary['rejected']} rejected"
            + (f" ({summary['reason']})" if "reason" in summary else "")
        )
        results.append(summary)
    total = store.scalar("SELECT COUNT(*) FROM benchmark_metric_submissions")
    return dg.MaterializeResult(
        metadata={
            "files": dg.MetadataValue.json(results),
            "rows_accepted": sum(r["accepted"] for r in results),
            "rows_rejected": sum(r["rejected"] for r in results),
            "dagster/row_count": dg.MetadataValue.int(int(total)),
        }
    )


@dg.asset(
    group_name=GROUP,
    partitions_def=year_partitions,
    deps=[dg.AssetDep("district_data_history", partition_mapping=YEAR_OF_STATE_YEAR)],
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "sql"},
    check_specs=_check_spec("peer_cohorts", "cohort"),
    description="Each district's disjoint peer cohort (≥ MIN_COHORT_SIZE) and its criteria.",
)
def peer_cohorts(
    context: dg.AssetExecutionContext, warehouse: Warehouse, privacy: PrivacySettings
) -> dg.MaterializeResult:
    store, k = warehouse.store(), privacy.min_cohort_size
    frames, cuts = [], {}
    for year in partition_years(context):
        cohorts, cut = compute_peer_cohorts(store, year, k, privacy.peer_criteria())
        store.replace_rows("peer_cohorts", cohorts, where={"year": year})
        frames.append(cohorts)
        cuts[str(year)] = cut
        context.log.info(
            f"peer_cohorts {year}: {cohorts.height:,} districts in "
            f"{cohorts['cohort_id'].n_unique():,} cohorts"
        )
    out = pl.concat(frames)
    summary = (
        out.group_by("year", "ladder_level", "ladder_step")
        .agg(cohorts=pl.col("cohort_id").n_unique(), districts=pl.len())
        .sort("year", "ladder_level")
    )
    return dg.MaterializeResult(
        metadata={
            **frame_metadata(out),
            "k": k,
            "cohorts_by_ladder_step": dg.MetadataValue.json(summary.to_dicts()),
            "frl_cut_points_linear": dg.MetadataValue.json(cuts),
        },
        check_results=[min_size_check(store, "peer_cohorts", "cohort_size", k, "peer_cohorts")],
    )


@dg.asset(
    group_name=GROUP,
    partitions_def=year_partitions,
    deps=["peer_cohorts", "district_benchmarks"],
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "sql"},
    check_specs=_check_spec("cohort_benchmarks", "cell"),
    description=(
        "Public metrics per peer cohort and a national total ('ALL'): n, mean, median, p25, "
        "p75, p90, std (linear percentiles); small cells suppressed, with complements."
    ),
)
def cohort_benchmarks(
    context: dg.AssetExecutionContext, warehouse: Warehouse, privacy: PrivacySettings
) -> dg.MaterializeResult:
    store, k = warehouse.store(), privacy.min_cohort_size
    frames, counts = [], {"published": 0, "suppressed": 0}
    for year in partition_years(context):
        published, plan = cohort_statistics(public_values(store, year), k)
        published = published.with_columns(year=pl.lit(year, pl.Int32))
        store.replace_rows("cohort_benchmarks", published, where={"year": year})
        frames.append(published)
        counts["published"] += published.height
        counts["suppressed"] += plan.filter(~pl.col("published")).height
    out = pl.concat(frames)
    context.log.info(f"cohort_benchmarks: {counts['published']:,} cells published")
    return dg.MaterializeResult(
        metadata={**frame_metadata(out), "k": k, "cells_suppressed": counts["suppressed"]},
        check_results=[min_size_check(store, "cohort_benchmarks", "n", k, "cohort_benchmarks")],
    )


@dg.asset(
    group_name=GROUP,
    partitions_def=year_partitions,
    deps=["cohort_benchmarks"],
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "sql"},
    check_specs=_check_spec("participant_percentiles", "cohort"),
    description="Each participant's mid-rank percentile within its cohort, public metrics only.",
)
def participant_percentiles(
    context: dg.AssetExecutionContext, warehouse: Warehouse, privacy: PrivacySettings
) -> dg.MaterializeResult:
    store, k = warehouse.store(), privacy.min_cohort_size
    participants = participation.list_participants(store)["leaid"]
    frames = []
    for year in partition_years(context):
        published = store.read_df(
            "SELECT cohort_id, metric, n FROM cohort_benchmarks WHERE year = :y",
            {"y": year},
            schema={"cohort_id": pl.String(), "metric": pl.String(), "n": pl.Int64()},
        )
        ranks = percentile_ranks(public_values(store, year), participants, published)
        ranks = ranks.with_columns(year=pl.lit(year, pl.Int32))
        store.replace_rows("participant_percentiles", ranks, where={"year": year})
        frames.append(ranks)
    out = pl.concat(frames)
    return dg.MaterializeResult(
        metadata={**frame_metadata(out), "participants": participants.len()},
        check_results=[
            min_size_check(
                store, "participant_percentiles", "cohort_n", k, "participant_percentiles"
            )
        ],
    )


@dg.asset(
    group_name=GROUP,
    partitions_def=year_partitions,
    deps=["peer_cohorts", "benchmark_metric_submissions"],
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"opendp", "sql"},
    check_specs=[
        *_check_spec("private_cohort_benchmarks", "cell"),
        dg.AssetCheckSpec(
            MAPPING_CHECK,
            asset="private_cohort_benchmarks",
            description="no participant_private_benchmarks row below MIN_COHORT_SIZE",
        ),
    ],
    description=(
        "Differentially private means of private metrics per cohort of contributors "
        "(OpenDP Laplace, clamped to public bounds, DIFFERENTIAL_PRIVACY_EPSILON per release); "
        "every new release is charged to privacy_budget_ledger, unchanged ones are reused."
    ),
)
def private_cohort_benchmarks(
    context: dg.AssetExecutionContext, warehouse: Warehouse, privacy: PrivacySettings
) -> dg.MaterializeResult:
    store, k = warehouse.store(), privacy.min_cohort_size
    frames, per_year = [], []
    for year in partition_years(context):
        started = time.perf_counter()
        out = release_year(store, year, k, privacy.epsilon, privacy.peer_criteria())
        frames.append(out.pop("table"))
        per_year.append({**out, "seconds": round(time.perf_counter() - started, 3)})
        context.log.info(
            f"private_cohort_benchmarks {year}: {out['releases']} releases "
            f"({out['new_releases']} new, {out['reused']} reused), ε charged "
            f"{out['epsilon_charged']:g}"
        )
    table = pl.concat(frames)
    return dg.MaterializeResult(
        metadata={
            **frame_metadata(table),
            "k": k,
            "epsilon_per_release": privacy.epsilon,
            "years": dg.MetadataValue.json(per_year),
        },
        check_results=[
            min_size_check(store, "private_cohort_benchmarks", "n", k, "private_cohort_benchmarks"),
            min_size_check(
                store,
                "participant_private_benchmarks",
                "n",
                k,
                "private_cohort_benchmarks",
                MAPPING_CHECK,
            ),
        ],
    )
