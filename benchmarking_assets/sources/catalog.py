"""Coverage read from the API's own metadata: years and variables per endpoint.

The Portal describes itself at two endpoints (``docs/data-sources.md``):

* ``api-endpoints/``: one record per endpoint, ``endpoint_id`` (int), ``endpoint_url``
  (``/api/v1/schools/crdc/enrollment/{year}/race/sex/``, some without the trailing slash,
  ``{grade_edfacts}`` where we fix ``grade-99``) and ``years_available``, a *display string*:
  ``"1991, 1994&ndash;2020"``, ``"1991, 1993, and 1999&ndash;2020"``.
* ``api-endpoint-varlist/?endpoint_id=N``: one row per variable, every value a string
  (``"endpoint_id": "37"``, ``"is_filter": "1"`` or ``"None"``).

:func:`coverage_from_metadata` turns those rows into a :class:`Coverage` (pure);
:func:`fetch_coverage` asks the API for them through the ordinary client, so every cap of the
client bounds the metadata fetch too; :class:`CoverageCache` keeps the answer for a while,
because a sensor asks every few hours and a run for every partition.
"""

from __future__ import annotations

import dataclasses
import html
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from benchmarking_assets.sources.client import EducationDataClient, EducationDataResponseError
from benchmarking_assets.sources.coverage import ENDPOINTS, Coverage, Endpoint, years_text

CATALOG_PATH = "api-endpoints/"
VARLIST_PATH = "api-endpoint-varlist/"
_PLACEHOLDER = re.compile(r"^(\{grade\w*\}|grade-\w+)$")
_RANGE = re.compile(r"^(\d{4})\s*[-–—]\s*(\d{4})$")


def parse_years_available(text: object) -> frozenset[int]:
    """The years of a catalog ``years_available`` string.

    ``"1986&ndash;2022"``, ``"2013, 2015"``, ``"1991, 1993, and 1999&ndash;2020"``: HTML
    entities unescaped, ``and`` dropped, comma-separated years and ``YYYY–YYYY`` ranges.
    Anything else raises ``ValueError`` quoting the text: a year guessed wrong is a 500 later.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"years_available is {text!r}; want e.g. '1991, 1994–2020'")
    years: set[int] = set()
    for part in html.unescape(text).split(","):
        part = re.sub(r"^\s*and\s+", "", part.strip()).strip()
        if re.fullmatch(r"\d{4}", part):
            years.add(int(part))
            continue
        span = _RANGE.match(part)
        if span is None or int(span[1]) > int(span[2]):
            raise ValueError(f"years_available {text!r}: cannot read {part!r} as a year or range")
        years.update(range(int(span[1]), int(span[2]) + 1))
    return frozenset(years)


def url_shape(url: str) -> tuple[str, ...]:
    """An endpoint path as comparable segments: no ``/api/v1/``, no slashes at the ends, and
    every grade segment (``{grade_edfacts}``, ``grade-99``) as one token."""
    path = url.strip().removeprefix("/").removeprefix("api/v1/").strip("/")
    return tuple("{grade}" if _PLACEHOLDER.match(p) else p for p in path.split("/"))


def match_catalog(
    catalog: Sequence[Mapping[str, Any]], keys: Iterable[str], *, url: str
) -> dict[str, Mapping[str, Any]]:
    """The catalog record of each endpoint key (by path shape); an error names what is absent."""
    by_shape: dict[tuple[str, ...], Mapping[str, Any]] = {}
    for record in catalog:
        endpoint_url = record.get("endpoint_url") if isinstance(record, Mapping) else None
        if isinstance(endpoint_url, str):
            by_shape.setdefault(url_shape(endpoint_url), record)
    found: dict[str, Mapping[str, Any]] = {}
    for key in keys:
        template = ENDPOINTS[key].path_template
        record = by_shape.get(url_shape(template))
        if record is None:
            raise EducationDataResponseError(
                f"the API's catalog ({len(catalog)} endpoints) lists no endpoint "
                f"{template!r} ({key}): renamed or withdrawn? Set coverage to 'shipped' to use "
                "the shipped table instead",
                url=url,
            )
        found[key] = record
    return found


def endpoint_id(record: Mapping[str, Any], *, url: str) -> int:
    value = record.get("endpoint_id")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise EducationDataResponseError(
        f"catalog record for {record.get('endpoint_url')!r} has endpoint_id {value!r}", url=url
    )


def coverage_from_metadata(
    catalog: Sequence[Mapping[str, Any]],
    varlists: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    catalog_url: str,
    varlist_urls: Mapping[str, str] | None = None,
) -> Coverage:
    """The shipped endpoints with years, filters and variables replaced by the API's own.

    ``varlists`` maps an endpoint key to its varlist rows. Shipped subgroup columns and paths
    are kept (they are how this package reads an endpoint, not facts about the API).
    """
    records = match_catalog(catalog, ENDPOINTS, url=catalog_url)
    endpoints: dict[str, Endpoint] = {}
    notes: list[str] = []
    for key, shipped in ENDPOINTS.items():
        record = records[key]
        try:
            years = parse_years_available(record.get("years_available"))
        except ValueError as exc:
            raise EducationDataResponseError(
                f"catalog record {record.get('endpoint_id')} ({key}): {exc}", url=catalog_url
            ) from exc
        rows = varlists.get(key)
        where = (varlist_urls or {}).get(key, catalog_url)
        if not rows:
            raise EducationDataResponseError(
                f"the API lists no variables for {key} (endpoint_id "
                f"{record.get('endpoint_id')}); cannot tell which fields it has",
                url=where,
            )
        variables = frozenset(str(r.get("variable")) for r in rows if r.get("variable"))
        filters = frozenset(
            str(r.get("variable")) for r in rows if str(r.get("is_filter")).strip() == "1"
        )
        endpoint = dataclasses.replace(
            shipped, years=years, filters=filters & variables, variables=variables
        )
        endpoints[key] = endpoint
        notes += _differences(shipped, endpoint)
    return Coverage(endpoints, origin=catalog_url, notes=tuple(notes))


def _differences(shipped: Endpoint, api: Endpoint) -> list[str]:
    """What the API says that the shipped table does not (for the log and the docs)."""
    notes = []
    added, removed = api.years - shipped.years, shipped.years - api.years
    if added:
        notes.append(f"{shipped.key}: the API has years the shipped table lacks: "
                     f"{years_text(added)}")  # fmt: skip
    if removed:
        notes.append(f"{shipped.key}: the shipped table lists years the API lacks: "
                     f"{years_text(removed)}")  # fmt: skip
    dropped = sorted(shipped.variables - api.variables)
    if dropped:
        notes.append(f"{shipped.key}: variables not in the API's varlist: {', '.join(dropped)}")
    return notes


def fetch_coverage(client: EducationDataClient, keys: Iterable[str] = ENDPOINTS) -> Coverage:
    """Read the catalog, then each endpoint's varlist (one small request per endpoint)."""
    catalog_url = client.url_for(CATALOG_PATH)
    catalog = client.fetch_all(CATALOG_PATH).results
    records = match_catalog(catalog, keys, url=catalog_url)
    varlists: dict[str, list[dict[str, Any]]] = {}
    urls: dict[str, str] = {}
    for key in keys:
        number = endpoint_id(records[key], url=catalog_url)
        result = client.fetch_all(VARLIST_PATH, {"endpoint_id": number})
        urls[key] = result.url
        # A server that ignores endpoint_id answers every endpoint's rows: keep this one's.
        varlists[key] = [r for r in result.results if str(r.get("endpoint_id")) == str(number)]
    return coverage_from_metadata(catalog, varlists, catalog_url=catalog_url, varlist_urls=urls)


class CoverageCache:
    """Coverage per API URL, reused while younger than the caller's ``ttl_seconds``
    (thread-safe; one fetch at a time).

    A failed fetch is not cached: the next caller tries again, and the error reaches the
    caller that asked (a sensor tick or a run), naming the URL.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Coverage]] = {}
        self.fetches = 0

    def get(self, base_url: str, ttl_seconds: float, fetch: Callable[[], Coverage]) -> Coverage:
        with self._lock:  # held during the fetch: concurrent callers wait, then share it
            entry = self._entries.get(base_url)
            if entry is not None and self._clock() - entry[0] < ttl_seconds:
                return entry[1]  # younger than this caller's ttl
            coverage = fetch()
            self.fetches += 1
            self._entries[base_url] = (self._clock(), coverage)
            return coverage

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
