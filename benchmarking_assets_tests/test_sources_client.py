"""The API client against a real HTTP server on 127.0.0.1 (``fake_api.FakeApi``).

Every failure mode is scripted on the server, and each test asserts something that would
change if the handling were removed: how many requests reached the server, which page was
asked for, what the client slept.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from benchmarking_assets.sources.client import (
    EducationDataClient,
    EducationDataCountMismatch,
    EducationDataCoverageError,
    EducationDataHTTPError,
    EducationDataResponseError,
    EducationDataTransportError,
)
from benchmarking_assets.sources.coverage import ASSESSMENTS, DISTRICT_DIRECTORY, FINANCE
from benchmarking_assets_tests.fake_api import (
    FakeApi,
    count_offset,
    drop_filter_from_next,
    not_json,
    slow,
    status,
    truncated,
)

DIRECTORY = "school-districts/ccd/directory/2015/"
ROWS = [{"leaid": f"01000{i:02d}", "fips": 1, "enrollment": 100 + i} for i in range(5)]


class Sleeps:
    """An injected ``sleep`` that records instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with FakeApi(page_size=2) as server:
        server.add(DIRECTORY, [*ROWS, {"leaid": "0600001", "fips": 6, "enrollment": 9}])
        yield server


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_client(api: FakeApi, sleeps: Sleeps, **options: object) -> EducationDataClient:
    settings: dict[str, object] = {
        "timeout_seconds": 2.0,
        "max_retries": 3,
        "pace_seconds": 0.0,
        "backoff_seconds": 1.0,
        "sleep": sleeps,
    }
    settings.update(options)
    return EducationDataClient(api.base_url, **settings)  # type: ignore[arg-type]


def test_follows_next_to_the_last_page_keeping_page_and_filters(api: FakeApi, sleeps: Sleeps):
    with make_client(api, sleeps) as client:
        result = client.fetch_endpoint(DISTRICT_DIRECTORY, 2015, {"fips": 1})
    # 5 rows of fips 1 (the server honours fips), 2 per page: pages 1, 2, 3.
    assert [r["leaid"] for r in result.results] == [r["leaid"] for r in ROWS]
    assert (result.count, result.pages) == (5, 3)
    assert [r.params.get("page") for r in api.requests] == [None, "2", "3"]
    assert all(r.params["fips"] == "1" for r in api.requests)
    # The server wrote `next` with page last; the client used it as given.
    assert [k for k, _ in api.requests[1].query] == ["fips", "page"]
    assert sleeps.calls == []


def test_a_filter_missing_from_next_is_put_back(api: FakeApi, sleeps: Sleeps):
    api.fail(drop_filter_from_next("fips"))
    with make_client(api, sleeps) as client:
        result = client.fetch_all(DIRECTORY, {"fips": 1})
    # Without the repair page 2 would be the unfiltered table (6 rows): a count mismatch.
    assert api.requests[1].params == {"page": "2", "fips": "1"}
    assert len(result.results) == 5


def test_next_naming_the_public_host_is_fetched_from_the_configured_server(
    api: FakeApi, sleeps: Sleeps
):
    # A mirror that copies the public API's links: following them as given would leave
    # 127.0.0.1 (and, here, fail: there is no network).
    api.next_origin = "https://educationdata.urban.org"
    with make_client(api, sleeps, max_retries=0) as client:
        result = client.fetch_endpoint(DISTRICT_DIRECTORY, 2015, {"fips": 1})
    assert (result.count, result.pages) == (5, 3)
    assert [r.params.get("page") for r in api.requests] == [None, "2", "3"]


def test_503_is_retried_with_backoff_then_succeeds(api: FakeApi, sleeps: Sleeps):
    api.fail(status(503))
    with make_client(api, sleeps) as client:
        result = client.fetch_all(DIRECTORY, {"fips": 1})
    assert len(result.results) == 5
    assert len(api.requests) == 4  # page 1 twice, then pages 2 and 3
    assert api.requests[0].query == api.requests[1].query
    # First backoff: 1 s × 2⁰ × jitter in [0.5, 1).
    assert len(sleeps.calls) == 1 and 0.5 <= sleeps.calls[0] < 1.0


def test_429_honours_retry_after(api: FakeApi, sleeps: Sleeps):
    api.fail(status(429, retry_after="7"))
    with make_client(api, sleeps) as client:
        client.fetch_all(DIRECTORY, {"fips": 1})
    assert sleeps.calls == [7.0]
    assert len(api.requests) == 4


def test_retry_after_is_capped(api: FakeApi, sleeps: Sleeps):
    api.fail(status(503, retry_after="3600"))
    with make_client(api, sleeps, max_retry_after_seconds=5.0) as client:
        client.fetch_all(DIRECTORY, {"fips": 1})
    assert sleeps.calls == [5.0]


def test_5xx_until_retries_run_out_is_an_error_with_exponential_backoff(api, sleeps):
    api.fail(*[status(500) for _ in range(4)])
    with (
        make_client(api, sleeps, max_retries=3) as client,
        pytest.raises(EducationDataHTTPError) as err,
    ):
        client.fetch_all(DIRECTORY, {"fips": 1})
    assert err.value.status_code == 500
    assert DIRECTORY in err.value.url and "fips=1" in err.value.url
    assert "HTTP 500 after 4 attempt(s)" in str(err.value)
    assert len(api.requests) == 4
    # Backoff 1, 2, 4 s, each scaled by a jitter factor in [0.5, 1).
    assert len(sleeps.calls) == 3
    for slept, base in zip(sleeps.calls, [1.0, 2.0, 4.0], strict=True):
        assert 0.5 * base <= slept < base


def test_404_is_not_retried(api: FakeApi, sleeps: Sleeps):
    with make_client(api, sleeps) as client, pytest.raises(EducationDataHTTPError) as err:
        client.fetch_all("school-districts/ccd/no-such-topic/2015/", {"fips": 1})
    assert err.value.status_code == 404
    assert "no-such-topic" in err.value.url and "not retried" in str(err.value)
    assert len(api.requests) == 1 and sleeps.calls == []


def test_a_year_outside_coverage_is_refused_before_any_request(api: FakeApi, sleeps: Sleeps):
    with make_client(api, sleeps) as client, pytest.raises(EducationDataCoverageError) as err:
        client.fetch_endpoint(FINANCE, 2021, {"fips": 1})
    assert "finance/2021" in err.value.url
    assert api.requests == []


def test_the_500_of_an_uncovered_year_is_an_error_not_empty_data(api: FakeApi, sleeps: Sleeps):
    with make_client(api, sleeps, max_retries=1) as client, pytest.raises(EducationDataHTTPError):
        client.fetch_all("school-districts/ccd/finance/2021/", {"fips": 1})
    assert len(api.requests) == 2  # a 5xx is retried, then reported


def test_slow_response_times_out_and_is_retried(api: FakeApi, sleeps: Sleeps):
    api.fail(slow(1.0))
    with make_client(api, sleeps, timeout_seconds=0.2) as client:
        result = client.fetch_all(DIRECTORY, {"fips": 1})
    assert len(result.results) == 5
    assert len(api.requests) == 4 and len(sleeps.calls) == 1


def test_timeouts_until_retries_run_out_name_the_url(api: FakeApi, sleeps: Sleeps):
    api.fail(*[slow(1.0) for _ in range(2)])
    with (
        make_client(api, sleeps, timeout_seconds=0.2, max_retries=1) as client,
        pytest.raises(EducationDataTransportError) as err,
    ):
        client.fetch_all(DIRECTORY, {"fips": 1})
    assert "timed out" in str(err.value) and DIRECTORY in err.value.url
    assert len(api.requests) == 2


def test_truncated_body_is_retried(api: FakeApi, sleeps: Sleeps):
    api.fail(truncated())
    with make_client(api, sleeps) as client:
        result = client.fetch_all(DIRECTORY, {"fips": 1})
    assert len(result.results) == 5
    assert len(api.requests) == 4 and len(sleeps.calls) == 1


def test_truncated_every_time_is_a_clear_error(api: FakeApi, sleeps: Sleeps):
    api.fail(*[truncated() for _ in range(3)])
    with (
        make_client(api, sleeps, max_retries=2) as client,
        pytest.raises(EducationDataTransportError) as err,
    ):
        client.fetch_all(DIRECTORY, {"fips": 1})
    assert "truncated" in str(err.value) and err.value.url.endswith(f"{DIRECTORY}?fips=1")
    assert len(api.requests) == 3


def test_non_json_body_is_a_clear_error_and_not_retried(api: FakeApi, sleeps: Sleeps):
    api.fail(not_json())
    with make_client(api, sleeps) as client, pytest.raises(EducationDataResponseError) as err:
        client.fetch_all(DIRECTORY, {"fips": 1})
    assert "not valid JSON" in str(err.value) and "Enable JavaScript" in str(err.value)
    assert DIRECTORY in err.value.url
    assert len(api.requests) == 1


def test_rows_received_must_equal_count(api: FakeApi, sleeps: Sleeps):
    api.fail(count_offset(+1))
    with make_client(api, sleeps) as client, pytest.raises(EducationDataCountMismatch) as err:
        client.fetch_all(DIRECTORY, {"fips": 1})
    # Page 1 announced 6; pages 2 and 3 say 5: the change is caught at page 2.
    assert (err.value.expected, err.value.received) == (6, 5)
    assert "count changed" in str(err.value)


def test_short_read_against_count_is_an_error(sleeps: Sleeps):
    with FakeApi(page_size=10) as api:
        api.add(DIRECTORY, ROWS)
        api.fail(count_offset(+2))
        with make_client(api, sleeps) as client, pytest.raises(EducationDataCountMismatch) as err:
            client.fetch_all(DIRECTORY, {"fips": 1})
    assert (err.value.expected, err.value.received) == (7, 5)
    assert "received 5 rows over 1 page(s) but the API announced count=7" in str(err.value)


def test_connect_errors_are_retried_then_reported(sleeps: Sleeps):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = EducationDataClient(
        f"http://127.0.0.1:{port}/api/v1", max_retries=2, pace_seconds=0, sleep=sleeps
    )
    with client, pytest.raises(EducationDataTransportError) as err:
        client.fetch_all(DIRECTORY, {"fips": 1})
    assert "could not connect" in str(err.value) and f":{port}/" in err.value.url
    assert len(sleeps.calls) == 2
    assert client.requests_sent == 3


def test_requests_are_paced(api: FakeApi):
    now = [100.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    client = EducationDataClient(api.base_url, pace_seconds=0.5, sleep=sleep, clock=lambda: now[0])
    with client:
        client.fetch_all(DIRECTORY, {"fips": 1})
    # Three requests, no time passing on the fake clock: the 2nd and 3rd wait 0.5 s each.
    assert sleeps == [0.5, 0.5]


def test_concurrency_is_bounded_by_a_semaphore_shared_by_the_client(api: FakeApi):
    api.delay = 0.1
    for year in range(2009, 2015):  # six one-page queries
        api.add(f"school-districts/edfacts/assessments/{year}/grade-99/", ROWS[:1])
    client = EducationDataClient(api.base_url, max_concurrency=2, pace_seconds=0)
    with client:
        threads = [
            threading.Thread(target=client.fetch_endpoint, args=(ASSESSMENTS, y, {"fips": 1}))
            for y in range(2009, 2015)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(api.requests) == 6
    assert api.max_in_flight == 2  # parallel, but never more than the limit


def test_invalid_settings_are_rejected():
    with pytest.raises(ValueError, match="max_concurrency"):
        EducationDataClient(max_concurrency=0)
