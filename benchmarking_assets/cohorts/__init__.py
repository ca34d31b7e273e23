"""Peer cohorts and privacy, as Dagster assets (group ``cohorts``).

The logic lives in :mod:`benchmarking_assets.privacy` (pure, no Dagster); this package wires
it: the ``privacy`` resource (:class:`PrivacySettings`), the year-partitioned assets, the inbox
sensor, and the jobs. Add to ``Definitions``::

    assets=[..., *cohorts_assets], asset_checks=[..., *cohorts_checks],
    sensors=[*cohorts_sensors], jobs=[..., *cohorts_jobs], schedules=[*cohorts_schedules],
    resources={..., "privacy": build_privacy_settings()}
"""

from benchmarking_assets.cohorts.assets import (
    PrivacySettings,
    benchmark_metric_submissions,
    build_privacy_settings,
    cohort_benchmarks,
    participant_percentiles,
    peer_cohorts,
    privacy_retention,
    private_cohort_benchmarks,
)
from benchmarking_assets.cohorts.sensors import (
    cohorts_job,
    submissions_inbox_sensor,
    submissions_job,
)

cohorts_assets = [
    benchmark_metric_submissions,
    peer_cohorts,
    cohort_benchmarks,
    participant_percentiles,
    private_cohort_benchmarks,
    privacy_retention,
]
cohorts_checks: list = []  # the n ≥ k checks are check specs of the assets themselves
cohorts_sensors = [submissions_inbox_sensor]
cohorts_jobs = [submissions_job, cohorts_job]
# The retention job and its daily schedule live in ``benchmarking_assets.orchestration``:
# they purge this layer's submissions and the reports layer's files together.
cohorts_schedules: list = []

__all__ = [
    "PrivacySettings",
    "build_privacy_settings",
    "cohorts_assets",
    "cohorts_checks",
    "cohorts_jobs",
    "cohorts_schedules",
    "cohorts_sensors",
]
