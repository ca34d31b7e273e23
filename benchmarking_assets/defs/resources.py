"""The code location's resources and the settings they are built from.

Every setting has a working default and a rule (:mod:`benchmarking_assets.defs.settings`); a
resource receives a variable as ``EnvVar`` when it is set, so the UI shows where each value
came from, and run config that sets some fields of a resource keeps the others from the
environment. ``README.md`` (Configuration) lists them. :func:`build_resources` is the one place
resources are built from the environment, and validates every variable: the definitions and the
``benchmarking`` command both call it, so a bad setting stops them at load with a message
naming the variable.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from benchmarking_assets.core import privacy_rules
from benchmarking_assets.core.geography import FIRST_YEAR
from benchmarking_assets.core.partition_guard import DEFAULT_MAX_DISTRICT_LOSS
from benchmarking_assets.core.peer_groups import PeerCriteria
from benchmarking_assets.defs.settings import (
    Setting,
    SettingError,
    SettingsResource,
    check_environment,
    choice,
    http_url,
    integer,
    number,
    settings_of,
    subset,
)
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
from benchmarking_assets.store.paths import check_local_path
from benchmarking_assets.store.submissions import InboxLimits
from benchmarking_assets.store.warehouse import WarehouseStore, check_database_url, safe_url

SOURCES = ("sample", "api")
CRITERIA = ("size", "locale", "frl", "grade_span", "geography")


def _directory(value: Any) -> str:
    if not isinstance(value, str | os.PathLike):
        raise ValueError("is not a path")
    return str(check_local_path(value, "directory"))


def _database_url(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("is not a URL")
    return check_database_url(value)


DATA_DIR = Setting(
    "BENCHMARKING_DATA_DIR", "data", _directory, "root of the default warehouse, inbox, reports"
)


def data_dir() -> Path:
    """Root folder for the default warehouse, inbox and reports: ``BENCHMARKING_DATA_DIR``."""
    return Path(DATA_DIR.from_env())


def _warehouse_in_data_dir() -> str:
    return f"sqlite:///{data_dir() / 'warehouse.sqlite'}"


def _inbox_in_data_dir() -> str:
    return str(data_dir() / "inbox")


def _reports_in_data_dir() -> str:
    return str(data_dir() / "reports")


def default_database_url() -> str:
    """The configured warehouse URL (``DATABASE_URL``, else the data folder's SQLite file)."""
    return DATABASE_URL.from_env()


def default_inbox_dir() -> str:
    return SUBMISSIONS_INBOX_DIR.from_env()


def default_reports_dir() -> str:
    return REPORTS_DIR.from_env()


# Every setting of the code location; README.md (Configuration) lists the variables.
DATABASE_URL = Setting(
    "DATABASE_URL",
    _warehouse_in_data_dir,
    _database_url,
    "SQLAlchemy URL of the warehouse: sqlite:///file or postgresql://user@host:port/db",
    secret=True,  # it may hold a password: an EnvVar in the UI, masked in messages
    show=lambda url: repr(safe_url(url)),
)
EDUCATION_DATA_SOURCE = Setting(
    "EDUCATION_DATA_SOURCE", "sample", choice(SOURCES), "where raw data comes from"
)
EDUCATION_DATA_API_URL = Setting(
    "EDUCATION_DATA_API_URL", DEFAULT_API_URL, http_url, "base URL of the Education Data API"
)
API_TIMEOUT = Setting(None, 90.0, number(0, 3_600, low_open=True), "seconds per API read")
API_RETRIES = Setting(None, 4, integer(0, 20), "retries of a failed API request")
API_CONCURRENCY = Setting(None, 4, integer(1, 32), "API requests in flight at once")
API_PACE = Setting(None, 0.1, number(0, 60), "seconds between API requests")
API_RETRY_AFTER = Setting(None, 60.0, number(0, 3_600), "longest Retry-After honoured (s)")
# The privacy settings' limits are core.privacy_rules' (docs/privacy.md, "Settings and
# limits"): the general rule first (ASCII digits, a finite number), then the privacy limit, so
# a value outside it is refused with the variable's name, never clamped.
def _privacy_rule(base: Callable[[Any], Any], limit: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        checked = base(value)
        try:
            return limit(checked)
        except privacy_rules.PrivacyConfigError as exc:
            raise ValueError(exc.rule) from None  # the variable is named by the Setting

    return parse


MIN_COHORT_SIZE = Setting(
    "MIN_COHORT_SIZE",
    privacy_rules.DEFAULT_K,
    _privacy_rule(integer(), privacy_rules.check_k),
    f"k: minimum districts behind any published number, "
    f"{privacy_rules.K_FLOOR}–{privacy_rules.K_CEILING}",
    as_env="int",
)
DIFFERENTIAL_PRIVACY_EPSILON = Setting(
    "DIFFERENTIAL_PRIVACY_EPSILON",
    privacy_rules.DEFAULT_EPSILON,
    _privacy_rule(number(), privacy_rules.check_epsilon),
    f"ε per noise draw, {privacy_rules.EPSILON_FLOOR:g}–{privacy_rules.EPSILON_CEILING:g}",
    as_env=None,  # Dagster has no float EnvVar: the value, validated at load
)
PRIVACY_BUDGET_PER_DISTRICT = Setting(
    "PRIVACY_BUDGET_PER_DISTRICT",
    privacy_rules.DEFAULT_BUDGET,
    _privacy_rule(number(), privacy_rules.check_budget),
    "ε a district's data may cost per year and category, at least "
    f"{privacy_rules.LARGEST_CATEGORY} × ε, at most {privacy_rules.BUDGET_CEILING:g}",
    as_env=None,
)
DP_MAX_MARGIN_SHARE = Setting(
    "DP_MAX_MARGIN_SHARE",
    privacy_rules.DEFAULT_MARGIN_SHARE,
    _privacy_rule(number(), privacy_rules.check_margin_share),
    "largest 90 % noise margin published, as a share of the metric's range, at most "
    f"{privacy_rules.MARGIN_SHARE_CEILING:g}",
    as_env=None,
)
# At least a day (0 or less would make report_retention delete every report at once), at most
# ten years (a longer horizon is no retention; and far dates overflow the expiry arithmetic).
DATA_RETENTION_DAYS = Setting(
    "DATA_RETENTION_DAYS",
    365,
    integer(privacy_rules.RETENTION_DAYS_FLOOR, privacy_rules.RETENTION_DAYS_CEILING),
    "days private submissions and generated reports are kept",
    as_env="int",
)
SUBMISSIONS_INBOX_DIR = Setting(
    "SUBMISSIONS_INBOX_DIR", _inbox_in_data_dir, _directory, "where participants drop metric files"
)
# A submission file is a few rows per district, metric and year: 10 MB is ~250,000 rows. Bigger
# files are quarantined unread, so a stray export cannot exhaust the run's memory.
SUBMISSIONS_MAX_FILE_BYTES = Setting(
    "SUBMISSIONS_MAX_FILE_BYTES",
    10_000_000,
    integer(1_000, 1_000_000_000),
    "largest inbox file read, in bytes",
    as_env="int",
)
SUBMISSIONS_MAX_ROWS = Setting(
    "SUBMISSIONS_MAX_ROWS",
    100_000,
    integer(1, 10_000_000),
    "most rows read from one inbox file",
    as_env="int",
)
PEER_CRITERIA = Setting(
    None, lambda: list(CRITERIA), subset(CRITERIA), f"peer criteria, a subset of {CRITERIA}"
)
REPORTS_DIR = Setting("REPORTS_DIR", _reports_in_data_dir, _directory, "where reports are written")

# BENCHMARKING_DATA_DIR is checked through the defaults derived from it, when they are used.
ENVIRONMENT: tuple[Setting, ...] = (
    DATABASE_URL,
    EDUCATION_DATA_SOURCE,
    EDUCATION_DATA_API_URL,
    MIN_COHORT_SIZE,
    DIFFERENTIAL_PRIVACY_EPSILON,
    PRIVACY_BUDGET_PER_DISTRICT,
    DP_MAX_MARGIN_SHARE,
    DATA_RETENTION_DAYS,
    SUBMISSIONS_INBOX_DIR,
    SUBMISSIONS_MAX_FILE_BYTES,
    SUBMISSIONS_MAX_ROWS,
    REPORTS_DIR,
)


class Warehouse(SettingsResource):
    """SQLite file by default, PostgreSQL with a ``postgresql://`` URL; migrated on start,
    SQLite's write-ahead log checkpointed into the file when the run ends."""

    database_url: str = DATABASE_URL.field()

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        super().setup_for_execution(context)
        applied = self.store().migrate()
        if applied and context.log:
            context.log.info(f"warehouse migrations applied: {', '.join(applied)}")

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.store().checkpoint()

    def store(self) -> WarehouseStore:
        return WarehouseStore(DATABASE_URL.resolve(self.database_url, "Warehouse.database_url"))


COVERAGE_MODES = ("catalog", "shipped")
_COVERAGE_CACHE = CoverageCache(time.monotonic)


class EducationDataSource(SettingsResource):
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

    source: str = EDUCATION_DATA_SOURCE.field()
    api_url: str = EDUCATION_DATA_API_URL.field()
    timeout_seconds: float = API_TIMEOUT.field()
    max_retries: int = API_RETRIES.field()
    max_concurrency: int = API_CONCURRENCY.field()
    pace_seconds: float = API_PACE.field()
    max_retry_after_seconds: float = API_RETRY_AFTER.field()
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
        """A field's value, resolving an ``EnvVar`` Dagster left unresolved (run config that
        rebuilds the resource keeps the definition's ``EnvVar`` in fields it does not set)."""
        value = getattr(self, name)
        setting = settings_of(type(self)).get(name)
        if setting is not None:
            return setting.resolve(value, f"EducationDataSource.{name}")
        return value

    def kind(self) -> str:
        """``sample`` or ``api``; anything else is an error naming the setting."""
        where = "EducationDataSource.source"
        return EDUCATION_DATA_SOURCE.check(self.setting("source"), where)

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


class PrivacySettings(SettingsResource):
    """The privacy settings (docs/privacy.md, "Settings and limits"): k, ε per noise draw, the
    budget per district, the largest margin share, retention, the inbox and its bounds, and
    which peer criteria to use.

    Every field is a :class:`Setting` checked against the hard limits of
    :mod:`benchmarking_assets.core.privacy_rules` whenever a value is given (the environment at
    load, code, run config); the rules that span fields (the budget allows one release of the
    largest category at this ε) are checked by :func:`build_privacy_settings` at load and by
    :meth:`setup_for_execution` when a run starts. Consumers read :meth:`policy`, not the fields.
    """

    min_cohort_size: int = MIN_COHORT_SIZE.field()
    epsilon: float = DIFFERENTIAL_PRIVACY_EPSILON.field()
    budget_per_district: float = PRIVACY_BUDGET_PER_DISTRICT.field()
    max_margin_share: float = DP_MAX_MARGIN_SHARE.field()
    retention_days: int = DATA_RETENTION_DAYS.field()
    inbox_dir: str = SUBMISSIONS_INBOX_DIR.field()
    criteria: list[str] = PEER_CRITERIA.field()
    inbox_max_file_bytes: int = SUBMISSIONS_MAX_FILE_BYTES.field()
    inbox_max_rows: int = SUBMISSIONS_MAX_ROWS.field()

    def _value(self, name: str) -> Any:
        """A field's value, an ``EnvVar`` still unresolved read (and validated) from the
        environment (outside a run, or before ``setup_for_execution``)."""
        return settings_of(type(self))[name].resolve(
            getattr(self, name), f"PrivacySettings.{name}"
        )

    def policy(self) -> privacy_rules.PrivacyPolicy:
        """The validated policy; :class:`SettingError` naming the variable if the values do
        not hold together."""
        return _policy(
            k=self._value("min_cohort_size"),
            epsilon=self._value("epsilon"),
            budget=self._value("budget_per_district"),
            max_margin_share=self._value("max_margin_share"),
            retention_days=self._value("retention_days"),
        )

    def inbox(self) -> Path:
        return Path(self._value("inbox_dir"))

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        super().setup_for_execution(context)
        # Refuse to start a run with settings that passed field by field but not together
        # (e.g. a budget below one release of the largest category at this ε).
        self.policy()

    def peer_criteria(self) -> PeerCriteria:
        return PeerCriteria(**{c: c in self.criteria for c in CRITERIA})

    def inbox_limits(self) -> InboxLimits:
        return InboxLimits(
            max_file_bytes=self._value("inbox_max_file_bytes"),
            max_rows=self._value("inbox_max_rows"),
        )


def _policy(**values: Any) -> privacy_rules.PrivacyPolicy:
    try:
        return privacy_rules.PrivacyPolicy.from_values(**values)
    except privacy_rules.PrivacyConfigError as exc:  # the same error type as every setting's
        raise SettingError(f"{exc.variable}={exc.value!r}: {exc.rule}") from None


def build_privacy_settings() -> PrivacySettings:
    """The resource from the environment, every variable validated now, each alone and then
    together: a privacy setting outside its limits stops the code location (and the
    ``benchmarking`` command) from loading, with a :class:`SettingError` naming the variable."""
    settings = PrivacySettings(
        min_cohort_size=MIN_COHORT_SIZE.env_value(),
        epsilon=DIFFERENTIAL_PRIVACY_EPSILON.env_value(),
        budget_per_district=PRIVACY_BUDGET_PER_DISTRICT.env_value(),
        max_margin_share=DP_MAX_MARGIN_SHARE.env_value(),
        retention_days=DATA_RETENTION_DAYS.env_value(),
        inbox_dir=SUBMISSIONS_INBOX_DIR.env_value(),
        inbox_max_file_bytes=SUBMISSIONS_MAX_FILE_BYTES.env_value(),
        inbox_max_rows=SUBMISSIONS_MAX_ROWS.env_value(),
    )
    settings.policy()  # the rules spanning fields (budget ≥ 3 ε)
    return settings


class ReportSettings(SettingsResource):
    """Where report files go (``REPORTS_DIR``, default ``data/reports``)."""

    reports_dir: str = REPORTS_DIR.field()


def build_resources() -> dict[str, Any]:
    """Every resource of the code location, from the environment.

    Every variable is validated here, once, at load: a bad one stops the code location (and the
    ``benchmarking`` command) with a :class:`SettingError` naming it, before anything runs.
    """
    check_environment(ENVIRONMENT)
    return {
        "warehouse": Warehouse(database_url=DATABASE_URL.env_value()),
        "education_data": EducationDataSource(
            source=EDUCATION_DATA_SOURCE.env_value(),
            api_url=EDUCATION_DATA_API_URL.env_value(),
        ),
        "privacy": build_privacy_settings(),
        "reports": ReportSettings(reports_dir=REPORTS_DIR.env_value()),
    }


def resolved(resource: SettingsResource) -> Any:
    """The same resource with its ``EnvVar`` settings replaced by their validated values, for
    use outside a run (the ``benchmarking`` command)."""
    return resource.resolved()


def resolved_resources() -> dict[str, Any]:
    """:func:`build_resources`, resolved (see :func:`resolved`)."""
    return {key: resolved(resource) for key, resource in build_resources().items()}


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=build_resources())
