"""Sensors: the year dimension grows, participation syncs, run failures are recorded.

* ``new_year_sensor`` — compares the newest year the source has
  (``EducationDataSource.available_years()``) with the newest year loaded in
  ``district_data_history``. When the source has a newer year that is already a partition
  (the year dimension is a calendar window: its newest partition is the last complete calendar
  year), it requests one ``raw_history_job`` run over every state of that year (run key
  ``raw-<year>``, so it fires once). Once every ``<state>|<year>`` partition is materialized
  it requests ``year_downstream_job`` (benchmarks, then cohorts) for that year (run key
  ``downstream-<year>``). A source year beyond the newest partition is logged and waited for:
  the calendar adds the partition on 1 January. An empty warehouse is left to the operator's
  initial backfill; gaps of several years are backfills too (only the newest year is automatic).
* ``participation_sensor`` — keeps the dynamic ``participants`` partitions equal to the enrolled
  districts in ``benchmark_participants`` (add on enrolment, delete on withdrawal, with the
  withdrawn district's report files and rows) and, when
  membership or shared categories change, requests ``cohorts_job`` for the newest loaded year
  and every year with private submissions (run key from a keyed digest of the membership).
* ``record_run_failures`` — a run-failure sensor writing one ``pipeline_failures`` row per
  failed run (idempotent by run id) and logging it in the sensor's tick log.
"""

from __future__ import annotations

import json

import dagster as dg

from benchmarking_assets.core.geography import STATE_CODES
from benchmarking_assets.defs.automation.jobs import (
    cohorts_job,
    raw_history_job,
    year_downstream_job,
)
from benchmarking_assets.defs.partitions import (
    RANGE_END,
    RANGE_START,
    all_states_tags,
    participant_partition_requests,
    year_partitions,
)
from benchmarking_assets.defs.resources import EducationDataSource, Warehouse
from benchmarking_assets.store.operations import active_shares, record_failure, submission_years
from benchmarking_assets.store.privacy_keys import private_digest
from benchmarking_assets.store.raw import loaded_years
from benchmarking_assets.store.reports import delete_withdrawn_reports
from benchmarking_assets.store.warehouse import WarehouseStore, utc_now

RAW_ASSET = dg.AssetKey("district_data_history")

NEW_YEAR_INTERVAL_SECONDS = 6 * 3600  # the API's directory changes a few times a year
TRIGGER_TAG = "benchmarking/trigger"


def newest_partition_year() -> int:
    key = year_partitions.get_last_partition_key()
    return int(key) if key else year_partitions.start.year - 1


def _new_year_cursor(text: str | None) -> dict[str, list[int]]:
    data = json.loads(text) if text else {}
    return {"raw": list(data.get("raw", [])), "downstream": list(data.get("downstream", []))}


def raw_complete(instance: dg.DagsterInstance, year: int) -> bool:
    """Every state's partition of ``year`` is materialized in the instance."""
    done = instance.get_materialized_partitions(RAW_ASSET)
    return all(f"{state}|{year}" in done for state in STATE_CODES)


@dg.sensor(
    name="new_year_sensor",
    jobs=[raw_history_job, year_downstream_job],
    minimum_interval_seconds=NEW_YEAR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Loads the source's newest year once it is published, then its benchmarks "
    "and cohorts (once per year; see docs/operations.md).",
)
def new_year_sensor(
    context: dg.SensorEvaluationContext, education_data: EducationDataSource, warehouse: Warehouse
) -> dg.SensorResult:
    cursor = _new_year_cursor(context.cursor)
    loaded = loaded_years(warehouse.store())
    source_years = sorted(education_data.available_years())
    newest_partition = newest_partition_year()
    requests: list[dg.RunRequest] = []
    skip: str | None = None
    if not loaded:
        skip = (
            "district_data_history is empty: load the history first (benchmarking demo, or a "
            "backfill of district_data_history in the UI); this sensor only adds new years"
        )
    elif source_years:
        if source_years[-1] > newest_partition:
            context.log.info(
                f"the source has {source_years[-1]}, beyond the newest partition "
                f"{newest_partition}: waiting for the calendar to add it"
            )
        usable = [y for y in source_years if y <= newest_partition]
        target = usable[-1] if usable else None
        if target is not None and target > loaded[-1] and target not in cursor["raw"]:
            context.log.info(f"new year {target} in the source (newest loaded {loaded[-1]})")
            cursor["raw"].append(target)
            tags = {**all_states_tags(target), TRIGGER_TAG: "new_year_sensor"}
            requests.append(
                dg.RunRequest(run_key=f"raw-{target}", job_name=raw_history_job.name, tags=tags)
            )
    for year in cursor["raw"]:
        if year in cursor["downstream"] or not raw_complete(context.instance, year):
            continue
        cursor["downstream"].append(year)
        requests.append(
            dg.RunRequest(
                run_key=f"downstream-{year}",
                job_name=year_downstream_job.name,
                partition_key=str(year),
                tags={TRIGGER_TAG: "new_year_sensor"},
            )
        )
    if not requests and skip is None:
        skip = f"nothing new: source newest {source_years[-1] if source_years else None}, " + (
            f"loaded newest {loaded[-1]}"
        )
    return dg.SensorResult(
        run_requests=requests,
        skip_reason=skip if not requests else None,
        cursor=json.dumps(cursor),
    )


def membership_hash(store: WarehouseStore, shares: dict[str, frozenset[str]]) -> str:
    """A keyed digest of who shares what: run keys, tags and the cursor are shown in the UI,
    and an unkeyed hash of the membership would let anyone test a guess of it."""
    text = ";".join(f"{leaid}:{','.join(sorted(cats))}" for leaid, cats in sorted(shares.items()))
    return private_digest(store, "membership", text)[:16]


@dg.sensor(
    name="participation_sensor",
    job=cohorts_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Keeps the participants partitions equal to the enrolled districts and "
    "recomputes cohorts when membership changes.",
)
def participation_sensor(
    context: dg.SensorEvaluationContext, warehouse: Warehouse
) -> dg.SensorResult:
    store = warehouse.store()
    store.ensure_migrated()
    shares = active_shares(store)
    active = set(shares)
    partition_requests, added, removed = participant_partition_requests(context.instance, active)
    if removed:
        # A withdrawn district's report files and rows go with its partitions.
        files = delete_withdrawn_reports(store, actor="participation_sensor")
        context.log.info(f"{len(removed)} participant(s) left: {files} report file(s) deleted")
    digest = membership_hash(store, shares)
    requests: list[dg.RunRequest] = []
    loaded = loaded_years(store)
    if digest != (context.cursor or membership_hash(store, {})) and loaded:
        years = sorted({loaded[-1], *(set(submission_years(store)) & set(loaded))})
        context.log.info(
            f"membership changed (+{len(added)} −{len(removed)} partitions): "
            f"cohorts recompute for {years}"
        )
        requests = [
            dg.RunRequest(
                run_key=f"participants-{digest}-{year}",
                job_name=cohorts_job.name,
                partition_key=str(year),
                tags={TRIGGER_TAG: "participation_sensor", "benchmarking/membership": digest},
            )
            for year in years
        ]
    skip = None if requests or partition_requests else f"membership unchanged ({len(active)})"
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=partition_requests,
        skip_reason=skip,
        cursor=digest,
    )


def partition_of(tags: dict[str, str]) -> str | None:
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    if RANGE_START in tags:
        return f"{tags[RANGE_START]}...{tags.get(RANGE_END, tags[RANGE_START])}"
    return None


def failure_message(context: dg.RunFailureSensorContext) -> str:
    steps = [
        f"{e.step_key}: {e.event_specific_data.error.message.strip()}"  # type: ignore[union-attr]
        for e in context.get_step_failure_events()
        if e.event_specific_data is not None and e.event_specific_data.error is not None
    ]
    # A run that fails before any step (a resource refusing a setting from run config) says why
    # only in its error's causes.
    causes = []
    data = context.failure_event.event_specific_data
    error = getattr(data, "error", None)
    while error is not None and len(causes) < 5:  # bounded chain
        if error.message.strip() and not steps:
            causes.append(error.message.strip())
        error = error.cause
    lines = [context.failure_event.message or "run failed", *steps, *causes[1:]]
    return "\n".join(dict.fromkeys(lines))[:8000]


@dg.run_failure_sensor(
    name="record_run_failures",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records every failed run of this code location in pipeline_failures.",
)
def record_run_failures(context: dg.RunFailureSensorContext, warehouse: Warehouse) -> None:
    run = context.dagster_run
    tags = dict(run.tags)
    row = {
        "run_id": run.run_id,
        "job_name": run.job_name,
        "partition_key": partition_of(tags),
        "tags": json.dumps(tags, sort_keys=True),
        "error_message": failure_message(context),
        "failed_at": utc_now(),
    }
    record_failure(warehouse.store(), row)
    context.log.error(
        f"run {run.run_id} of {run.job_name} failed (partition {row['partition_key']}): "
        f"{row['error_message'].splitlines()[0]}"
    )
