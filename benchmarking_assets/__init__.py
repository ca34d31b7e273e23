"""benchmarking-assets: privacy-safe peer benchmarks for US school districts, on Dagster."""

from benchmarking_assets.definitions import defs

__all__ = ["defs"]
