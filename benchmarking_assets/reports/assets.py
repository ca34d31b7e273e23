"""Report assets (group ``reports``): ``benchmark_insights`` and ``benchmark_reports``.

(No ``from __future__ import annotations``: Dagster 1.13 rejects a string annotation of
``context``.)

One multi-asset, partitioned participant × year, single-run backfills: each run reads the
frames of a year once for all its districts (:func:`content.read_frames`), then per district
builds the report, derives its insights, renders PDF, XLSX and CSV under
``{REPORTS_DIR}/{year}/{leaid}/``, and writes ``benchmark_insights``, ``benchmark_reports`` and
one audit entry per generation and per exported file in one transaction. A partition whose
district is no longer a participant (withdrawal deletes its ``benchmark_participants`` row)
gets no report: its files and rows are deleted instead (audited), and it is skipped.

Also here, for the lead's jobs and sensors: :func:`sync_report_partitions` (dynamic partitions
follow the participant registry) and :func:`purge_expired_reports` (``DATA_RETENTION_DAYS``).
"""

import base64
import hashlib
import io
import json
import os
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
from pydantic import Field

from benchmarking_assets.cohorts.assets import PrivacySettings
from benchmarking_assets.metadata import markdown_table
from benchmarking_assets.privacy import audit, participation
from benchmarking_assets.reports.content import ReportData, build_report, read_frames
from benchmarking_assets.reports.exports import render_csv, report_path, validate_key
from benchmarking_assets.reports.insights import derive_insights
from benchmarking_assets.reports.partitions import participant_partitions, report_partitions
from benchmarking_assets.reports.render_pdf import render_pdf
from benchmarking_assets.reports.render_xlsx import render_xlsx
from benchmarking_assets.settings import default_reports_dir, env_or
from benchmarking_assets.warehouse import Warehouse, WarehouseStore

GROUP = "reports"
YEAR = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="year")
UPSTREAM = (
    "district_benchmarks",
    "cohort_benchmarks",
    "private_cohort_benchmarks",
    "participant_percentiles",
)
CHECK = "no_report_for_non_participant"
REPORT_SCHEMA = {
    "leaid": pl.String(),
    "year": pl.Int32(),
    "format": pl.String(),
    "path": pl.String(),
    "bytes": pl.Int64(),
    "sha256": pl.String(),
    "generated_at": pl.String(),
    "expires_at": pl.String(),
}
INSIGHT_SCHEMA = {
    "leaid": pl.String(),
    "year": pl.Int32(),
    "insight_rank": pl.Int32(),
    "kind": pl.String(),
    "metric": pl.String(),
    "severity": pl.String(),
    "title": pl.String(),
    "detail": pl.String(),
    "numbers": pl.String(),
    "generated_at": pl.String(),
}
_TS = "%Y-%m-%dT%H:%M:%SZ"


class ReportSettings(dg.ConfigurableResource):
    """Where report files go (``REPORTS_DIR``, default ``data/reports``)."""

    reports_dir: str = Field(default_factory=default_reports_dir)


def build_report_settings() -> ReportSettings:
    return ReportSettings(reports_dir=env_or("REPORTS_DIR", default_reports_dir()))


# ---------------------------------------------------------------------------- files
def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def render_files(report: ReportData, reports_dir: str) -> dict[str, tuple[Path, bytes]]:
    """Render the three formats and write them; returns ``format → (path, bytes)``."""
    out = {}
    for fmt, render in (("pdf", render_pdf), ("xlsx", render_xlsx), ("csv", render_csv)):
        data = render(report)
        path = report_path(reports_dir, report.leaid, report.year, fmt)
        _write_atomic(path, data)
        out[fmt] = (path, data)
    return out


def delete_report_writes(
    store: WarehouseStore, leaids: list[str], years: list[int] | None, action: str, actor: str
) -> tuple[list[tuple[str, pl.DataFrame, dict[str, Any]]], int]:
    """Delete the files of the districts' reports; returns the table deletes (+ audit) to run."""
    where: dict[str, Any] = {"leaid": leaids} | ({"year": years} if years is not None else {})
    rows = store.read_table("benchmark_reports", REPORT_SCHEMA, where=where)
    for path in map(Path, rows["path"]):
        path.unlink(missing_ok=True)
        if path.parent.is_dir() and not any(path.parent.iterdir()):
            path.parent.rmdir()
    empty = pl.DataFrame(schema={"leaid": pl.String()})
    writes = [("benchmark_reports", empty, where), ("benchmark_insights", empty, where)]
    for leaid, group in rows.group_by("leaid"):
        years_deleted = sorted(set(group["year"].to_list()))
        details = {"years": years_deleted, "files": group.height}
        writes.append(audit.audit_write(action, details, str(leaid[0]), actor))
    return writes, rows.height


def generate(
    store: WarehouseStore,
    reports_dir: str,
    year: int,
    leaids: list[str],
    k: int,
    retention_days: int,
    actor: str = "dagster",
) -> list[dict[str, Any]]:
    """Generate (or regenerate) the reports of active participants ``leaids`` for ``year``."""
    frames = read_frames(store, year, leaids, k)
    now = datetime.now(UTC)
    stamp, expires = now.strftime(_TS), (now + timedelta(days=retention_days)).strftime(_TS)
    reports, insights, writes, summary = [], [], [], []
    for leaid in leaids:
        started = time.perf_counter()
        report = build_report(frames, leaid, stamp)
        report = replace(report, insights=derive_insights(report, frames.peer_members))
        files = render_files(report, reports_dir)
        for fmt, (path, data) in files.items():
            sha = hashlib.sha256(data).hexdigest()
            reports.append((leaid, year, fmt, str(path), len(data), sha, stamp, expires))
            details = {"year": year, "format": fmt, "bytes": len(data), "sha256": sha}
            writes.append(audit.audit_write("report.export", details, leaid, actor))
        for rank, ins in enumerate(report.insights, start=1):
            numbers = json.dumps(ins.numbers, sort_keys=True, default=str)
            insights.append(
                (
                    leaid,
                    year,
                    rank,
                    ins.kind,
                    ins.metric,
                    ins.severity,
                    ins.title,
                    ins.detail,
                    numbers,
                    stamp,
                )
            )
        details = {
            "year": year,
            "formats": list(files),
            "insights": len(report.insights),
            "expires_at": expires,
        }
        writes.append(audit.audit_write("report.generate", details, leaid, actor))
        summary.append(
            {
                "leaid": leaid,
                "district": report.lea_name,
                "state": report.state_code,
                "year": year,
                "insights": len(report.insights),
                "seconds": round(time.perf_counter() - started, 3),
                "paths": {f: str(p) for f, (p, _) in files.items()},
                "_report": report,
            }
        )
    where = {"leaid": leaids, "year": year}
    store.replace_many(
        [
            ("benchmark_reports", pl.DataFrame(reports, REPORT_SCHEMA, orient="row"), where),
            ("benchmark_insights", pl.DataFrame(insights, INSIGHT_SCHEMA, orient="row"), where),
            *writes,
        ]
    )
    return summary


def purge_expired_reports(
    store: WarehouseStore,
    retention_days: int | None = None,
    now: datetime | None = None,
    actor: str = "dagster",
) -> dict[str, int]:
    """Delete reports past ``expires_at`` (or generated more than ``retention_days`` ago):
    files, ``benchmark_reports`` and ``benchmark_insights`` rows, plus one audit entry."""
    now = now or datetime.now(UTC)
    params = {"now": now.strftime(_TS), "cut": "0000"}
    if retention_days is not None:
        params["cut"] = (now - timedelta(days=retention_days)).strftime(_TS)
    expired = store.read_df(
        "SELECT DISTINCT leaid, year FROM benchmark_reports WHERE expires_at < :now "
        "OR generated_at < :cut",
        params,
        {"leaid": pl.String(), "year": pl.Int32()},
    )
    writes: list[tuple[str, pl.DataFrame, dict[str, Any]]] = []
    files = 0
    # One read and one delete per year, not per report.
    for (year,), group in expired.group_by("year"):
        deletes, n = delete_report_writes(
            store, group["leaid"].to_list(), [int(year)], "retention.report_purge", actor
        )
        writes += deletes
        files += n
    details = {"cutoff": params["now"], "reports": expired.height, "files": files}
    writes.append(audit.audit_write("retention.reports_purge", details, actor=actor))
    store.replace_many(writes)
    return {"reports_purged": expired.height, "files_purged": files}


def sync_report_partitions(
    instance: dg.DagsterInstance, store: WarehouseStore
) -> tuple[list[str], list[str]]:
    """Dynamic ``participants`` partitions := active participants; a removed district's report
    files and rows are deleted too. Returns ``(added, removed)`` leaids."""
    active = set(participation.list_participants(store)["leaid"].to_list())
    name = participant_partitions.name
    assert name is not None
    existing = set(instance.get_dynamic_partitions(name))
    added, removed = sorted(active - existing), sorted(existing - active)
    if added:
        instance.add_dynamic_partitions(name, added)
    for leaid in removed:
        instance.delete_dynamic_partition(name, leaid)
    stale = store.read_df(
        "SELECT DISTINCT leaid FROM benchmark_reports r WHERE NOT EXISTS "
        "(SELECT 1 FROM benchmark_participants p WHERE p.leaid = r.leaid)",
        schema={"leaid": pl.String()},
    )["leaid"].to_list()
    if stale:
        writes, _ = delete_report_writes(store, stale, None, "report.delete_withdrawn", "dagster")
        store.replace_many(writes)
    return added, removed


# ---------------------------------------------------------------------------- the asset
def parse_keys(keys: list[str]) -> dict[int, list[str]]:
    """``["0601234|2019", …]`` → ``{2019: ["0601234", …]}`` (validated)."""
    by_year: dict[int, list[str]] = {}
    for key in keys:
        parts = key.keys_by_dimension if isinstance(key, dg.MultiPartitionKey) else None
        leaid, year = (parts["participant"], parts["year"]) if parts else str(key).split("|")
        leaid, y = validate_key(leaid, year)
        by_year.setdefault(y, []).append(leaid)
    return {y: sorted(set(v)) for y, v in sorted(by_year.items())}


def preview_markdown(report: ReportData) -> str:
    """A PNG (matplotlib, Agg) of the district's percentile among peers per metric, as md."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(m.info.label, m.percentile_rank) for m in report.metrics if m.percentile_rank]
    fig, ax = plt.subplots(figsize=(6, 0.35 * max(len(rows), 1) + 1.1), dpi=80)
    ax.barh([r[0] for r in rows][::-1], [r[1] for r in rows][::-1], color="#1f4e79")
    for x in (25, 50, 75):
        ax.axvline(x, color="#999999", lw=0.8, ls="--")
    ax.set_xlim(0, 100)
    ax.set_xlabel("percentile among peers (50 = middle)")
    ax.set_title(f"{report.lea_name} ({report.state_code}), {report.year}", fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return f"![percentile among peers](data:image/png;base64,{encoded})"


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "benchmark_insights",
            group_name=GROUP,
            partitions_def=report_partitions,
            deps=[dg.AssetDep(a, partition_mapping=YEAR) for a in UPSTREAM],
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
            description="PDF, XLSX and CSV peer-benchmark report per participant and year, "
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
    for year, leaids in parse_keys(list(context.partition_keys)).items():
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
            done += generate(
                store,
                reports.reports_dir,
                year,
                keep,
                privacy.min_cohort_size,
                privacy.retention_days,
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


@dg.asset(
    group_name="reports",
    deps=["benchmark_reports"],
    kinds={"sql"},
    description="Deletes reports (files, rows, insights) older than DATA_RETENTION_DAYS.",
)
def report_retention(warehouse: Warehouse, privacy: PrivacySettings) -> dg.MaterializeResult:
    counts = purge_expired_reports(warehouse.store(), privacy.retention_days)
    return dg.MaterializeResult(metadata={**counts, "retention_days": privacy.retention_days})
