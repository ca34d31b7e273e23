"""What the schedules and sensors read, and the run-failure record (no Dagster).

The reads are read-only; a table that does not exist yet (a fresh warehouse nobody has loaded)
reads as empty instead of failing a tick.
"""

from __future__ import annotations

import polars as pl

from benchmarking_assets.store import participation
from benchmarking_assets.store.warehouse import WarehouseStore

FAILURE_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "job_name": pl.String(),
    "partition_key": pl.String(),
    "tags": pl.String(),
    "error_message": pl.String(),
    "failed_at": pl.String(),
}


def _has(store: WarehouseStore, table: str) -> bool:
    return table in store.table_names()


def submission_years(store: WarehouseStore) -> list[int]:
    """Years that hold private submissions (their private cohort outputs depend on membership)."""
    if not _has(store, "benchmark_metric_submissions"):
        return []
    frame = store.read_df("SELECT DISTINCT year FROM benchmark_metric_submissions ORDER BY year")
    return [int(y) for y in frame.get_column("year").to_list()] if frame.height else []


def active_shares(store: WarehouseStore) -> dict[str, frozenset[str]]:
    """Enrolled districts and the categories they share (withdrawal deletes the row)."""
    if not _has(store, "benchmark_participants"):
        return {}
    return participation.active_shares(store)


def record_failure(store: WarehouseStore, row: dict[str, str | None]) -> None:
    """One ``pipeline_failures`` row per failed run (re-recording a run replaces its row)."""
    store.ensure_migrated()
    store.replace_rows(
        "pipeline_failures", pl.DataFrame([row], schema=FAILURE_SCHEMA), {"run_id": row["run_id"]}
    )
