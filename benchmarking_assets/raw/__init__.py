"""Raw layer: per-source history partitioned by state × year."""

from benchmarking_assets.raw.assets import district_data_history
from benchmarking_assets.raw.partitions import state_year_partitions, year_partitions

raw_assets = [district_data_history]

__all__ = ["district_data_history", "raw_assets", "state_year_partitions", "year_partitions"]
