"""Benchmarks layer: state and national averages, district comparisons, trends and outliers.

The computation (``metrics``) is pure Polars; ``assets`` runs it per year partition against
the warehouse, and the checks of ``checks`` are reported by the assets themselves (check
specs), so ``benchmarks_checks`` is empty: nothing separate to register.
"""

import dagster as dg

from benchmarking_assets.benchmarks.assets import (
    district_benchmarks,
    district_outliers,
    state_benchmarks,
)

benchmarks_assets = [state_benchmarks, district_benchmarks, district_outliers]
benchmarks_checks: list = []
benchmarks_job = dg.define_asset_job(
    "benchmarks_job",
    selection=dg.AssetSelection.groups("benchmarks"),
    description="Recompute state and district benchmarks for the chosen years.",
)

__all__ = [
    "benchmarks_assets",
    "benchmarks_checks",
    "benchmarks_job",
    "district_benchmarks",
    "district_outliers",
    "state_benchmarks",
]
