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

import dagster as dg
import polars as pl
from pydantic import Field

from benchmarking_assets.core.suppression import cohort_statistics, percentile_ranks
from benchmarking_assets.defs.metadata import frame_metadata, markdown_table
from benchmarking_assets.defs.partitions import YEAR_OF_STATE_YEAR, partition_years, year_partitions
from benchmarking_assets.defs.resources import PrivacySettings, Warehouse
from benchmarking_assets.store import participation
from benchmarking_assets.store.cohorts import (
    compute_peer_cohorts,
    margin_violations,
    public_values,
    release_year,
    rows_below_k,
    write_percentiles,
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
MARGIN_CHECK = "dp_margin_within_limit"
BUDGET_CHECK = "privacy_budget_within_limit"


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
    inbox = privacy.inbox()
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
    store, k = warehouse.store(), privacy.policy().k
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
            # No district ids in the preview: the event log outlives a participant's
            # withdrawal, and the criteria say what a row looks like.
            "preview": dg.MetadataValue.md(markdown_table(out.drop("leaid"), 5)),
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
    store, k = warehouse.store(), privacy.policy().k
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
    store, k = warehouse.store(), privacy.policy().k
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
        # Written for the districts that still participate when the write commits.
        frames.append(write_percentiles(store, year, ranks))
    out = pl.concat(frames)
    return dg.MaterializeResult(
        metadata={
            **frame_metadata(out),
            "preview": dg.MetadataValue.md(markdown_table(out.drop("leaid", "value"), 5)),
            "participants": participants.len(),
        },
        check_results=[
            min_size_check(
                store, "participant_percentiles", "cohort_n", k, "participant_percentiles"
            )
        ],
    )


PREVIEW_COLUMNS = ("year", "metric", "group_label", "n", "dp_mean", "margin_90", "status")


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
        dg.AssetCheckSpec(
            MARGIN_CHECK,
            asset="private_cohort_benchmarks",
            description="no published DP mean whose 90 % margin exceeds DP_MAX_MARGIN_SHARE of "
            "its metric's range",
        ),
        dg.AssetCheckSpec(
            BUDGET_CHECK,
            asset="private_cohort_benchmarks",
            description="no district's privacy spend above PRIVACY_BUDGET_PER_DISTRICT",
        ),
    ],
    description=(
        "Differentially private means of private metrics per disjoint group of contributors "
        "(OpenDP Laplace, clamped to public bounds, ε = DIFFERENTIAL_PRIVACY_EPSILON per draw), "
        "each with its 90 % margin and its group's truthful label. Identical inputs get their "
        "stored draw back; every new draw is appended to privacy_noise_ledger and charged to "
        "each member's budget; a draw over any member's budget is refused (last rows kept)."
    ),
)
def private_cohort_benchmarks(
    context: dg.AssetExecutionContext, warehouse: Warehouse, privacy: PrivacySettings
) -> dg.MaterializeResult:
    store, policy = warehouse.store(), privacy.policy()
    frames, per_year = [], []
    for year in partition_years(context):
        started = time.perf_counter()
        out = release_year(store, year, policy, privacy.peer_criteria())
        frames.append(out.pop("table"))
        refused = out.pop("refused")
        per_year.append({**out, "seconds": round(time.perf_counter() - started, 3)})
        context.log.info(
            f"private_cohort_benchmarks {year}: {out['published_groups']} groups published "
            f"({out['new_draws']} new draws, {out['reused_draws']} stored draws reused)"
        )
        for r in refused:
            context.log.warning(
                f"private_cohort_benchmarks {year}: {r['metric']} not updated, a new draw would "
                f"exceed a member's {r['category']} budget; {r['kept_stale']} earlier group(s) "
                "kept as stale"
            )
    table = pl.concat(frames)
    spent_max = store.scalar("SELECT MAX(epsilon_spent) FROM privacy_budget_spent") or 0.0
    return dg.MaterializeResult(
        metadata={
            # Published values only: the preview carries no id, and nothing per district.
            **frame_metadata(table.select(PREVIEW_COLUMNS)),
            "k": policy.k,
            "n_min": policy.n_min,
            "epsilon_per_draw": policy.epsilon,
            "budget_per_district": policy.budget,
            "max_margin_share": policy.max_margin_share,
            "years": dg.MetadataValue.json(per_year),
        },
        check_results=[
            min_size_check(
                store, "private_cohort_benchmarks", "n", policy.n_min, "private_cohort_benchmarks"
            ),
            min_size_check(
                store,
                "participant_private_benchmarks",
                "n",
                policy.n_min,
                "private_cohort_benchmarks",
                MAPPING_CHECK,
            ),
            dg.AssetCheckResult(
                asset_key="private_cohort_benchmarks",
                check_name=MARGIN_CHECK,
                passed=(wide := margin_violations(store, policy.max_margin_share)) == 0,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"max_margin_share": policy.max_margin_share, "rows_over": wide},
            ),
            dg.AssetCheckResult(
                asset_key="private_cohort_benchmarks",
                check_name=BUDGET_CHECK,
                passed=float(spent_max) <= policy.budget + 1e-9,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={
                    "budget_per_district": policy.budget,
                    "largest_spend": round(float(spent_max), 6),
                },
            ),
        ],
    )
