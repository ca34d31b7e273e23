"""Raw layer: per-source history partitioned by state × year."""

import dagster as dg

from benchmarking_assets.raw.assets import district_data_history
from benchmarking_assets.raw.partitions import state_year_partitions, year_partitions

raw_assets = [district_data_history]
raw_history_job = dg.define_asset_job(
    "raw_history_job",
    selection=dg.AssetSelection.groups("raw"),
    description="Load district_data_history for the chosen state × year partitions; one run "
    "covers a whole range (the asset's single-run backfill policy).",
)

__all__ = [
    "district_data_history",
    "raw_assets",
    "raw_history_job",
    "state_year_partitions",
    "year_partitions",
]
