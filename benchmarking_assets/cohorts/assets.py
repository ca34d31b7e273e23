"""Cohort and privacy assets (group ``cohorts``); the logic is in ``benchmarking_assets.privacy``.

(No ``from __future__ import annotations``: Dagster 1.13 rejects a string annotation of
``context``.)

* ``benchmark_metric_submissions`` (unpartitioned): ingests inbox files (the run config's
  ``files``, or every file in the inbox). A file already ingested (same SHA-256) changes
  nothing; a file with bad rows is moved to ``inbox/quarantine/`` with ``<name>.reasons.txt``
  beside it and its valid rows are kept; a clean file is deleted once its rows are in the
  warehouse (the warehouse is the system of record, so no private copy lingers on disk).
* ``peer_cohorts``, ``cohort_benchmarks``, ``participant_percentiles``,
  ``private_cohort_benchmarks`` (partitioned by year, single-run backfills).
* ``privacy_retention`` (unpartitioned): purges submissions older than ``DATA_RETENTION_DAYS``
  (by ``received_at``), submissions no longer covered by a participant's consent, and
  quarantined files older than the retention period.

Every published table gets a ``min_cohort_size`` check (no row with n < k, over the whole
table), and metadata and logs only carry counts of published cells and previews of published
rows — never a count or value of a suppressed cell or a single participant's private value.
"""

import os
import time
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import sqlalchemy as sa
from pydantic import Field

from benchmarking_assets.metadata import frame_metadata
from benchmarking_assets.privacy import audit, participation
from benchmarking_assets.privacy.catalog import CATEGORIES, METRICS, PUBLIC_METRICS
from benchmarking_assets.privacy.cohorts import (
    KEY_COLUMNS,
    PeerCriteria,
    assign_cohorts,
    contributor_cohorts,
    district_keys,
    frl_cut_points,
    ladder,
)
from benchmarking_assets.privacy.dp import RELEASE_SCHEMA, private_means
from benchmarking_assets.privacy.stats import cohort_statistics, percentile_ranks
from benchmarking_assets.privacy.submissions import Registry, parse_file
from benchmarking_assets.raw.partitions import partition_years, year_partitions
from benchmarking_assets.settings import DEFAULTS, default_inbox_dir, env_or
from benchmarking_assets.warehouse import Warehouse, WarehouseStore
from benchmarking_assets.warehouse.store import utc_now

RAW_YEAR = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="year")
GROUP = "cohorts"
CHECK = "min_cohort_size"
MAPPING_CHECK = "participant_private_benchmarks_min_cohort_size"
SUBMISSION_SUFFIXES = (".csv", ".json")
CRITERIA = ("size", "locale", "frl", "grade_span", "geography")


class PrivacySettings(dg.ConfigurableResource):
    """k, ε, retention and the inbox (``MIN_COHORT_SIZE``, ``DIFFERENTIAL_PRIVACY_EPSILON``,
    ``DATA_RETENTION_DAYS``, ``SUBMISSIONS_INBOX_DIR``), and which peer criteria to use."""

    # no pydantic bounds here (they reject EnvVar values); k ≥ 1, ε > 0 are checked where used
    min_cohort_size: int = Field(default=5, description="k: minimum contributors per cell")
    epsilon: float = Field(default=1.0, description="ε per DP release")
    retention_days: int = Field(default=365, description="days a submission is kept")
    inbox_dir: str = Field(default_factory=default_inbox_dir)
    criteria: list[str] = Field(default=list(CRITERIA), description=f"subset of {CRITERIA}")

    def peer_criteria(self) -> PeerCriteria:
        unknown = set(self.criteria) - set(CRITERIA)
        if unknown:
            raise ValueError(f"unknown peer criteria {sorted(unknown)}; choose from {CRITERIA}")
        return PeerCriteria(**{c: c in self.criteria for c in CRITERIA})


def build_privacy_settings() -> PrivacySettings:
    """The resource from the environment. Dagster has no float ``EnvVar``, so ε is read here."""
    epsilon = (
        os.environ.get("DIFFERENTIAL_PRIVACY_EPSILON") or DEFAULTS["DIFFERENTIAL_PRIVACY_EPSILON"]
    )
    return PrivacySettings(
        min_cohort_size=env_or("MIN_COHORT_SIZE", int(DEFAULTS["MIN_COHORT_SIZE"])),
        epsilon=float(epsilon),
        retention_days=env_or("DATA_RETENTION_DAYS", int(DEFAULTS["DATA_RETENTION_DAYS"])),
        inbox_dir=env_or("SUBMISSIONS_INBOX_DIR", default_inbox_dir()),
    )


# ---------------------------------------------------------------------------- helpers
def min_size_check(
    store: WarehouseStore, table: str, column: str, k: int, asset: str, name: str = CHECK
) -> dg.AssetCheckResult:
    """Whole table: no row with ``column`` < k (and, for peer_cohorts, no real group < k)."""
    small = store.scalar(f"SELECT COUNT(*) FROM {table} WHERE {column} < :k", {"k": k})
    if table == "peer_cohorts":
        small += store.scalar(
            "SELECT COUNT(*) FROM (SELECT year, cohort_id FROM peer_cohorts "
            "GROUP BY year, cohort_id HAVING COUNT(*) < :k) AS g",
            {"k": k},
        )
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=name,
        passed=small == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"k": k, "rows_below_k": int(small), "table": table},
    )


def _check_spec(asset: str, what: str) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(CHECK, asset=asset, description=f"no {what} below MIN_COHORT_SIZE")]


# ---------------------------------------------------------------------------- ingestion
class SubmissionFiles(dg.Config):
    files: list[str] = Field(default=[], description="paths to ingest; empty = the whole inbox")


def inbox_files(inbox: Path) -> list[Path]:
    """Submission files waiting in the inbox (top level only; hidden and partial files skipped)."""
    if not inbox.is_dir():
        return []
    return sorted(
        p
        for p in inbox.iterdir()
        if p.is_file() and p.suffix.lower() in SUBMISSION_SUFFIXES and not p.name.startswith(".")
    )


def _registry(store: WarehouseStore) -> Registry:
    districts = store.read_df(
        "SELECT DISTINCT leaid FROM district_data_history", schema={"leaid": pl.String()}
    )
    return Registry(frozenset(districts["leaid"]), participation.active_shares(store))


def ingest_file(store: WarehouseStore, path: Path, registry: Registry) -> dict[str, Any]:
    """Ingest one file atomically (rows, file record, audit entry); returns a count summary."""
    parsed = parse_file(path, registry)
    known = store.scalar(
        "SELECT COUNT(*) FROM benchmark_submission_files WHERE file_sha256 = :s",
        {"s": parsed.sha256},
    )
    if known:
        path.unlink(missing_ok=True)
        return {"file": path.name, "status": "already_ingested", "accepted": 0, "rejected": 0}
    now = utc_now()
    rows = parsed.accepted.with_columns(
        file_sha256=pl.lit(parsed.sha256), received_at=pl.lit(now)
    ).select("leaid", "year", "category", "metric", "value", "file_sha256", "line", "received_at")
    status = "rejected" if parsed.file_error else ("partial" if parsed.rejected.height else "ok")
    counts = {"accepted": rows.height, "rejected": parsed.rejected.height}
    writes: list[tuple[str, pl.DataFrame, dict[str, Any]]] = []
    for (leaid, year), part in rows.group_by("leaid", "year", maintain_order=True):
        where = {"leaid": leaid, "year": year, "metric": part["metric"].to_list()}
        writes.append(("benchmark_metric_submissions", part, where))
    record = pl.DataFrame(
        [{"file_sha256": parsed.sha256, "file_name": path.name, "received_at": now,
          "rows_accepted": counts["accepted"], "rows_rejected": counts["rejected"],
          "status": status}]
    )  # fmt: skip
    writes.append(("benchmark_submission_files", record, {"file_sha256": parsed.sha256}))
    errors = parsed.rejected.group_by("error").len().sort("error").rows()
    details = {"file": path.name, "sha256": parsed.sha256, **counts, "errors": dict(errors)}
    writes.append(audit.audit_write("submissions.ingest", details, actor="inbox"))
    store.replace_many(writes)
    if parsed.rejected.height:
        quarantine = path.parent / "quarantine"
        quarantine.mkdir(parents=True, exist_ok=True)
        (quarantine / f"{path.name}.reasons.txt").write_text(parsed.reasons_text, encoding="utf-8")
        path.replace(quarantine / path.name)
    else:
        path.unlink(missing_ok=True)
    return {"file": path.name, "status": status, **counts, "errors": dict(errors)}


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
    paths = [Path(f) for f in config.files] or inbox_files(Path(privacy.inbox_dir))
    registry = _registry(store)
    results = []
    for path in paths:
        if not path.exists():
            context.log.warning(f"{path.name}: no longer in the inbox (already processed?)")
            continue
        summary = ingest_file(store, path, registry)
        context.log.info(
            f"{summary['file']}: {summary['status']}, {summary['accepted']} row(s) accepted, "
            f"{summary['rejected']} rejected"
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


# ---------------------------------------------------------------------------- cohorts
PEER_COHORTS_SCHEMA: dict[str, pl.DataType] = {
    "year": pl.Int32(),
    "leaid": pl.String(),
    "cohort_id": pl.String(),
    "cohort_size": pl.Int32(),
    "ladder_level": pl.Int32(),
    "ladder_step": pl.String(),
    "merged_leftover": pl.Int32(),
    **{c: pl.String() for c in KEY_COLUMNS},
}
_DISTRICT_COLUMNS = {
    "leaid": pl.String(),
    "state_code": pl.String(),
    "enrollment": pl.Int64(),
    "frl_students": pl.Int64(),
    "urban_centric_locale": pl.Int32(),
    "lowest_grade": pl.Int32(),
    "highest_grade": pl.Int32(),
}


def compute_peer_cohorts(
    store: WarehouseStore, year: int, k: int, criteria: PeerCriteria
) -> tuple[pl.DataFrame, tuple[float, float, float] | None]:
    districts = store.read_table(
        "district_data_history", _DISTRICT_COLUMNS, where={"year": year}, order_by=("leaid",)
    )
    keys = district_keys(districts)
    assigned, _suppressed = assign_cohorts(keys, k, ladder(criteria))
    cohorts = (
        assigned.join(keys, on="leaid")
        .with_columns(
            year=pl.lit(year, pl.Int32),
            cohort_size=pl.len().over("cohort_id").cast(pl.Int32),
        )
        .select(list(PEER_COHORTS_SCHEMA))
    )
    return cohorts, frl_cut_points(districts)


@dg.asset(
    group_name=GROUP,
    partitions_def=year_partitions,
    deps=[dg.AssetDep("district_data_history", partition_mapping=RAW_YEAR)],
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


def public_values(store: WarehouseStore, year: int) -> pl.DataFrame:
    """``leaid, cohort_id, metric, value`` of the year's public metrics, by peer cohort."""
    columns = ", ".join(f"b.{m}" for m in PUBLIC_METRICS)
    wide = store.read_df(
        f"SELECT p.leaid, p.cohort_id, {columns} FROM district_benchmarks b "
        "JOIN peer_cohorts p ON p.leaid = b.leaid AND p.year = b.year WHERE b.year = :y",
        {"y": year},
        schema={"leaid": pl.String(), "cohort_id": pl.String()}
        | {m: pl.Float64() for m in PUBLIC_METRICS},
    )
    return wide.unpivot(
        index=["leaid", "cohort_id"], on=list(PUBLIC_METRICS), variable_name="metric"
    ).drop_nulls("value")


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


# ---------------------------------------------------------------------------- private
def _shared(category: str) -> str:
    """SQL: the participant ``p`` shares the submission's ``category`` column."""
    return " OR ".join(f"({category} = '{c}' AND p.shares_{c} = 1)" for c in CATEGORIES)


_SHARED = _shared("s.category")


def consented_contributions(store: WarehouseStore, year: int) -> pl.DataFrame:
    """Submissions of the year from current participants, in categories they still share."""
    return store.read_df(
        "SELECT s.leaid, s.category, s.metric, s.value FROM benchmark_metric_submissions s "
        f"JOIN benchmark_participants p ON p.leaid = s.leaid WHERE s.year = :y AND ({_SHARED})",
        {"y": year},
        schema={"leaid": pl.String(), "category": pl.String(), "metric": pl.String(),
                "value": pl.Float64()},
    )  # fmt: skip


def release_year(
    store: WarehouseStore, year: int, k: int, epsilon: float, criteria: PeerCriteria
) -> dict[str, Any]:
    """Pool contributors, release DP means (reusing stored releases), write it all atomically."""
    contributions = consented_contributions(store, year)
    keys = store.read_table(
        "peer_cohorts", {"leaid": pl.String(), **{c: pl.String() for c in KEY_COLUMNS}},
        where={"year": year},
    )  # fmt: skip
    pooled = contributor_cohorts(contributions.select("leaid", "metric"), keys, k, ladder(criteria))
    members = pooled.join(contributions, on=["leaid", "metric"]).select(
        "leaid", "category", "metric", "cohort_id", "value"
    )
    stored = store.read_table("dp_releases", RELEASE_SCHEMA, where={"year": year})
    result = private_means(members, year, epsilon, stored, utc_now())
    releases = result.releases
    catalog = pl.DataFrame(
        {
            "metric": list(METRICS),
            "category": [m.category for m in METRICS.values()],
            "unit": [m.unit for m in METRICS.values()],
            "lower_bound": [m.lower for m in METRICS.values()],
            "upper_bound": [m.upper for m in METRICS.values()],
        }
    )
    table = releases.join(catalog, on="metric").select(
        "year", "cohort_id", "category", "metric", "unit", "n", "dp_mean", "lower_bound",
        "upper_bound", "epsilon", "noise_scale", "mechanism", "release_id",
    )  # fmt: skip
    mapping = members.join(releases.select("metric", "cohort_id", "n"), on=["metric", "cohort_id"])
    mapping = mapping.select(
        pl.lit(year, pl.Int32).alias("year"), "leaid", "category", "metric", "cohort_id", "n"
    )
    details = {
        "year": year,
        "releases": releases.height,
        "new_releases": result.charges.height,
        "reused": result.reused,
        "epsilon_charged": float(result.charges["epsilon"].sum()),
    }
    where = {"year": year}
    store.replace_many(
        [
            ("private_cohort_benchmarks", table, where),
            ("participant_private_benchmarks", mapping, where),
            ("dp_releases", releases, where),
            (
                "privacy_budget_ledger",
                result.charges,
                {"release_id": result.charges["release_id"].to_list()},
            ),
            audit.audit_write("private_benchmarks.release", details, actor="dagster"),
        ]
    )
    return {**details, "table": table}


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


# ---------------------------------------------------------------------------- retention
def purge_expired(store: WarehouseStore, retention_days: int, inbox: Path) -> dict[str, int]:
    """Delete expired or no-longer-consented submissions and old quarantined files."""
    if retention_days < 1:
        raise ValueError(f"DATA_RETENTION_DAYS must be ≥ 1, got {retention_days}")
    max_age = retention_days * 86_400
    cutoff = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - max_age))
    condition = (
        "received_at < :c OR NOT EXISTS (SELECT 1 FROM benchmark_participants p WHERE "
        f"p.leaid = benchmark_metric_submissions.leaid AND ({_shared('category')}))"
    )
    with store.transaction() as conn:
        purged = conn.execute(
            sa.text(f"DELETE FROM benchmark_metric_submissions WHERE {condition}"), {"c": cutoff}
        ).rowcount
        entry = audit.audit_frame(
            "retention.purge", {"cutoff": cutoff, "submissions": purged}, actor="dagster"
        )
        store.bulk_insert(conn, "privacy_audit_log", entry)
    files = 0
    quarantine = inbox / "quarantine"
    if quarantine.is_dir():
        for path in quarantine.iterdir():
            if path.is_file() and path.stat().st_mtime < time.time() - max_age:
                path.unlink()
                files += 1
    return {"submissions_purged": int(purged), "quarantine_files_purged": files}


@dg.asset(
    group_name=GROUP,
    deps=["benchmark_metric_submissions"],
    kinds={"sql"},
    description="Purges submissions older than DATA_RETENTION_DAYS or no longer consented to.",
)
def privacy_retention(warehouse: Warehouse, privacy: PrivacySettings) -> dg.MaterializeResult:
    counts = purge_expired(warehouse.store(), privacy.retention_days, Path(privacy.inbox_dir))
    return dg.MaterializeResult(metadata={**counts, "retention_days": privacy.retention_days})
