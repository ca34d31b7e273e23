"""Dagster definitions of the benchmarks group."""
