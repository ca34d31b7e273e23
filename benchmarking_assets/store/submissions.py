"""Private submissions in the warehouse: inbox files ingested, consented contributions read,
expired or unconsented submissions purged (no Dagster).

:func:`ingest_file` validates one inbox file (:mod:`benchmarking_assets.core.submissions`) and
writes its accepted rows, its file record and an audit entry in one transaction. A file already
ingested (same SHA-256) changes nothing; a file with bad rows is moved to
``inbox/quarantine/`` with ``<name>.reasons.txt`` beside it and its valid rows are kept; a clean
file is deleted once its rows are in the warehouse (the warehouse is the system of record, so no
private copy lingers on disk).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from benchmarking_assets.core.catalog import CATEGORIES
from benchmarking_assets.core.submissions import ParsedFile, Registry, parse_bytes
from benchmarking_assets.store import audit, participation
from benchmarking_assets.store.raw import known_districts
from benchmarking_assets.store.warehouse import WarehouseStore, utc_now

SUBMISSION_SUFFIXES = (".csv", ".json")


def inbox_files(inbox: Path) -> list[Path]:
    """Submission files waiting in the inbox (top level only; hidden and partial files skipped)."""
    if not inbox.is_dir():
        return []
    return sorted(
        p
        for p in inbox.iterdir()
        if p.is_file() and p.suffix.lower() in SUBMISSION_SUFFIXES and not p.name.startswith(".")
    )


def validation_registry(store: WarehouseStore) -> Registry:
    """The known districts and what each participant shares: what validation must know."""
    return Registry(known_districts(store), participation.active_shares(store))


def ingest_file(store: WarehouseStore, path: Path, registry: Registry) -> dict[str, Any]:
    """Ingest one file atomically (rows, file record, audit entry); returns a count summary.

    ``registry`` is what the caller read before; the rows are re-validated against the
    registry as it stands under the participation lock when they are written, so a district
    that withdrew (or stopped sharing) meanwhile gets nothing inserted.
    """
    data = path.read_bytes()
    parsed = parse_bytes(path.name, data, registry)
    with store.participation_lock() as conn:
        shares_now = participation.active_shares(store, conn=conn)
        if shares_now != dict(registry.shares):
            registry = replace(registry, shares=shares_now)
            parsed = parse_bytes(path.name, data, registry)
        known = store.scalar(
            "SELECT COUNT(*) FROM benchmark_submission_files WHERE file_sha256 = :s",
            {"s": parsed.sha256},
            conn=conn,
        )
        if known:
            summary = {"file": path.name, "status": "already_ingested", "accepted": 0,
                       "rejected": 0}  # fmt: skip
        else:
            summary = _write_parsed(store, conn, path, parsed)
    if known:
        path.unlink(missing_ok=True)
        return summary
    if parsed.rejected.height:
        quarantine = path.parent / "quarantine"
        quarantine.mkdir(parents=True, exist_ok=True)
        (quarantine / f"{path.name}.reasons.txt").write_text(parsed.reasons_text, encoding="utf-8")
        path.replace(quarantine / path.name)
    else:
        path.unlink(missing_ok=True)
    return summary


def _write_parsed(
    store: WarehouseStore, conn: Connection, path: Path, parsed: ParsedFile
) -> dict[str, Any]:
    now = utc_now()
    rows = parsed.accepted.with_columns(
        file_sha256=pl.lit(parsed.sha256), received_at=pl.lit(now)
    ).select("leaid", "year", "category", "metric", "value", "file_sha256", "line", "received_at")
    status = "rejected" if parsed.file_error else ("partial" if parsed.rejected.height else "ok")
    counts = {"accepted": rows.height, "rejected": parsed.rejected.height}
    writes: list[tuple[str, pl.DataFrame, dict[str, Any] | None]] = []
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
    store.write_many(conn, writes)
    return {"file": path.name, "status": status, **counts, "errors": dict(errors)}


def _shared(category: str) -> str:
    """SQL: the participant ``p`` shares the submission's ``category`` column."""
    return " OR ".join(f"({category} = '{c}' AND p.shares_{c} = 1)" for c in CATEGORIES)


_SHARED = _shared("s.category")


def consented_contributions(
    store: WarehouseStore, year: int, conn: Connection | None = None
) -> pl.DataFrame:
    """Submissions of the year from current participants, in categories they still share."""
    return store.read_df(
        "SELECT s.leaid, s.category, s.metric, s.value FROM benchmark_metric_submissions s "
        f"JOIN benchmark_participants p ON p.leaid = s.leaid WHERE s.year = :y AND ({_SHARED})",
        {"y": year},
        schema={"leaid": pl.String(), "category": pl.String(), "metric": pl.String(),
                "value": pl.Float64()},
        conn=conn,
    )  # fmt: skip


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
