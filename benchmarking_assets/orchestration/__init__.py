"""Orchestration: schedules, sensors and the jobs they launch (docs/operations.md).

Add to ``Definitions``::

    jobs=[..., *orchestration_jobs],
    schedules=[..., *orchestration_schedules],
    sensors=[..., *orchestration_sensors],
"""

from benchmarking_assets.orchestration.common import year_downstream_job
from benchmarking_assets.orchestration.schedules import (
    cohorts_nightly,
    privacy_retention_job,
    raw_yearly_refresh,
    reports_nightly,
    retention_schedule,
)
from benchmarking_assets.orchestration.sensors import (
    new_year_sensor,
    participation_sensor,
    record_run_failures,
)

# The raw reloads use the raw layer's own raw_history_job (registered by definitions.py).
orchestration_jobs = [year_downstream_job, privacy_retention_job]
orchestration_schedules = [raw_yearly_refresh, cohorts_nightly, reports_nightly, retention_schedule]
orchestration_sensors = [new_year_sensor, participation_sensor, record_run_failures]

__all__ = [
    "orchestration_jobs",
    "orchestration_schedules",
    "orchestration_sensors",
]
