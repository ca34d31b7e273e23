"""benchmarking-assets: privacy-safe peer benchmarks for US school districts, on Dagster.

Importing the package loads nothing else: the Dagster code location is
``benchmarking_assets.definitions``, the pure core ``benchmarking_assets.core``.
"""
