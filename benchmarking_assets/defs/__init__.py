"""Dagster definitions only: one folder per asset group (raw, benchmarks, privacy, reports,
retention), one home for resources (``resources.py``) and for partitions (``partitions.py``),
and ``automation/`` (jobs, schedules, sensors). Loaded by ``benchmarking_assets.definitions``.
"""

import warnings

import dagster as dg

# The code location deliberately uses APIs Dagster marks beta or preview (single-run backfill
# policies, multi-to-single partition mappings): silence those notices for our own modules.
for _category in (dg.BetaWarning, dg.PreviewWarning):
    warnings.filterwarnings("ignore", category=_category, module=r"benchmarking_assets\.")
