"""Benchmarks layer: state and national averages, district comparisons, trends and outliers.

The computation (``metrics``) is pure Polars; ``assets`` runs it per year partition against
the warehouse, and the checks of ``checks`` are reported by the assets themselves (check
specs), so ``benchmarks_checks`` is empty: nothing separate to register.
"""

from benchmarking_assets.benchmarks.assets import (
    district_benchmarks,
    district_outliers,
    state_benchmarks,
)

benchmarks_assets = [state_benchmarks, district_benchmarks, district_outliers]
benchmarks_checks: list = []

__all__ = [
    "benchmarks_assets",
    "benchmarks_checks",
    "district_benchmarks",
    "district_outliers",
    "state_benchmarks",
]
