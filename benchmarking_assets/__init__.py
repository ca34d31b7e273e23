"""benchmarking-assets: privacy-safe peer benchmarks for US school districts, on Dagster."""

import warnings

import dagster as dg

# The code location deliberately uses APIs Dagster marks beta (single-run backfill policies,
# multi-to-single partition mappings); silence those notices for our own definitions only.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)
    warnings.simplefilter("ignore", dg.PreviewWarning)
    from benchmarking_assets.definitions import defs

__all__ = ["defs"]
