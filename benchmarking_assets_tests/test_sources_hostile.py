"""Hostile sources, over real HTTP: each gives a clear error naming where, and loses nothing.

Silent data loss (an empty page, another state's rows, partial run config), unbounded fetching
(endless pagination, a trickling server, a huge page, a silent host) and obscure values
(``1e308``, deeply nested JSON). Served by ``fake_api.FakeApi`` from the real-shape fixtures.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import dagster as dg
import pytest

from benchmarking_assets.core.partition_guard import DistrictLossError, check_district_loss
from benchmarking_assets.core.schemas import DISTRICT_DATA_HISTORY
from benchmarking_assets.defs.raw.assets import district_data_history
from benchmarking_assets.defs.resources import EducationDataSource, Warehouse, build_resources
from benchmarking_assets.sources.client import (
    EducationDataClient,
    EducationDataCountMismatch,
    EducationDataLimitError,
    EducationDataTransportError,
)
from benchmarking_assets.store import WarehouseStore
from benchmarking_assets_tests import real_shapes
from benchmarking_assets_tests.fake_api import (
    FakeApi,
    endless,
    huge,
    raw_body,
    silent_server,
    trickle,
)
from benchmarking_assets_tests.real_shapes import ALPHA, BETA

DIRECTORY_2013 = "school-districts/ccd/directory/2013/"


@pytest.fixture(autouse=True)
def fresh_catalog() -> Iterator[None]:
    EducationDataSource.clear_coverage_cache()
    yield
    EducationDataSource.clear_coverage_cache()


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with FakeApi(page_size=2) as server:
        real_shapes.serve(server)
        yield server


def source_for(api: FakeApi, **options: object) -> EducationDataSource:
    settings: dict[str, object] = {"max_retries": 0, "pace_seconds": 0.0}
    return EducationDataSource(source="api", api_url=api.base_url, **(settings | options))


def materialize(store, key, source, run_config=None):  # type: ignore[no-untyped-def]
    return dg.materialize(
        [district_data_history],
        partition_key=key,
        resources={"warehouse": Warehouse(database_url=store.url), "education_data": source},
        instance=dg.DagsterInstance.ephemeral(),
        run_config=run_config,
        raise_on_error=False,
    )


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    return str(failure.event_specific_data.error.message)  # type: ignore[union-attr]


def districts(store: WarehouseStore) -> dict[str, int | None]:
    frame = store.read_table(
        "district_data_history",
        DISTRICT_DATA_HISTORY,
        where={"state_code": "CT", "year": 2013},
        order_by=("leaid",),
    )
    return dict(frame.select("leaid", "enrollment").rows())


def client_for(url: str, **options: object) -> EducationDataClient:
    settings: dict[str, object] = {"max_retries": 0, "pace_seconds": 0.0}
    return EducationDataClient(url, **(settings | options))  # type: ignore[arg-type]


# -- silent data loss -------------------------------------------------------------------------
def test_the_loss_rule_refuses_more_than_the_threshold_and_names_both_counts():
    assert check_district_loss("DE|2019", loaded=49, incoming=40) == pytest.approx(9 / 49)
    assert check_district_loss("DE|2019", loaded=0, incoming=0) == 0.0  # a first load
    assert check_district_loss("DE|2019", loaded=49, incoming=60) == 0.0
    with pytest.raises(DistrictLossError) as err:
        check_district_loss("DE|2019", loaded=49, incoming=39)  # 20.4 % > 20 %
    assert (err.value.partition_key, err.value.loaded, err.value.incoming) == ("DE|2019", 49, 39)
    assert "DE|2019" in str(err.value) and "39 district(s)" in str(err.value)
    assert "holds 49" in str(err.value)
    assert check_district_loss("DE|2019", loaded=49, incoming=0, allowed=True) == 1.0
    assert check_district_loss("DE|2019", loaded=49, incoming=0, max_loss=1.0) == 1.0


def test_an_empty_directory_page_does_not_replace_a_loaded_partition(
    store: WarehouseStore, api: FakeApi
):
    assert materialize(store, "CT|2013", source_for(api)).success
    before = districts(store)
    assert before == {ALPHA: 1200, BETA: 730}
    api.tables[DIRECTORY_2013] = []  # the real empty answer: count 0, next null, results []
    result = materialize(store, "CT|2013", source_for(api))
    assert not result.success
    message = failure_message(result)
    assert "refusing to replace partition CT|2013" in message
    assert "the source now gives 0 district(s) where the warehouse holds 2" in message
    assert "allow_district_loss" in message
    assert districts(store) == before  # nothing lost

    # Forced from run config: the empty answer is accepted.
    forced = {"resources": {"education_data": {"config": {"allow_district_loss": True}}}}
    assert materialize(store, "CT|2013", source_for(api), forced).success
    assert districts(store) == {}


def test_another_states_rows_do_not_replace_a_loaded_partition(store: WarehouseStore, api: FakeApi):
    assert materialize(store, "CT|2013", source_for(api)).success
    # The server stops honouring ?fips= on the directory and answers California's rows.
    api.varlist = [
        r for r in api.varlist if not (r["endpoint_id"] == "54" and r["variable"] == "fips")
    ]
    api.tables[DIRECTORY_2013] = [
        {"leaid": f"06{i:05d}", "fips": 6, "lea_name": f"CA {i}", "enrollment": 100}
        for i in range(5)
    ]
    result = materialize(store, "CT|2013", source_for(api))
    assert not result.success
    assert "where the warehouse holds 2" in failure_message(result)
    assert districts(store) == {ALPHA: 1200, BETA: 730}


def test_partial_run_config_keeps_the_environments_source(
    store: WarehouseStore, api: FakeApi, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("EDUCATION_DATA_SOURCE", "api")
    monkeypatch.setenv("EDUCATION_DATA_API_URL", api.base_url)
    # run config that sets neither source nor api_url (pace 0 only to keep the test quick)
    partial = {"timeout_seconds": 5.0, "pace_seconds": 0.0}
    only_timeout = {"resources": {"education_data": {"config": partial}}}
    # as the code location builds it (EnvVar), and with no arguments at all
    for source in (build_resources()["education_data"], EducationDataSource()):
        EducationDataSource.clear_coverage_cache()
        asked = len(api.requests)
        result = materialize(store, "CT|2013", source, only_timeout)
        assert result.success
        assert len(api.requests) > asked  # the API was asked, not the synthetic sample
        materialization = result.asset_materializations_for_node("district_data_history")[0]
        assert materialization.metadata["source"].value == "api"
        assert districts(store) == {ALPHA: 1200, BETA: 730}
        row_source = store.scalar("SELECT DISTINCT source FROM district_data_history")
        assert row_source == "api"


# -- unbounded fetching -----------------------------------------------------------------------
def test_endless_pagination_with_a_huge_count_stops_at_the_first_page(api: FakeApi):
    api.fail(endless(10**9, path=DIRECTORY_2013))
    with client_for(api.base_url) as client, pytest.raises(EducationDataLimitError) as err:
        client.fetch_all(DIRECTORY_2013, {"fips": 9})
    assert err.value.setting == "max_rows"
    assert "count=1,000,000,000" in str(err.value) and DIRECTORY_2013 in err.value.url
    assert len(api.requests) == 1


def test_endless_pagination_is_cut_off_by_count_and_by_max_pages(api: FakeApi):
    api.fail(endless(10, path=DIRECTORY_2013))  # 2 rows a page, next for ever, count 10
    with client_for(api.base_url) as client, pytest.raises(EducationDataCountMismatch) as err:
        client.fetch_all(DIRECTORY_2013, {"fips": 9})
    assert "received 12 rows by page 6, more than the count=10" in str(err.value)
    assert len(api.requests) == 6
    with (
        client_for(api.base_url, max_pages=3) as client,
        pytest.raises(EducationDataLimitError) as limit,
    ):
        client.fetch_all(DIRECTORY_2013, {"fips": 9})
    assert limit.value.setting == "max_pages" and "max_pages=3" in str(limit.value)
    assert len(api.requests) == 6 + 3


def test_a_trickling_server_is_cut_off_by_the_request_deadline(api: FakeApi):
    # One byte every 0.5 s: each read returns quickly, so a per-read timeout never fires;
    # the ~700-byte page would take ~6 minutes.
    api.fail(trickle(0.5, path=DIRECTORY_2013))
    started = time.monotonic()
    with (
        client_for(api.base_url, timeout_seconds=5.0, request_deadline_seconds=1.0) as client,
        pytest.raises(EducationDataTransportError) as err,
    ):
        client.fetch_all(DIRECTORY_2013, {"fips": 9})
    assert time.monotonic() - started < 30  # bounded (the deadline, plus one byte's wait)
    assert "too slow" in str(err.value) and "request_deadline_seconds=1" in str(err.value)
    assert DIRECTORY_2013 in err.value.url


@pytest.mark.parametrize("announce_length", [True, False])
def test_a_huge_page_is_refused_without_holding_it(api: FakeApi, announce_length: bool):
    api.fail(huge(8 * 1024 * 1024, path=DIRECTORY_2013, announce_length=announce_length))
    with (
        client_for(api.base_url, max_retries=3, max_response_bytes=1024 * 1024) as client,
        pytest.raises(EducationDataLimitError) as err,
    ):
        client.fetch_all(DIRECTORY_2013, {"fips": 9})
    assert err.value.setting == "max_response_bytes"
    expected = "announces Content-Length 8,38" if announce_length else "arriving after 1,0"
    assert expected in str(err.value) and "max_response_bytes=1,048,576" in str(err.value)
    assert len(api.requests) == 1  # a cap is not a transient fault: never retried


def test_a_silent_host_is_given_up_on_at_the_deadline():
    with silent_server() as url:
        started = time.monotonic()
        client = client_for(
            url,
            timeout_seconds=60.0,
            max_retries=5,
            backoff_seconds=0.1,
            request_deadline_seconds=0.5,
            query_deadline_seconds=2.0,
        )
        with client, pytest.raises(EducationDataTransportError) as err:
            client.fetch_all(DIRECTORY_2013, {"fips": 9})
        elapsed = time.monotonic() - started
    # Unbounded, 6 attempts × 60 s; bounded by the 2 s query deadline (+ one 0.5 s attempt).
    assert elapsed < 20
    assert "timed out" in str(err.value) or "query_deadline_seconds=2" in str(err.value)
    assert f"{url}/{DIRECTORY_2013}" in err.value.url
    assert client.requests_sent < 6  # the deadline, not the retries, ended it


def test_the_resource_passes_its_caps_to_the_client():
    source = EducationDataSource(
        source="api", coverage="shipped", max_rows=10, max_pages=2, request_deadline_seconds=3
    )
    with source.client() as client:
        assert (client.max_rows, client.max_pages, client.request_deadline_seconds) == (10, 2, 3)
    with pytest.raises(ValueError, match=r"every cap must be > 0: max_pages=0"):
        EducationDataSource(source="sample", max_pages=0).client()
    with pytest.raises(ValueError, match=r"max_district_loss is 2\.0"):
        EducationDataSource(source="sample", max_district_loss=2.0).client()
    with pytest.raises(ValueError, match="coverage is 'api'; want one of catalog, shipped"):
        EducationDataSource(source="api", coverage="api").available_years()


# -- obscure values ---------------------------------------------------------------------------
def test_enrollment_1e308_is_quarantined_and_the_rest_loaded(store: WarehouseStore, api: FakeApi):
    api.tables[DIRECTORY_2013][1]["enrollment"] = 1e308  # Beta; json.dumps sends 1e+308
    assert materialize(store, "CT|2013", source_for(api)).success
    assert districts(store) == {ALPHA: 1200, BETA: None}
    issue = store.read_df(
        "SELECT leaid, column_name, value, reason FROM data_quality_issues "
        "WHERE column_name = 'enrollment'"
    ).rows()
    assert issue == [
        (BETA, "enrollment", "1e+308", "district_directory: number too large (beyond 1e+15)")
    ]


def test_a_deeply_nested_page_is_an_error_naming_the_url_and_partition(
    store: WarehouseStore, api: FakeApi
):
    deep = b'{"count": 1, "next": null, "results": [' + b"[" * 100_000 + b"]" * 100_001 + b"}"
    api.fail(raw_body(deep, path=DIRECTORY_2013, repeat=True))
    result = materialize(store, "CT|2013", source_for(api))
    assert not result.success
    message = failure_message(result)
    assert "CT|2013" in message and "nests JSON arrays/objects too deeply" in message
    assert f"{api.base_url}/{DIRECTORY_2013}" in message


def test_a_deeply_nested_value_is_quarantined_with_its_row(store: WarehouseStore, api: FakeApi):
    nested: object = 1
    for _ in range(400):
        nested = {"a": nested}
    api.tables[DIRECTORY_2013][0]["enrollment"] = nested  # Alpha
    api.tables[DIRECTORY_2013][1]["lea_name"] = [nested]  # Beta
    assert materialize(store, "CT|2013", source_for(api)).success
    assert districts(store) == {ALPHA: None, BETA: 730}  # Beta's enrollment is unharmed
    issue = store.read_df(
        "SELECT leaid, column_name, value, reason FROM data_quality_issues "
        "WHERE check_name = 'ingestion'"
    ).rows()
    issue.sort(key=lambda row: (row[0] or "~", row[1]))  # NULL last, on both backends
    assert issue == [
        (
            ALPHA,
            "enrollment",
            "<JSON object {…}>",
            "district_directory: a JSON object or array where a number belongs",
        ),
        (
            BETA,
            "lea_name",
            "<JSON array […]>",
            "district_directory: a JSON object or array where text belongs",
        ),
        (None, "leaid", issue[2][2], "crdc_enrollment: no leaid"),  # the fixture's pseudo-school
    ]
    name = store.scalar("SELECT lea_name FROM district_data_history WHERE leaid = :l", {"l": BETA})
    assert name is None
    alpha = store.scalar(
        "SELECT lea_name FROM district_data_history WHERE leaid = :l", {"l": ALPHA}
    )
    assert alpha == "Alpha Public Schools"
    assert json.loads(json.dumps(nested))  # the page itself was valid JSON
