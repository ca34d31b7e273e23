"""The code location: one ``Definitions`` assembling every layer of the lineage.

raw (state × year) → benchmarks (year) → … ; resources read their settings from the
environment (SPEC §7) with working defaults.
"""

from __future__ import annotations

import dagster as dg

from benchmarking_assets.benchmarks import benchmarks_assets, benchmarks_checks, benchmarks_job
from benchmarking_assets.cohorts import (
    build_privacy_settings,
    cohorts_assets,
    cohorts_checks,
    cohorts_jobs,
    cohorts_schedules,
    cohorts_sensors,
)
from benchmarking_assets.orchestration import (
    orchestration_jobs,
    orchestration_schedules,
    orchestration_sensors,
)
from benchmarking_assets.raw import raw_assets, raw_history_job
from benchmarking_assets.reports import (
    build_report_settings,
    reports_assets,
    reports_checks,
    reports_jobs,
)
from benchmarking_assets.settings import DEFAULTS, default_database_url, env_or
from benchmarking_assets.sources import EducationDataSource
from benchmarking_assets.warehouse import Warehouse


def build_resources() -> dict[str, dg.ConfigurableResource]:
    return {
        "warehouse": Warehouse(database_url=env_or("DATABASE_URL", default_database_url())),
        "education_data": EducationDataSource(
            source=env_or("EDUCATION_DATA_SOURCE", DEFAULTS["EDUCATION_DATA_SOURCE"]),
            api_url=env_or("EDUCATION_DATA_API_URL", DEFAULTS["EDUCATION_DATA_API_URL"]),
        ),
        "privacy": build_privacy_settings(),
        "reports": build_report_settings(),
    }


defs = dg.Definitions(
    assets=[*raw_assets, *benchmarks_assets, *cohorts_assets, *reports_assets],
    asset_checks=[*benchmarks_checks, *cohorts_checks, *reports_checks],
    jobs=[raw_history_job, benchmarks_job, *cohorts_jobs, *reports_jobs, *orchestration_jobs],
    sensors=[*cohorts_sensors, *orchestration_sensors],
    schedules=[*cohorts_schedules, *orchestration_schedules],
    resources=build_resources(),
    # One process per run: the multiprocess executor's process per step costs more here
    # than the steps themselves (see README, "Performance").
    executor=dg.in_process_executor,
)
