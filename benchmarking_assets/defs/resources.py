"""The code location's resources and the settings they are built from.

Every setting has a working default; a resource receives a variable as ``EnvVar`` when it is
set, so the UI shows where each value came from. ``README.md`` (Configuration) lists them.
:func:`build_resources` is the one place resources are built from the environment: the
definitions and the ``benchmarking`` command both call it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr, field_validator

from benchmarking_assets.core import privacy_rules
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


def _privacy_env(key: str) -> Callable[[], Any]:
    """A field's default: its environment variable, validated, else the documented default.

    A factory rather than a constant because Dagster fills fields that run config leaves out
    from the class's defaults: a constant would silently replace ``MIN_COHORT_SIZE=20`` by 5.
    """

    def read() -> Any:
        raw = os.environ.get(privacy_rules.ENV[key], "").strip()
        return privacy_rules.CHECKS[key](raw) if raw else privacy_rules.DEFAULTS[key]

    return read


def _unresolved(value: Any) -> bool:
    """An ``EnvVar``/``EnvVar.int`` not yet resolved (Dagster resolves it when a run starts)."""
    return isinstance(value, dg.EnvVar) or hasattr(value, "env_var_name")


def _resolve(value: Any) -> Any:
    return value.get_value() if _unresolved(value) else value


class PrivacySettings(dg.ConfigurableResource):
    """The privacy settings (docs/privacy.md, "Settings and limits"): k, ε per noise draw, the
    budget per district, the largest margin share, retention, the inbox and the peer criteria.

    Every value is checked against the hard limits of :mod:`benchmarking_assets.core.
    privacy_rules` when the resource is built (the code location's load, or a run's config),
    and again when a run starts (``setup_for_execution``); an out-of-range value is refused
    with the variable's name, never clamped. Consumers read :meth:`policy`, not the fields.
    """

    min_cohort_size: int = Field(
        default_factory=_privacy_env("k"),
        description=f"k (MIN_COHORT_SIZE): minimum districts behind any published number, "
        f"{privacy_rules.K_FLOOR}–{privacy_rules.K_CEILING}",
    )
    epsilon: float = Field(
        default_factory=_privacy_env("epsilon"),
        description=f"ε per noise draw (DIFFERENTIAL_PRIVACY_EPSILON), "
        f"{privacy_rules.EPSILON_FLOOR:g}–{privacy_rules.EPSILON_CEILING:g}",
    )
    budget_per_district: float = Field(
        default_factory=_privacy_env("budget"),
        description="ε a district's data may cost per year and category "
        f"(PRIVACY_BUDGET_PER_DISTRICT), ≤ {privacy_rules.BUDGET_CEILING:g}",
    )
    max_margin_share: float = Field(
        default_factory=_privacy_env("max_margin_share"),
        description="largest 90 % noise margin published, as a share of the metric's range "
        f"(DP_MAX_MARGIN_SHARE), ≤ {privacy_rules.MARGIN_SHARE_CEILING:g}",
    )
    retention_days: int = Field(
        default_factory=_privacy_env("retention_days"),
        description="days a submission is kept (DATA_RETENTION_DAYS)",
    )
    inbox_dir: str = Field(default_factory=default_inbox_dir)
    criteria: list[str] = Field(default=list(CRITERIA), description=f"subset of {CRITERIA}")

    # "before" validators: an EnvVar is left for Dagster to resolve (an "after" validator
    # would see it converted to a number, e.g. 0); everything else is checked here.
    @field_validator("min_cohort_size", mode="before")
    @classmethod
    def _check_k(cls, value: Any) -> Any:
        return value if _unresolved(value) else privacy_rules.check_k(value)

    @field_validator("epsilon", mode="before")
    @classmethod
    def _check_epsilon(cls, value: Any) -> Any:
        return value if _unresolved(value) else privacy_rules.check_epsilon(value)

    @field_validator("budget_per_district", mode="before")
    @classmethod
    def _check_budget(cls, value: Any) -> Any:
        return value if _unresolved(value) else privacy_rules.check_budget(value)

    @field_validator("max_margin_share", mode="before")
    @classmethod
    def _check_margin_share(cls, value: Any) -> Any:
        return value if _unresolved(value) else privacy_rules.check_margin_share(value)

    @field_validator("retention_days", mode="before")
    @classmethod
    def _check_retention(cls, value: Any) -> Any:
        return value if _unresolved(value) else privacy_rules.check_retention_days(value)

    def policy(self) -> privacy_rules.PrivacyPolicy:
        """The validated policy (an EnvVar still unresolved is read from the environment)."""
        return privacy_rules.PrivacyPolicy.from_values(
            k=_resolve(self.min_cohort_size),
            epsilon=_resolve(self.epsilon),
            budget=_resolve(self.budget_per_district),
            max_margin_share=_resolve(self.max_margin_share),
            retention_days=_resolve(self.retention_days),
        )

    def inbox(self) -> Path:
        return Path(_resolve(self.inbox_dir))

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Refuse to start a run with settings that passed field by field but not together
        # (e.g. a budget below one release of the largest category at this ε).
        self.policy()
        self.peer_criteria()

    def peer_criteria(self) -> PeerCriteria:
        unknown = set(self.criteria) - set(CRITERIA)
        if unknown:
            raise ValueError(f"unknown peer criteria {sorted(unknown)}; choose from {CRITERIA}")
        return PeerCriteria(**{c: c in self.criteria for c in CRITERIA})


def build_privacy_settings() -> PrivacySettings:
    """The resource from the environment, validated now: a privacy setting outside its limits
    stops the code location from loading, with a message naming the variable.

    Integer settings are passed as ``EnvVar`` when set, so the UI shows where they came from;
    Dagster has no float ``EnvVar``, so ε, the budget and the margin share are read here.
    """
    raw = {
        key: os.environ[var].strip()
        for key, var in privacy_rules.ENV.items()
        if os.environ.get(var, "").strip()
    }
    policy = privacy_rules.PrivacyPolicy.from_values(**raw)

    def int_setting(key: str, value: int) -> Any:
        return dg.EnvVar.int(privacy_rules.ENV[key]) if key in raw else value

    return PrivacySettings(
        min_cohort_size=int_setting("k", policy.k),
        epsilon=policy.epsilon,
        budget_per_district=policy.budget,
        max_margin_share=policy.max_margin_share,
        retention_days=int_setting("retention_days", policy.retention_days),
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
