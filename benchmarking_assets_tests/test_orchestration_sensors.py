"""The orchestration sensors, evaluated through Dagster's test contexts on a real instance.

Their run requests are then executed like the daemon would launch them, so a request the
job cannot run (wrong job, wrong partition, wrong range) fails here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import dagster as dg
import pytest

from benchmarking_assets.core.geography import STATE_CODES
from benchmarking_assets.defs.automation.sensors import (
    new_year_sensor,
    newest_partition_year,
    participation_sensor,
    record_run_failures,
)
from benchmarking_assets.defs.raw.assets import district_data_history
from benchmarking_assets.defs.resources import EducationDataSource, Warehouse
from benchmarking_assets.store import WarehouseStore, participation
from benchmarking_assets_tests.orchestration_support import (
    FixedYearsSource,
    run_request,
    test_definitions,
)

RAW = dg.AssetKey("district_data_history")
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


def _load(url: str, instance: dg.DagsterInstance, start: str, end: str) -> None:
    result = dg.materialize(
        [district_data_history],
        instance=instance,
        resources={
            "warehouse": Warehouse(database_url=url),
            "education_data": EducationDataSource(),
        },
        tags={
            "dagster/asset_partition_range_start": start,
            "dagster/asset_partition_range_end": end,
        },
    )
    assert result.success


def _tick(sensor: dg.SensorDefinition, defs: dg.Definitions, instance, cursor=None):  # type: ignore[no-untyped-def]
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources=defs.resources
    ) as context:
        return sensor.evaluate_tick(context)


def test_new_year_sensor_waits_for_an_initial_load(sqlite_url: str, instance) -> None:  # type: ignore[no-untyped-def]
    defs = test_definitions(sqlite_url)
    data = _tick(new_year_sensor, defs, instance)
    assert not data.run_requests
    assert "empty" in (data.skip_message or "")


def test_new_year_sensor_loads_the_new_year_then_its_downstream(
    sqlite_url: str, instance: dg.DagsterInstance
) -> None:
    _load(sqlite_url, instance, "HI|2020", "HI|2020")  # newest loaded 2020; the sample has 2021
    defs = test_definitions(sqlite_url)

    first = _tick(new_year_sensor, defs, instance)
    assert [r.run_key for r in first.run_requests] == ["raw-2021"]
    request = first.run_requests[0]
    assert request.job_name == "raw_history_job"
    result = run_request(defs, instance, request)
    assert result.success
    done = instance.get_materialized_partitions(RAW)
    assert {f"{s}|2021" for s in STATE_CODES} <= done  # every state of the new year, one run

    second = _tick(new_year_sensor, defs, instance, cursor=first.cursor)
    assert [r.run_key for r in second.run_requests] == ["downstream-2021"]
    assert second.run_requests[0].partition_key == "2021"
    assert run_request(defs, instance, second.run_requests[0]).success
    store = WarehouseStore(sqlite_url)
    assert store.scalar("SELECT COUNT(*) FROM state_benchmarks WHERE year = 2021") > 0

    third = _tick(new_year_sensor, defs, instance, cursor=second.cursor)
    assert not third.run_requests  # fires once per year
    assert json.loads(third.cursor or "{}") == {"raw": [2021], "downstream": [2021]}


def test_new_year_sensor_waits_for_the_calendar(
    sqlite_url: str, instance: dg.DagsterInstance
) -> None:
    _load(sqlite_url, instance, "HI|2020", "HI|2020")
    beyond = newest_partition_year() + 1
    source = FixedYearsSource(years=[2019, 2020, beyond])
    data = _tick(new_year_sensor, test_definitions(sqlite_url, source), instance)
    assert not data.run_requests  # the newest partition year is not in this source
    assert "nothing new" in (data.skip_message or "")

    source = FixedYearsSource(years=[2020, 2021, beyond])
    data = _tick(new_year_sensor, test_definitions(sqlite_url, source), instance)
    assert [r.run_key for r in data.run_requests] == ["raw-2021"]


def test_participation_sensor_adds_and_removes_report_partitions(
    sqlite_url: str, instance: dg.DagsterInstance
) -> None:
    _load(sqlite_url, instance, "DE|2021", "DE|2021")
    store = WarehouseStore(sqlite_url)
    leaids = store.read_df("SELECT leaid FROM district_data_history ORDER BY leaid")["leaid"]
    first_id, second_id = leaids[0], leaids[1]
    defs = test_definitions(sqlite_url)

    empty = _tick(participation_sensor, defs, instance)
    assert not empty.run_requests and not empty.dynamic_partitions_requests

    participation.enroll(store, first_id, ["engagement"])
    participation.enroll(store, second_id, ["engagement", "operational"])
    joined = _tick(participation_sensor, defs, instance, cursor=empty.cursor)
    (add,) = joined.dynamic_partitions_requests
    assert isinstance(add, dg.AddDynamicPartitionsRequest)
    assert sorted(add.partition_keys) == sorted([first_id, second_id])
    assert [r.partition_key for r in joined.run_requests] == ["2021"]
    instance.add_dynamic_partitions("participants", list(add.partition_keys))
    assert run_request(defs, instance, joined.run_requests[0]).success

    same = _tick(participation_sensor, defs, instance, cursor=joined.cursor)
    assert not same.run_requests and not same.dynamic_partitions_requests

    participation.withdraw(store, second_id)
    left = _tick(participation_sensor, defs, instance, cursor=same.cursor)
    (delete,) = left.dynamic_partitions_requests
    assert isinstance(delete, dg.DeleteDynamicPartitionsRequest)
    assert list(delete.partition_keys) == [second_id]
    assert left.run_requests[0].run_key != joined.run_requests[0].run_key


def test_run_failure_sensor_records_the_failure(
    sqlite_url: str, instance: dg.DagsterInstance
) -> None:
    result = dg.materialize(
        [district_data_history],
        instance=instance,
        partition_key="RI|2015",
        resources={
            "warehouse": Warehouse(database_url=sqlite_url),
            "education_data": EducationDataSource(),
        },
        # a bad value in run config fails the run (in code it fails at load)
        run_config={"resources": {"education_data": {"config": {"source": "bogus"}}}},
        raise_on_error=False,
    )
    assert not result.success
    failure = result.get_run_failure_event()
    # The warehouse resource checkpoints SQLite at teardown, so its context is a `with` block.
    with dg.build_run_status_sensor_context(
        sensor_name="record_run_failures",
        dagster_event=failure,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources={"warehouse": Warehouse(database_url=sqlite_url)},
    ) as status_context:
        context = status_context.for_run_failure()
        record_run_failures(context)
        record_run_failures(context)  # recording twice keeps one row

    rows = WarehouseStore(sqlite_url).read_df("SELECT * FROM pipeline_failures")
    assert rows.height == 1
    row = rows.row(0, named=True)
    assert row["run_id"] == result.run_id
    assert row["partition_key"] == "RI|2015"
    assert "bogus" in row["error_message"]
    assert json.loads(row["tags"])["dagster/partition"] == "RI|2015"
