"""The code location's resources and the settings they are built from.

Every setting has a working default; a resource receives a variable as ``EnvVar`` when it is
set, so the UI shows where each value came from. ``README.md`` (Configuration) lists them.
:func:`build_resources` is the one place resources are built from the environment: the
definitions and the ``benchmarking`` command both call it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from benchmarking_assets.core.geography import FIRST_YEAR
from benchmarking_assets.core.peer_groups import PeerCriteria
from benchmarking_assets.sources.client import DEFAULT_API_URL, EducationDataClient
from benchmarking_assets.sources.coverage import api_years
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


class EducationDataSource(dg.ConfigurableResource):
    """Where raw district data comes from: ``sample`` (default, offline) or ``api`` (docs/data.md).

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
