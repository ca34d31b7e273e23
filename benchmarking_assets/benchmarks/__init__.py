"""Benchmarks layer: state and national averages, district comparisons, trends and outliers.

The computation (``metrics``) is pure Polars; the Dagster assets and checks that run it per
year partition live in ``assets`` and ``checks``.
"""
