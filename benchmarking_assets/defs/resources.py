"""The code location's resources and the settings they are built from.

Every setting has a working default; a resource receives a variable as ``EnvVar`` when it is
set, so the UI shows where each value came from. ``README.md`` (Configuration) lists them.
:func:`build_resources` is the one place resources are built from the environment: the
definitions and the ``benchmarking`` command both call it.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from benchmarking_assets.core.geography import FIRST_YEAR
from benchmarking_assets.core.partition_guard import DEFAULT_MAX_DISTRICT_LOSS
from benchmarking_assets.core.peer_groups import PeerCriteria
from benchmarking_assets.sources.catalog import CoverageCache, fetch_coverage
from benchmarking_assets.sources.client import (
    DEFAULT_API_URL,
    DEFAULT_LIMITS,
    EducationDataClient,
    EducationDataError,
)
from benchmarking_assets.sources.coverage import SHIPPED, Coverage
from benchmarking_assets.sources.district_year import RawDistrictYear, fetch_district_year
from benchmarking_assets.sources.sample import SAMPLE_BASE_URL, SAMPLE_YEARS, SampleTransport
from benchmarking_assets.store.warehouse import WarehouseStore

DEFAULTS: dict[str, str] = {
    "EDUCATION_DATA_SOURCE": "sample",
    "EDUCATION_DATA_API_URL": DEFAULT_API_URL,
    "MIN_COHORT_SIZE": "5",
    "DIFFERENTIAL_PRIVACY_EPSILON": "1.0",
    "DATA_RETENTION_DAYS": "365",
}
SOURCES = ("sample", "api")
CRITERIA = ("size", "locale", "frl", "grade_span", "geography")


def data_dir() -> Path:
    """Root folder for the default warehouse, inbox and reports: ``BENCHMARKING_DATA_DIR``."""
    return Path(os.environ.get("BENCHMARKING_DATA_DIR", "data")).resolve()


def default_database_url() -> str:
    return os.environ.get("DATABASE_URL") or f"sqlite:///{data_dir() / 'warehouse.sqlite'}"


def default_inbox_dir() -> str:
    return os.environ.get("SUBMISSIONS_INBOX_DIR") or str(data_dir() / "inbox")


def default_reports_dir() -> str:
    return os.environ.get("REPORTS_DIR") or str(data_dir() / "reports")


def env_or(name: str, default: Any) -> Any:
    """``EnvVar(name)`` when the variable is set, else the default (Dagster's EnvVar has none).

    An integer default gives ``EnvVar.int``, so integer fields take integer variables.
    """
    if not os.environ.get(name):
        return default
    return dg.EnvVar.int(name) if isinstance(default, int) else dg.EnvVar(name)


class Warehouse(dg.ConfigurableResource):
    """SQLite file by default, PostgreSQL with a ``postgresql://`` URL; migrated on start."""

    database_url: str = Field(
        description="SQLAlchemy URL of the warehouse (sqlite:///… or postgresql://…).",
    )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        applied = self.store().migrate()
        if applied and context.log:
            context.log.info(f"warehouse migrations applied: {', '.join(applied)}")

    def store(self) -> WarehouseStore:
        return WarehouseStore(self.database_url)


SOURCES = ("sample", "api")


def _env_setting(name: str) -> Any:
    """A default read from the environment when the resource is built, for a field Dagster
    may rebuild from run config: with a plain class default, run config that sets only
    ``timeout_seconds`` silently reset ``source`` to the class's ``sample``."""
    return lambda: os.environ.get(name) or DEFAULTS[name]


COVERAGE_MODES = ("catalog", "shipped")
_COVERAGE_CACHE = CoverageCache(time.monotonic)


class EducationDataSource(dg.ConfigurableResource):
    """Where raw district data comes from: ``sample`` (default, offline) or ``api`` (docs/data.md).

    With the API, which years and variables each endpoint has is read from the API's own
    catalog (``coverage: catalog``, cached ``catalog_ttl_seconds``), or taken from the shipped
    table (``coverage: shipped``); the sample always uses the shipped table
    (docs/data-sources.md). Every fetch is bounded by the caps below (same document, "Caps").

    One client is kept per resource instance and reused across partitions of a run, so its
    pacing and concurrency limits hold for the whole run, not per partition. The sample
    client neither paces nor runs endpoints in parallel: there is no server to be polite to,
    and threads would only contend for the GIL.
    """

    source: str = Field(
        default_factory=_env_setting("EDUCATION_DATA_SOURCE"),
        description="sample or api (EDUCATION_DATA_SOURCE)",
    )
    api_url: str = Field(
        default_factory=_env_setting("EDUCATION_DATA_API_URL"),
        description="base URL of the API (EDUCATION_DATA_API_URL)",
    )
    timeout_seconds: float = Field(default=90.0, description="per socket connect/read")
    max_retries: int = 4
    max_concurrency: int = 4
    pace_seconds: float = 0.1
    max_retry_after_seconds: float = 60.0
    request_deadline_seconds: float = Field(
        default=DEFAULT_LIMITS["request_deadline_seconds"],
        description="one request, first byte to last (a trickling server is cut off)",
    )
    query_deadline_seconds: float = Field(
        default=DEFAULT_LIMITS["query_deadline_seconds"],
        description="one query: all its pages, retries and backoff",
    )
    max_response_bytes: int = Field(
        default=int(DEFAULT_LIMITS["max_response_bytes"]), description="bytes of one response"
    )
    max_query_bytes: int = Field(
        default=int(DEFAULT_LIMITS["max_query_bytes"]), description="bytes of one query"
    )
    max_pages: int = Field(default=int(DEFAULT_LIMITS["max_pages"]), description="per query")
    max_rows: int = Field(default=int(DEFAULT_LIMITS["max_rows"]), description="per query")
    coverage: str = Field(
        default="catalog",
        description="API only: 'catalog' reads years and variables from the API's metadata "
        "endpoints, 'shipped' uses the table shipped with the package",
    )
    catalog_ttl_seconds: float = Field(
        default=3600.0, description="how long the API's catalog is reused before re-reading"
    )
    max_district_loss: float = Field(
        default=DEFAULT_MAX_DISTRICT_LOSS,
        description="refuse a re-load that loses more than this share of a partition's "
        "districts (from the same source)",
    )
    allow_district_loss: bool = Field(
        default=False, description="accept such a loss anyway (set in run config to force)"
    )

    _shared: EducationDataClient | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def setting(self, name: str) -> Any:
        """A field's value, resolving an ``EnvVar`` Dagster left unresolved: when run config
        rebuilds the resource, fields it does not set keep the definition's ``EnvVar``."""
        value = getattr(self, name)
        return value.get_value() if isinstance(value, dg.EnvVar) else value

    def kind(self) -> str:
        """``sample`` or ``api``; anything else is an error naming the setting."""
        source = self.setting("source")
        kind = str(source).strip().lower()
        if kind not in SOURCES:
            raise ValueError(
                f"EducationDataSource.source (EDUCATION_DATA_SOURCE) is {source!r}; "
                f"want one of {', '.join(SOURCES)}"
            )
        return kind

    def _limits(self) -> dict[str, Any]:
        if self.coverage not in COVERAGE_MODES:
            raise ValueError(
                f"EducationDataSource.coverage is {self.coverage!r}; want one of "
                f"{', '.join(COVERAGE_MODES)}"
            )
        if not 0 <= self.max_district_loss <= 1:
            raise ValueError(
                f"EducationDataSource.max_district_loss is {self.max_district_loss!r}; want a "
                "share between 0 and 1 (0.2 = refuse losing more than 20 % of the districts)"
            )
        return {name: getattr(self, name) for name in DEFAULT_LIMITS}

    def client(self) -> EducationDataClient:
        """A new client for the configured source (the caller closes it)."""
        limits = self._limits()
        if self.kind() == "sample":
            return EducationDataClient(
                SAMPLE_BASE_URL,
                transport=SampleTransport(),
                timeout_seconds=self.timeout_seconds,
                max_retries=self.max_retries,
                max_concurrency=1,
                pace_seconds=0.0,
                **limits,
            )
        return EducationDataClient(
            self.setting("api_url"),
            timeout_seconds=self.timeout_seconds,
            max_retries=self.max_retries,
            max_concurrency=self.max_concurrency,
            pace_seconds=self.pace_seconds,
            max_retry_after_seconds=self.max_retry_after_seconds,
            **limits,
        )

    def _client(self) -> EducationDataClient:
        with self._lock:
            if self._shared is None:
                self._shared = self.client()
            return self._shared

    def source_coverage(self) -> Coverage:
        """Years and variables per endpoint: the API's catalog (cached) or the shipped table."""
        self._limits()
        if self.kind() == "sample" or self.coverage == "shipped":
            return SHIPPED
        api_url = str(self.setting("api_url"))

        def fetch() -> Coverage:
            with self.client() as client:
                try:
                    coverage = fetch_coverage(client)
                except EducationDataError as exc:
                    raise type(exc)(
                        f"could not read the API's endpoint catalog: "
                        f"{str(exc).rsplit(' [url: ', 1)[0]} (a mirror without the metadata "
                        "endpoints: set the education_data resource's coverage to 'shipped')",
                        url=exc.url,
                        **{
                            k: getattr(exc, k)
                            for k in ("status_code", "setting")
                            if hasattr(exc, k)
                        },
                    ) from exc
            log = dg.get_dagster_logger()
            log.info(f"endpoint coverage read from {coverage.origin}")
            for note in coverage.notes:
                log.warning(f"coverage: {note}")
            return coverage

        return _COVERAGE_CACHE.get(api_url, self.catalog_ttl_seconds, fetch)

    def fetch_district_year(self, state_code: str, year: int) -> RawDistrictYear:
        """One state-year of raw district data (see ``district_year.fetch_district_year``)."""
        kind = self.kind()
        coverage = self.source_coverage()
        return fetch_district_year(self._client(), state_code, year, source=kind, coverage=coverage)

    def available_years(self) -> list[int]:
        """Years this source can serve: the sample's, or the API directory's from FIRST_YEAR
        (from the API's catalog unless ``coverage`` is ``shipped``)."""
        if self.kind() == "sample":
            return list(SAMPLE_YEARS)
        return self.source_coverage().api_years(FIRST_YEAR)

    @staticmethod
    def clear_coverage_cache() -> None:
        """Forget every catalog read so far (the next use reads it again)."""
        _COVERAGE_CACHE.clear()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._shared is not None:
            self._shared.close()
            self._shared = None


class PrivacySettings(dg.ConfigurableResource):
    """k, ε, retention and the inbox (``MIN_COHORT_SIZE``, ``DIFFERENTIAL_PRIVACY_EPSILON``,
    ``DATA_RETENTION_DAYS``, ``SUBMISSIONS_INBOX_DIR``), and which peer criteria to use."""

    # no pydantic bounds here (they reject EnvVar values); k ≥ 1, ε > 0 are checked where used
    min_cohort_size: int = Field(default=5, description="k: minimum contributors per cell")
    epsilon: float = Field(default=1.0, description="ε per DP release")
    retention_days: int = Field(default=365, description="days a submission is kept")
    inbox_dir: str = Field(default_factory=default_inbox_dir)
    criteria: list[str] = Field(default=list(CRITERIA), description=f"subset of {CRITERIA}")

    def peer_criteria(self) -> PeerCriteria:
        unknown = set(self.criteria) - set(CRITERIA)
        if unknown:
            raise ValueError(f"unknown peer criteria {sorted(unknown)}; choose from {CRITERIA}")
        return PeerCriteria(**{c: c in self.criteria for c in CRITERIA})


def build_privacy_settings() -> PrivacySettings:
    """The resource from the environment. Dagster has no float ``EnvVar``, so ε is read here."""
    epsilon = (
        os.environ.get("DIFFERENTIAL_PRIVACY_EPSILON") or DEFAULTS["DIFFERENTIAL_PRIVACY_EPSILON"]
    )
    return PrivacySettings(
        min_cohort_size=env_or("MIN_COHORT_SIZE", int(DEFAULTS["MIN_COHORT_SIZE"])),
        epsilon=float(epsilon),
        retention_days=env_or("DATA_RETENTION_DAYS", int(DEFAULTS["DATA_RETENTION_DAYS"])),
        inbox_dir=env_or("SUBMISSIONS_INBOX_DIR", default_inbox_dir()),
    )


class ReportSettings(dg.ConfigurableResource):
    """Where report files go (``REPORTS_DIR``, default ``data/reports``)."""

    reports_dir: str = Field(default_factory=default_reports_dir)


def build_resources() -> dict[str, Any]:
    """Every resource of the code location, from the environment."""
    return {
        "warehouse": Warehouse(database_url=env_or("DATABASE_URL", default_database_url())),
        "education_data": EducationDataSource(
            source=env_or("EDUCATION_DATA_SOURCE", DEFAULTS["EDUCATION_DATA_SOURCE"]),
            api_url=env_or("EDUCATION_DATA_API_URL", DEFAULTS["EDUCATION_DATA_API_URL"]),
        ),
        "privacy": build_privacy_settings(),
        "reports": ReportSettings(reports_dir=env_or("REPORTS_DIR", default_reports_dir())),
    }


def resolved(resource: dg.ConfigurableResource) -> Any:
    """The same resource with its ``EnvVar`` settings replaced by their values, for use
    outside a run (the ``benchmarking`` command)."""
    values = {}
    for name in type(resource).model_fields:
        value = getattr(resource, name)
        get_value = getattr(value, "get_value", None)  # EnvVar and EnvVar.int
        values[name] = get_value() if callable(get_value) else value
    return type(resource)(**values)


def resolved_resources() -> dict[str, Any]:
    """:func:`build_resources`, resolved (see :func:`resolved`)."""
    return {key: resolved(resource) for key, resource in build_resources().items()}


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=build_resources())
