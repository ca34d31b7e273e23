"""The Dagster resource that picks the data source: the offline sample or the real API.

The only Dagster import of ``benchmarking_assets.sources``; everything it does is delegated to
the pure modules beside it, so the same code runs inside and outside Dagster.
"""

from __future__ import annotations

import threading

import dagster as dg
from pydantic import PrivateAttr

from benchmarking_assets.geography import FIRST_YEAR
from benchmarking_assets.sources.client import DEFAULT_API_URL, EducationDataClient
from benchmarking_assets.sources.coverage import api_years
from benchmarking_assets.sources.district_year import RawDistrictYear, fetch_district_year
from benchmarking_assets.sources.sample import SAMPLE_BASE_URL, SAMPLE_YEARS, SampleTransport

SOURCES = ("sample", "api")


class EducationDataSource(dg.ConfigurableResource):
    """Where raw district data comes from (SPEC §2): ``sample`` (default, offline) or ``api``.

    One client is kept per resource instance and reused across partitions of a run, so its
    pacing and concurrency limits hold for the whole run, not per partition. The sample
    client neither paces nor runs endpoints in parallel: there is no server to be polite to,
    and threads would only contend for the GIL.
    """

    source: str = "sample"
    api_url: str = DEFAULT_API_URL
    timeout_seconds: float = 90.0
    max_retries: int = 4
    max_concurrency: int = 4
    pace_seconds: float = 0.1
    max_retry_after_seconds: float = 60.0

    _shared: EducationDataClient | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def _kind(self) -> str:
        kind = self.source.strip().lower()
        if kind not in SOURCES:
            raise ValueError(
                f"EducationDataSource.source (EDUCATION_DATA_SOURCE) is {self.source!r}; "
                f"want one of {', '.join(SOURCES)}"
            )
        return kind

    def client(self) -> EducationDataClient:
        """A new client for the configured source (the caller closes it)."""
        if self._kind() == "sample":
            return EducationDataClient(
                SAMPLE_BASE_URL,
                transport=SampleTransport(),
                timeout_seconds=self.timeout_seconds,
                max_retries=self.max_retries,
                max_concurrency=1,
                pace_seconds=0.0,
            )
        return EducationDataClient(
            self.api_url,
            timeout_seconds=self.timeout_seconds,
            max_retries=self.max_retries,
            max_concurrency=self.max_concurrency,
            pace_seconds=self.pace_seconds,
            max_retry_after_seconds=self.max_retry_after_seconds,
        )

    def fetch_district_year(self, state_code: str, year: int) -> RawDistrictYear:
        """One state-year of raw district data (see ``district_year.fetch_district_year``)."""
        kind = self._kind()
        with self._lock:
            if self._shared is None:
                self._shared = self.client()
            client = self._shared
        return fetch_district_year(client, state_code, year, source=kind)

    def available_years(self) -> list[int]:
        """Years this source can serve: the sample's, or the API directory's from FIRST_YEAR."""
        if self._kind() == "sample":
            return list(SAMPLE_YEARS)
        return api_years(FIRST_YEAR)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._shared is not None:
            self._shared.close()
            self._shared = None
