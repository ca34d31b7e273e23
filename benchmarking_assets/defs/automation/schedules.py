"""Schedules: a yearly raw refresh, nightly benchmarks/cohorts and reports (all STOPPED).

Why not ``build_schedule_from_partitioned_job``: the year dimension is a calendar window
whose key is the school year's fall, so the "latest window" such a schedule targets on
1 January is a school year still in progress — data the Education Data Portal publishes one
to two years later. These schedules therefore ask the data which year to refresh: the
newest year the *source* has (yearly raw refresh) or the newest year *loaded* (nightly).
Each request still covers partitions the Dagster way: one run over every state of a year
(partition-range tags; the raw asset's single-run backfill policy), one run per year, one run
per participant × year. Crons come from the environment at load time:
``RAW_REFRESH_CRON`` (default 1 October, 06:00 UTC, after the portal's usual summer/autumn
releases), ``NIGHTLY_COHORTS_CRON`` (03:00 UTC), ``NIGHTLY_REPORTS_CRON`` (04:30 UTC).
The daily retention purge, ``privacy_retention_daily``, runs ``privacy_retention_job``: the
retention group's ``privacy_retention`` (submissions) and ``report_retention``
(report files), so nothing private outlives ``DATA_RETENTION_DAYS``.
"""

from __future__ import annotations

import os

import dagster as dg

from benchmarking_assets.defs.automation.jobs import (
    privacy_retention_job,
    raw_history_job,
    reports_job,
    year_downstream_job,
)
from benchmarking_assets.defs.partitions import (
    all_states_tags,
    participant_partitions,
    report_key,
    year_partitions,
)
from benchmarking_assets.defs.resources import EducationDataSource, Warehouse
from benchmarking_assets.store.raw import loaded_years

RAW_REFRESH_CRON = os.environ.get("RAW_REFRESH_CRON", "0 6 1 10 *")
NIGHTLY_COHORTS_CRON = os.environ.get("NIGHTLY_COHORTS_CRON", "0 3 * * *")
NIGHTLY_REPORTS_CRON = os.environ.get("NIGHTLY_REPORTS_CRON", "30 4 * * *")
TRIGGER_TAG = "benchmarking/trigger"


def _tick_date(context: dg.ScheduleEvaluationContext) -> str:
    return context.scheduled_execution_time.strftime("%Y-%m-%d")


def partition_years(context: dg.ScheduleEvaluationContext) -> set[int]:
    keys = year_partitions.get_partition_keys(current_time=context.scheduled_execution_time)
    return {int(k) for k in keys}


@dg.schedule(
    name="raw_yearly_refresh",
    cron_schedule=RAW_REFRESH_CRON,
    job=raw_history_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Re-loads every state of the newest year the source has (revisions).",
)
def raw_yearly_refresh(
    context: dg.ScheduleEvaluationContext, education_data: EducationDataSource
) -> dg.RunRequest | dg.SkipReason:
    years = sorted(set(education_data.available_years()) & partition_years(context))
    if not years:
        return dg.SkipReason("the source has no year that is a partition yet")
    year = years[-1]
    return dg.RunRequest(
        run_key=f"raw-refresh-{year}-{_tick_date(context)}",
        job_name=raw_history_job.name,
        tags={**all_states_tags(year), TRIGGER_TAG: "raw_yearly_refresh"},
    )


@dg.schedule(
    name="cohorts_nightly",
    cron_schedule=NIGHTLY_COHORTS_CRON,
    job=year_downstream_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Benchmarks and cohorts of the newest loaded year (new submissions, refreshes).",
)
def cohorts_nightly(
    context: dg.ScheduleEvaluationContext, warehouse: Warehouse
) -> dg.RunRequest | dg.SkipReason:
    loaded = loaded_years(warehouse.store())
    if not loaded:
        return dg.SkipReason("district_data_history is empty")
    year = loaded[-1]
    return dg.RunRequest(
        run_key=f"nightly-{year}-{_tick_date(context)}",
        job_name=year_downstream_job.name,
        partition_key=str(year),
        tags={TRIGGER_TAG: "cohorts_nightly"},
    )


@dg.schedule(
    name="reports_nightly",
    cron_schedule=NIGHTLY_REPORTS_CRON,
    job=reports_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Each participant's report for the newest loaded year, after cohorts_nightly.",
)
def reports_nightly(
    context: dg.ScheduleEvaluationContext, warehouse: Warehouse
) -> list[dg.RunRequest] | dg.SkipReason:
    loaded = loaded_years(warehouse.store())
    participants = sorted(context.instance.get_dynamic_partitions(participant_partitions.name))
    if not loaded or not participants:
        return dg.SkipReason("no loaded year or no participants")
    year = loaded[-1]
    return [
        dg.RunRequest(
            run_key=f"report-{leaid}-{year}-{_tick_date(context)}",
            job_name=reports_job.name,
            partition_key=report_key(leaid, year),
            tags={TRIGGER_TAG: "reports_nightly"},
        )
        for leaid in participants
    ]


retention_schedule = dg.ScheduleDefinition(
    name="privacy_retention_daily",
    job=privacy_retention_job,
    cron_schedule=os.environ.get("RETENTION_CRON", "30 2 * * *"),
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Daily retention purge of private submissions and generated reports.",
)
