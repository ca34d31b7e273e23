"""The orchestration schedules, evaluated through Dagster's test contexts on a real instance."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg
import pytest

from benchmarking_assets.defs.automation.schedules import (
    cohorts_nightly,
    raw_yearly_refresh,
    reports_nightly,
)
from benchmarking_assets.defs.raw.assets import district_data_history
from benchmarking_assets.defs.resources import EducationDataSource, Warehouse
from benchmarking_assets_tests.orchestration_support import (
    FixedYearsSource,
    run_request,
    test_definitions,
)

TICK = datetime(2026, 10, 1, 6, 0, tzinfo=UTC)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


def _tick(schedule: dg.ScheduleDefinition, defs: dg.Definitions, instance, when=TICK):  # type: ignore[no-untyped-def]
    with dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=when,
        resources=defs.resources,
        repository_def=defs.get_repository_def(),
    ) as context:
        return schedule.evaluate_tick(context)


def _load_hi(url: str, instance: dg.DagsterInstance, year: int) -> None:
    resources = {"warehouse": Warehouse(database_url=url), "education_data": EducationDataSource()}
    key = f"HI|{year}"
    assert dg.materialize(
        [district_data_history], instance=instance, partition_key=key, resources=resources
    ).success


def test_every_schedule_is_off_by_default_and_registered(sqlite_url: str) -> None:
    repo = test_definitions(sqlite_url).get_repository_def()
    names = {s.name for s in repo.schedule_defs}
    assert {"raw_yearly_refresh", "cohorts_nightly", "reports_nightly"} <= names
    assert "privacy_retention_daily" in names  # submissions and reports purge
    for schedule in (raw_yearly_refresh, cohorts_nightly, reports_nightly):
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
        assert schedule.execution_timezone == "UTC"
    assert raw_yearly_refresh.cron_schedule == "0 6 1 10 *"


def test_yearly_refresh_reloads_the_newest_source_year_in_one_run(
    sqlite_url: str, instance: dg.DagsterInstance
) -> None:
    defs = test_definitions(sqlite_url)
    data = _tick(raw_yearly_refresh, defs, instance)
    (request,) = data.run_requests
    assert request.job_name == "raw_history_job"
    assert request.tags["dagster/asset_partition_range_start"] == "AL|2021"
    assert request.tags["dagster/asset_partition_range_end"] == "WY|2021"
    assert run_request(defs, instance, request).success
    done = instance.get_materialized_partitions(dg.AssetKey("district_data_history"))
    assert len([k for k in done if k.endswith("|2021")]) == 51


def test_yearly_refresh_never_asks_for_a_year_that_is_not_a_partition(
    sqlite_url: str, instance: dg.DagsterInstance
) -> None:
    # On 1 Oct 2026 the newest partition is 2025: a source claiming 2026 gets 2025 refreshed.
    source = FixedYearsSource(years=[2024, 2025, 2026])
    data = _tick(raw_yearly_refresh, test_definitions(sqlite_url, source), instance)
    assert data.run_requests[0].tags["dagster/asset_partition_range_start"] == "AL|2025"
    source = FixedYearsSource(years=[2026])
    data = _tick(raw_yearly_refresh, test_definitions(sqlite_url, source), instance)
    assert not data.run_requests and data.skip_message


def test_nightly_schedules_target_the_newest_loaded_year(
    sqlite_url: str, instance: dg.DagsterInstance
) -> None:
    defs = test_definitions(sqlite_url)
    assert not _tick(cohorts_nightly, defs, instance).run_requests  # empty warehouse: skip
    _load_hi(sqlite_url, instance, 2019)
    _load_hi(sqlite_url, instance, 2020)
    (request,) = _tick(cohorts_nightly, defs, instance).run_requests
    assert (request.job_name, request.partition_key) == ("year_downstream_job", "2020")
    assert run_request(defs, instance, request).success


def test_nightly_reports_ask_for_every_participant_of_the_newest_year(
    sqlite_url: str, instance: dg.DagsterInstance
) -> None:
    defs = test_definitions(sqlite_url)
    _load_hi(sqlite_url, instance, 2020)
    assert not _tick(reports_nightly, defs, instance).run_requests  # no participants yet
    instance.add_dynamic_partitions("participants", ["1500030", "1500031"])
    requests = _tick(reports_nightly, defs, instance).run_requests
    assert [r.partition_key for r in requests] == ["1500030|2020", "1500031|2020"]
    assert {r.job_name for r in requests} == {"reports_job"}
    assert len({r.run_key for r in requests}) == 2
