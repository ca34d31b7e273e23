"""HTTP client for the Urban Institute Education Data Portal API (pure httpx, no Dagster).

Why it is more than ``httpx.get`` in a loop (facts from ``shared/research/urban_api.md`` §2):

* Pages hold 10,000 rows and ``next`` is a full URL carrying ``page`` and the filters, with the
  query parameters in any order. We request ``next`` as given (an HTTP client that merges default
  params can drop ``page`` and re-fetch page 1 forever) and re-add any of our filters it lost,
  because the API answers an unfiltered query with the whole nation and HTTP 200.
* The API is slow and flaky under load (0.1–29 s per request, 504s, day-long runs of 500s, 429s):
  5xx, 429 and transport errors are retried with exponential backoff and jitter, honouring
  ``Retry-After`` up to a cap; any other 4xx is a caller error and is never retried.
* Rows received must equal ``count``: a short read would silently lose districts.
* A truncated or non-JSON body (an HTML challenge page, a cut connection) becomes an error that
  names the URL, never an empty result.
* Everything is bounded (``docs/data-sources.md``, "Caps"): httpx's timeouts are per socket
  operation, so a server trickling a byte every few seconds never trips them; a response is
  therefore streamed against a per-request deadline and a byte cap, and a query (all its pages,
  retries and backoff) against a total deadline and caps on pages, rows and bytes. A cap that
  is hit is an error naming the URL and the setting, never a silently shortened result.

Requests are paced (one start every ``pace_seconds`` per client) and bounded by a semaphore the
whole client shares, so parallel fetches of different endpoints stay under ``max_concurrency``.
``sleep``, ``clock``, ``rng`` and ``transport`` are injectable so tests run fast and exactly.
"""

from __future__ import annotations

import email.utils
import json
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx

from benchmarking_assets.sources.coverage import Endpoint

DEFAULT_API_URL = "https://educationdata.urban.org/api/v1"
USER_AGENT = "benchmarking-assets/0.1 (python-httpx)"

ParamValue = str | int
Row = dict[str, Any]


class EducationDataError(Exception):
    """Base of every error this client raises; ``url`` is the request that failed."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(f"{message} [url: {url}]")
        self.url = url


class EducationDataHTTPError(EducationDataError):
    """The API answered with an error status (after retries, for 5xx and 429)."""

    def __init__(self, message: str, *, url: str, status_code: int) -> None:
        super().__init__(message, url=url)
        self.status_code = status_code


class EducationDataTransportError(EducationDataError):
    """The request never got a complete answer: connect error, timeout, truncated read."""


class EducationDataResponseError(EducationDataError):
    """The answer was complete but unusable: not JSON, not an API page, a pagination loop."""


class EducationDataCountMismatch(EducationDataResponseError):
    """The rows received across all pages differ from the ``count`` the API announced."""

    def __init__(self, message: str, *, url: str, expected: int, received: int) -> None:
        super().__init__(message, url=url)
        self.expected = expected
        self.received = received


class EducationDataCoverageError(EducationDataError):
    """A year the endpoint does not cover was requested (the API would answer 500)."""


class EducationDataLimitError(EducationDataResponseError):
    """A cap was hit (bytes, pages, rows, time); ``setting`` names the cap to raise."""

    def __init__(self, message: str, *, url: str, setting: str) -> None:
        super().__init__(message, url=url)
        self.setting = setting


class _TooSlow(Exception):
    """One response outlived its deadline while trickling in (retried like a timeout)."""


@dataclass(frozen=True)
class Page:
    url: str
    count: int
    next: str | None
    results: list[Row]
    bytes: int = 0  # size of the body as received (decompressed)


@dataclass(frozen=True)
class FetchResult:
    """Every row of one query, with how many pages it took."""

    url: str  # the first page's URL
    count: int
    pages: int
    results: list[Row]


_RETRY_TRANSPORT_ERRORS = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    _TooSlow,
)
MIB = 1024 * 1024
# Defaults of the caps; the widest real page known, a 10,000-row district directory page with
# all ~70 columns, is ~12 MB, and a state-year query takes at most a few pages.
DEFAULT_LIMITS: dict[str, float] = {
    "request_deadline_seconds": 300.0,
    "query_deadline_seconds": 600.0,
    "max_response_bytes": 32 * MIB,
    "max_query_bytes": 256 * MIB,
    "max_pages": 100,
    "max_rows": 250_000,
}


class EducationDataClient:
    """Fetches every page of an API query, politely and with retries. Thread-safe."""

    def __init__(
        self,
        base_url: str = DEFAULT_API_URL,
        *,
        timeout_seconds: float = 90.0,
        max_retries: int = 4,
        max_concurrency: int = 4,
        pace_seconds: float = 0.1,
        max_retry_after_seconds: float = 60.0,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 60.0,
        request_deadline_seconds: float = DEFAULT_LIMITS["request_deadline_seconds"],
        query_deadline_seconds: float = DEFAULT_LIMITS["query_deadline_seconds"],
        max_response_bytes: int = int(DEFAULT_LIMITS["max_response_bytes"]),
        max_query_bytes: int = int(DEFAULT_LIMITS["max_query_bytes"]),
        max_pages: int = int(DEFAULT_LIMITS["max_pages"]),
        max_rows: int = int(DEFAULT_LIMITS["max_rows"]),
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if max_retries < 0 or max_concurrency < 1 or timeout_seconds <= 0:
            raise ValueError(
                "max_retries must be >= 0, max_concurrency >= 1 and timeout_seconds > 0; got "
                f"{max_retries}, {max_concurrency}, {timeout_seconds}"
            )
        limits = {
            "request_deadline_seconds": request_deadline_seconds,
            "query_deadline_seconds": query_deadline_seconds,
            "max_response_bytes": max_response_bytes,
            "max_query_bytes": max_query_bytes,
            "max_pages": max_pages,
            "max_rows": max_rows,
        }
        bad = {k: v for k, v in limits.items() if isinstance(v, bool) or not v > 0}
        if bad:
            raise ValueError(
                "every cap must be > 0: "
                + ", ".join(f"{k}={v!r}" for k, v in bad.items())
                + " (docs/data-sources.md, Caps)"
            )
        self.request_deadline_seconds = float(request_deadline_seconds)
        self.query_deadline_seconds = float(query_deadline_seconds)
        self.max_response_bytes = int(max_response_bytes)
        self.max_query_bytes = int(max_query_bytes)
        self.max_pages = int(max_pages)
        self.max_rows = int(max_rows)
        self.timeout_seconds = float(timeout_seconds)
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.max_concurrency = max_concurrency
        self.pace_seconds = pace_seconds
        self.max_retry_after_seconds = max_retry_after_seconds
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._semaphore = threading.BoundedSemaphore(max_concurrency)
        self._pace_lock = threading.Lock()
        self._next_slot = float("-inf")
        self._count_lock = threading.Lock()
        self.requests_sent = 0
        self._http = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(timeout_seconds),
            follow_redirects=True,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            limits=httpx.Limits(max_connections=max_concurrency),
        )

    # -- lifecycle -----------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EducationDataClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- queries -------------------------------------------------------------------------------
    def url_for(self, path: str, params: Mapping[str, ParamValue] | None = None) -> str:
        url = f"{self.base_url}/{path.lstrip('/')}"
        return f"{url}?{urlencode(dict(params))}" if params else url

    def fetch_endpoint(
        self, endpoint: Endpoint, year: int, params: Mapping[str, ParamValue]
    ) -> FetchResult:
        """All rows of ``endpoint`` for ``year``; refuses years the endpoint does not cover."""
        if not endpoint.covers(year):
            raise EducationDataCoverageError(
                f"{endpoint.key} does not cover {year} (covered: {min(endpoint.years)}–"
                f"{max(endpoint.years)} with gaps); the API would answer 500",
                url=self.url_for(endpoint.path(year), params),
            )
        return self.fetch_all(endpoint.path(year), params)

    def fetch_all(self, path: str, params: Mapping[str, ParamValue] | None = None) -> FetchResult:
        """Follow ``next`` from the first page to the last; check the total against ``count``.

        Bounded by ``query_deadline_seconds`` (all pages, retries and backoff together),
        ``max_pages``, ``max_rows`` (checked against ``count`` on page 1 already) and
        ``max_query_bytes``."""
        wanted = {k: str(v) for k, v in (params or {}).items()}
        first_url = self.url_for(path, wanted)
        deadline = self._clock() + self.query_deadline_seconds
        url: str | None = first_url
        seen: set[str] = set()
        results: list[Row] = []
        count: int | None = None
        pages = 0
        received_bytes = 0
        last_page_number = 1
        while url is not None:
            if url in seen:
                raise EducationDataResponseError(f"pagination loops back to {url}", url=first_url)
            if pages >= self.max_pages:
                raise EducationDataLimitError(
                    f"more than max_pages={self.max_pages} pages ({len(results):,} rows so far "
                    f"of count={count:,}); next would be {url}",
                    url=first_url,
                    setting="max_pages",
                )
            seen.add(url)
            page = self.get_page(url, deadline=deadline)
            pages += 1
            received_bytes += page.bytes
            if received_bytes > self.max_query_bytes:
                raise EducationDataLimitError(
                    f"{received_bytes:,} bytes over {pages} page(s), more than "
                    f"max_query_bytes={self.max_query_bytes:,}",
                    url=first_url,
                    setting="max_query_bytes",
                )
            if count is None:
                count = page.count
                if count > self.max_rows:
                    raise EducationDataLimitError(
                        f"the API announces count={count:,} rows, more than "
                        f"max_rows={self.max_rows:,} (a filter it ignored, or a broken server)",
                        url=first_url,
                        setting="max_rows",
                    )
            elif page.count != count:
                raise EducationDataCountMismatch(
                    f"count changed from {count} to {page.count} between pages",
                    url=url,
                    expected=count,
                    received=page.count,
                )
            results.extend(page.results)
            if len(results) > count:
                raise EducationDataCountMismatch(
                    f"received {len(results):,} rows by page {pages}, more than the "
                    f"count={count:,} the API announced",
                    url=url,
                    expected=count,
                    received=len(results),
                )
            if page.next is None:
                break
            if not page.results:
                raise EducationDataResponseError("empty page that still has a next link", url=url)
            url, last_page_number = _next_url(page.next, url, wanted, last_page_number)
        assert count is not None
        if len(results) != count:
            raise EducationDataCountMismatch(
                f"received {len(results)} rows over {pages} page(s) but the API announced "
                f"count={count}",
                url=first_url,
                expected=count,
                received=len(results),
            )
        return FetchResult(url=first_url, count=count, pages=pages, results=results)

    def get_page(self, url: str, *, deadline: float | None = None) -> Page:
        """One page, checked to be an API envelope."""
        size, body = self._get_json_sized(url, deadline)
        results = body.get("results") if isinstance(body, dict) else None
        count = body.get("count") if isinstance(body, dict) else None
        nxt = body.get("next") if isinstance(body, dict) else None
        if (
            not isinstance(results, list)
            or not isinstance(count, int)
            or isinstance(count, bool)
            or not (nxt is None or isinstance(nxt, str))
        ):
            raise EducationDataResponseError(
                "response is JSON but not an API page (want count:int, next:url|null, "
                f"results:list); starts with {_snippet(_preview(body))}",
                url=url,
            )
        for i, row in enumerate(results):
            if not isinstance(row, dict):
                raise EducationDataResponseError(
                    f"result row {i} is not a JSON object: {_snippet(_preview(row))}", url=url
                )
        return Page(url=url, count=count, next=nxt or None, results=results, bytes=size)

    def get_json(self, url: str, *, deadline: float | None = None) -> Any:
        """GET ``url`` with retries; return the decoded JSON body."""
        return self._get_json_sized(url, deadline)[1]

    def _get_json_sized(self, url: str, deadline: float | None) -> tuple[int, Any]:
        if deadline is None:
            deadline = self._clock() + self.query_deadline_seconds
        attempt = 0
        while True:
            self._check_deadline(deadline, url, attempt)
            try:
                status, headers, body = self._send(url, deadline)
            except _RETRY_TRANSPORT_ERRORS as exc:
                if attempt >= self.max_retries:
                    raise EducationDataTransportError(
                        f"{_describe(exc)} after {attempt + 1} attempt(s)", url=url
                    ) from exc
                self._wait(self._backoff(attempt), deadline, url, attempt, _describe(exc))
                attempt += 1
                continue
            except httpx.HTTPError as exc:  # not transient: bad URL, unsupported protocol, ...
                raise EducationDataTransportError(_describe(exc), url=url) from exc

            if 200 <= status < 300:
                return len(body), _decode(body, url)
            text = body.decode("utf-8", "replace")
            if status == 429 or status >= 500:
                if attempt >= self.max_retries:
                    raise EducationDataHTTPError(
                        f"HTTP {status} after {attempt + 1} attempt(s): {_snippet(text)}",
                        url=url,
                        status_code=status,
                    )
                delay = self._retry_after(headers)
                delay = self._backoff(attempt) if delay is None else delay
                self._wait(delay, deadline, url, attempt, f"HTTP {status}")
                attempt += 1
                continue
            raise EducationDataHTTPError(
                f"HTTP {status} (not retried: a client error will not fix itself): "
                f"{_snippet(text)}",
                url=url,
                status_code=status,
            )

    # -- internals -----------------------------------------------------------------------------
    def _send(self, url: str, deadline: float) -> tuple[int, httpx.Headers, bytes]:
        """One GET, its body streamed in under a byte cap and a deadline.

        The deadline is this request's (``request_deadline_seconds``) or the query's, whichever
        comes first; every socket timeout is capped by it too, so a silent server is given up
        on at the deadline, and a trickling one at most one chunk after it."""
        with self._semaphore:
            self._pace()
            with self._count_lock:
                self.requests_sent += 1
            started = self._clock()
            until = min(started + self.request_deadline_seconds, deadline)
            setting = (
                f"request_deadline_seconds={self.request_deadline_seconds:g}"
                if started + self.request_deadline_seconds <= deadline
                else f"query_deadline_seconds={self.query_deadline_seconds:g}"
            )
            timeout = httpx.Timeout(max(0.001, min(self.timeout_seconds, until - started)))
            with self._http.stream("GET", url, timeout=timeout) as response:
                announced = response.headers.get("Content-Length", "")
                if announced.isdigit() and int(announced) > self.max_response_bytes:
                    raise self._too_big(url, f"announces Content-Length {int(announced):,}")
                chunks: list[bytes] = []
                size = 0
                stream = response.iter_bytes()
                while True:
                    if self._clock() > until:  # checked before each wait for more bytes
                        raise _TooSlow(
                            f"response still incomplete after {self._clock() - started:.1f} s "
                            f"({size:,} bytes so far); {setting}"
                        )
                    chunk = next(stream, None)
                    if chunk is None:
                        break
                    size += len(chunk)
                    if size > self.max_response_bytes:
                        raise self._too_big(url, f"is still arriving after {size:,} bytes")
                    chunks.append(chunk)
                return response.status_code, response.headers, b"".join(chunks)

    def _too_big(self, url: str, what: str) -> EducationDataLimitError:
        return EducationDataLimitError(
            f"response {what}: more than max_response_bytes={self.max_response_bytes:,}",
            url=url,
            setting="max_response_bytes",
        )

    def _check_deadline(self, deadline: float, url: str, attempt: int) -> None:
        if self._clock() >= deadline:
            raise EducationDataTransportError(
                f"gave up before attempt {attempt + 1}: the query took longer than "
                f"query_deadline_seconds={self.query_deadline_seconds:g}",
                url=url,
            )

    def _wait(self, seconds: float, deadline: float, url: str, attempt: int, last: str) -> None:
        """Sleep before a retry, unless the retry could not start before the deadline."""
        if self._clock() + seconds >= deadline:
            raise EducationDataTransportError(
                f"gave up after {attempt + 1} attempt(s) (last: {last}): waiting {seconds:.1f} s "
                f"to retry would pass query_deadline_seconds={self.query_deadline_seconds:g}",
                url=url,
            )
        self._sleep(seconds)

    def _pace(self) -> None:
        """Space request starts at least ``pace_seconds`` apart across all threads."""
        if self.pace_seconds <= 0:
            return
        with self._pace_lock:
            now = self._clock()
            wait = self._next_slot - now
            if wait > 0:
                self._sleep(wait)
                now += wait
            self._next_slot = now + self.pace_seconds

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: base·2^attempt scaled by a factor in [0.5, 1)."""
        delay = min(self.max_backoff_seconds, self.backoff_seconds * 2**attempt)
        return delay * (0.5 + self._rng.random() / 2)

    def _retry_after(self, headers: httpx.Headers) -> float | None:
        """Seconds from a ``Retry-After`` header (seconds or HTTP date), capped; else None."""
        value = headers.get("Retry-After")
        if value is None:
            return None
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            seconds = when.timestamp() - time.time()
        return min(max(seconds, 0.0), self.max_retry_after_seconds)


def _next_url(
    next_link: str, current: str, wanted: Mapping[str, str], last_page: int
) -> tuple[str, int]:
    """The URL to fetch for ``next``: as given, plus any of our filters it dropped.

    A ``next`` naming another host (a server behind a proxy or a mirror that writes the
    public API's address into its links) is fetched from the host we are talking to, so
    pagination never leaves the configured base URL.
    """
    absolute = urljoin(current, next_link)
    parts = urlsplit(absolute)
    here = urlsplit(current)
    if (parts.scheme, parts.netloc) != (here.scheme, here.netloc):
        parts = parts._replace(scheme=here.scheme, netloc=here.netloc)
        absolute = urlunsplit(parts)
    query = parse_qsl(parts.query, keep_blank_values=True)
    keys = {k for k, _ in query}
    page = [v for k, v in query if k == "page"]
    if len(page) != 1 or not page[0].isdigit() or int(page[0]) <= last_page:
        raise EducationDataResponseError(
            f"next link {next_link!r} has no page number after page {last_page}", url=current
        )
    missing = [(k, v) for k, v in wanted.items() if k not in keys]
    if not missing:
        return absolute, int(page[0])
    return urlunsplit(parts._replace(query=urlencode(query + missing))), int(page[0])


def _decode(body: bytes, url: str) -> Any:
    try:
        return json.loads(body)
    except RecursionError as exc:
        raise EducationDataResponseError(
            f"response body nests JSON arrays/objects too deeply to decode ({len(body):,} bytes); "
            f"an API page is never more than 3 levels deep: {_snippet(_text(body))}",
            url=url,
        ) from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, a 5,000-digit integer
        raise EducationDataResponseError(
            f"response body is not valid JSON ({len(body):,} bytes, {exc}); it may be "
            f"truncated or an HTML error page: {_snippet(_text(body))}",
            url=url,
        ) from exc


def _text(body: bytes, limit: int = 4096) -> str:
    return body[:limit].decode("utf-8", "replace")


def _preview(value: Any) -> str:
    """JSON text of ``value`` for a message, even when it is too deep to encode."""
    try:
        return json.dumps(value, default=str)[:4096]
    except (RecursionError, ValueError):
        return f"<{type(value).__name__} nested too deeply to show>"


def _describe(exc: Exception) -> str:
    kind = {
        httpx.ConnectError: "could not connect",
        httpx.ConnectTimeout: "timed out connecting",
        httpx.ReadTimeout: "timed out waiting for the response",
        httpx.RemoteProtocolError: "connection closed mid-response (truncated body)",
        httpx.WriteTimeout: "timed out sending the request",
        httpx.PoolTimeout: "timed out waiting for a connection",
        _TooSlow: "too slow",
    }.get(type(exc), type(exc).__name__)
    return f"{kind}: {exc}" if str(exc) else kind


def _snippet(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[:limit] + "…")
