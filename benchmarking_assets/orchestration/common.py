"""Jobs the schedules and sensors launch, and what they read from the warehouse.

The warehouse reads are read-only; a table that does not exist yet (a fresh warehouse nobody
has loaded) reads as empty instead of failing a tick.
"""

from __future__ import annotations

import dagster as dg

from benchmarking_assets.benchmarks import benchmarks_job
from benchmarking_assets.cohorts import cohorts_job
from benchmarking_assets.geography import STATE_CODES
from benchmarking_assets.privacy import participation
from benchmarking_assets.raw.partitions import RANGE_END, RANGE_START
from benchmarking_assets.warehouse.store import WarehouseStore

RAW_ASSET = dg.AssetKey("district_data_history")

year_downstream_job = dg.define_asset_job(
    "year_downstream_job",
    selection=benchmarks_job.selection | cohorts_job.selection,
    description="Benchmarks then cohorts for the years of a newly loaded raw year.",
)


def all_states_tags(year: int) -> dict[str, str]:
    """Range tags for one run over every state of ``year`` (a rectangle: one column)."""
    return {RANGE_START: f"{STATE_CODES[0]}|{year}", RANGE_END: f"{STATE_CODES[-1]}|{year}"}


def _has(store: WarehouseStore, table: str) -> bool:
    return table in store.table_names()


def loaded_years(store: WarehouseStore) -> list[int]:
    """Years with at least one row in ``district_data_history``, ascending."""
    if not _has(store, "district_data_history"):
        return []
    frame = store.read_df("SELECT DISTINCT year FROM district_data_history ORDER BY year")
    return [int(y) for y in frame.get_column("year").to_list()] if frame.height else []


def newest_loaded_year(store: WarehouseStore) -> int | None:
    years = loaded_years(store)
    return years[-1] if years else None


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
