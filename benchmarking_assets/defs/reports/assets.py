"""Report assets (group ``reports``): ``benchmark_insights`` and ``benchmark_reports``.

(No ``from __future__ import annotations``: Dagster 1.13 rejects a string annotation of
``context``.)

One multi-asset, partitioned participant × year, single-run backfills: each run reads the
frames of a year once for all its districts and generates every report of the year
(:func:`benchmarking_assets.store.reports.generate`). A partition whose district is no longer a
participant (withdrawal deletes its ``benchmark_participants`` row) gets no report: its files and
rows are deleted instead (audited), and it is skipped.
"""

import base64
from typing import Any

import dagster as dg
import polars as pl

from benchmarking_assets.core.reports.content import ReportData
from benchmarking_assets.core.reports.preview import percentile_chart_png
from benchmarking_assets.defs.metadata import markdown_table
from benchmarking_assets.defs.partitions import (
    YEAR_OF_REPORT,
    parse_report_keys,
    report_partitions,
)
from benchmarking_assets.defs.resources import PrivacySettings, ReportSettings, Warehouse
from benchmarking_assets.store import participation
from benchmarking_assets.store.reports import delete_report_writes, generate

GROUP = "reports"
UPSTREAM = (
    "district_benchmarks",
    "cohort_benchmarks",
    "private_cohort_benchmarks",
    "participant_percentiles",
)
CHECK = "no_report_for_non_participant"


def preview_markdown(report: ReportData) -> str:
    """The district's percentiles among peers as an inline PNG, for the run's metadata."""
    encoded = base64.b64encode(percentile_chart_png(report)).decode()
    return f"![percentile among peers](data:image/png;base64,{encoded})"


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "benchmark_insights",
            group_name=GROUP,
            partitions_def=report_partitions,
            deps=[dg.AssetDep(a, partition_mapping=YEAR_OF_REPORT) for a in UPSTREAM],
            kinds={"python", "sql"},
            description="Deterministic insights per report: gaps, strengths, trends, what "
            "improving peers look like (aggregates), projections; severity and numbers.",
        ),
        dg.AssetSpec(
            "benchmark_reports",
            group_name=GROUP,
            partitions_def=report_partitions,
            deps=["benchmark_insights"],
            kinds={"pdf", "excel", "csv"},
            description="PDF, XLSX and long and wide CSV peer-benchmark report per participant "
            "and year, "
            "under REPORTS_DIR/{year}/{leaid}/; listed in benchmark_reports; audited.",
        ),
    ],
    partitions_def=report_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[
        dg.AssetCheckSpec(
            CHECK,
            asset="benchmark_reports",
            description="no report row for a district that is not a participant",
        ),
    ],
)
def reports_multi_asset(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    privacy: PrivacySettings,
    reports: ReportSettings,
):  # type: ignore[no-untyped-def]
    store = warehouse.store()
    active = set(participation.list_participants(store)["leaid"].to_list())
    done: list[dict[str, Any]] = []
    skipped: list[str] = []
    for year, leaids in parse_report_keys(list(context.partition_keys)).items():
        gone = [leaid for leaid in leaids if leaid not in active]
        if gone:
            writes, n = delete_report_writes(
                store, gone, [year], "report.delete_withdrawn", "dagster"
            )
            store.replace_many(writes)
            skipped += gone
            context.log.info(
                f"{year}: {len(gone)} district(s) not participating; {n} file(s) deleted"
            )
        keep = [leaid for leaid in leaids if leaid in active]
        if keep:
            policy = privacy.policy()
            done += generate(
                store,
                reports.reports_dir,
                year,
                keep,
                policy.k,
                policy.retention_days,
                budget_limit=policy.budget,
            )
    table = (
        pl.DataFrame([{k: v for k, v in d.items() if k not in ("paths", "_report")} for d in done])
        if done
        else pl.DataFrame()
    )
    insights_md = (
        "no reports generated"
        if not done
        else markdown_table(
            pl.DataFrame(
                [
                    {
                        "leaid": d["leaid"],
                        "year": d["year"],
                        "title": i.title,
                        "severity": i.severity,
                    }
                    for d in done
                    for i in d["_report"].insights[:3]
                ]
            ),
            15,
        )
    )
    yield dg.MaterializeResult(
        asset_key="benchmark_insights",
        metadata={
            "insights": sum(d["insights"] for d in done),
            "top_insights": dg.MetadataValue.md(insights_md),
        },
    )
    paths = [p for d in done for p in d["paths"].values()]
    metadata: dict[str, Any] = {
        "reports": len(done),
        "skipped_not_participating": len(skipped),
        "reports_dir": dg.MetadataValue.path(reports.reports_dir),
        "summary": dg.MetadataValue.md(
            markdown_table(table, 20) if done else "no reports generated"
        ),
        "paths": dg.MetadataValue.md("\n".join(f"- `{p}`" for p in paths[:60]) or "none"),
        "seconds_per_report": round(sum(d["seconds"] for d in done) / len(done), 3)
        if done
        else 0.0,
    }
    if done:
        metadata["first_pdf"] = dg.MetadataValue.path(done[0]["paths"]["pdf"])
        metadata["preview"] = dg.MetadataValue.md(preview_markdown(done[0]["_report"]))
    yield dg.MaterializeResult(asset_key="benchmark_reports", metadata=metadata)
    stray = store.scalar(
        "SELECT COUNT(*) FROM benchmark_reports r WHERE NOT EXISTS "
        "(SELECT 1 FROM benchmark_participants p WHERE p.leaid = r.leaid)"
    )
    yield dg.AssetCheckResult(
        asset_key="benchmark_reports",
        check_name=CHECK,
        passed=stray == 0,
        metadata={"rows_for_non_participants": int(stray)},
    )
