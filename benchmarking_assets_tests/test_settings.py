"""Mistyped settings are refused once, at load, with the variable's name; run config that sets
some fields of a resource keeps the others from the environment (issue 13, cases 7 and 10)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from benchmarking_assets.defs.privacy.assets import peer_cohorts
from benchmarking_assets.defs.raw.assets import district_data_history
from benchmarking_assets.defs.resources import (
    EducationDataSource,
    PrivacySettings,
    ReportSettings,
    Warehouse,
    build_resources,
)
from benchmarking_assets.defs.retention.assets import privacy_retention, report_retention
from benchmarking_assets.defs.settings import SettingError
from benchmarking_assets.store import WarehouseStore
from benchmarking_assets_tests.fake_api import FakeApi
from benchmarking_assets_tests.test_privacy_end_to_end import seed_districts
from benchmarking_assets_tests.test_sources_derive import TABLES, YEAR

BENCHMARKING = Path(sys.executable).parent / "benchmarking"


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean environment whose defaults all live under ``tmp_path``."""
    for name in list(os.environ):
        if name in ("DATABASE_URL", "MIN_COHORT_SIZE", "DATA_RETENTION_DAYS", "REPORTS_DIR",
                    "DIFFERENTIAL_PRIVACY_EPSILON", "SUBMISSIONS_INBOX_DIR",
                    "EDUCATION_DATA_SOURCE", "EDUCATION_DATA_API_URL"):  # fmt: skip
            monkeypatch.delenv(name)
    monkeypatch.setenv("BENCHMARKING_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("sqlite://", "in-memory SQLite database, which keeps nothing"),
        ("sqlite:///:memory:", "in-memory SQLite database, which keeps nothing"),
        ("mysql://reader:s3cret@db.example/warehouse", "scheme 'mysql' is not supported"),
        ("postgress://reader@db.example/warehouse", "(did you mean postgresql://?)"),
        ("sqlite:////proc/self/warehouse.sqlite", "is under /proc, a kernel pseudo-file system"),
        ("postgresql+psycopg2://db.example/warehouse", "driver 'psycopg2' is not supported"),
    ],
)
def test_unusable_database_url_is_refused_at_load_naming_the_variable(
    environment: Path, monkeypatch: pytest.MonkeyPatch, url: str, fragment: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    with pytest.raises(SettingError) as refused:
        build_resources()
    message = str(refused.value)
    assert message.startswith("DATABASE_URL=")
    assert fragment in message
    assert "s3cret" not in message  # a password is never echoed
    # the same rule for a value given in code (or run config)
    with pytest.raises(ValueError, match=r"Warehouse\.database_url"):
        Warehouse(database_url=url)


def test_a_usable_database_url_loads(environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{environment / 'w.sqlite'}")
    resources = build_resources()
    # set variables reach Dagster as EnvVar (the UI shows where the value came from)
    assert isinstance(resources["warehouse"].database_url, dg.EnvVar)
    assert resources["warehouse"].store().url == f"sqlite:///{environment / 'w.sqlite'}"


def test_every_bad_variable_is_named_in_one_message(
    environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIFFERENTIAL_PRIVACY_EPSILON", "abc")
    monkeypatch.setenv("MIN_COHORT_SIZE", "1_0")  # int() would take it as 10
    monkeypatch.setenv("EDUCATION_DATA_SOURCE", "apii")
    monkeypatch.setenv("REPORTS_DIR", "/proc/reports")
    with pytest.raises(SettingError) as refused:
        build_resources()
    problems = str(refused.value).split("; ")
    assert problems == [
        "EDUCATION_DATA_SOURCE='apii': must be one of sample, api",
        "MIN_COHORT_SIZE='1_0': is not a whole number",
        "DIFFERENTIAL_PRIVACY_EPSILON='abc': is not a number",
        "REPORTS_DIR='/proc/reports': is under /proc, a kernel pseudo-file system, not storage",
    ]


def test_epsilon_abc_stops_the_command_with_the_variable_not_a_traceback(
    environment: Path,
) -> None:
    env = {**os.environ, "DIFFERENTIAL_PRIVACY_EPSILON": "abc"}
    run = subprocess.run(
        [str(BENCHMARKING), "participants", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert run.stderr.strip() == (
        "benchmarking: configuration error: DIFFERENTIAL_PRIVACY_EPSILON='abc': is not a number"
    )
    assert "Traceback" not in run.stderr + run.stdout
    # nothing was created: the warehouse is never opened with a bad configuration
    assert not (environment / "data" / "warehouse.sqlite").exists()


def test_the_code_location_does_not_load_with_a_bad_setting(
    environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from benchmarking_assets.definitions import defs

    monkeypatch.setenv("DATABASE_URL", "postgress://db.example/warehouse")
    with pytest.raises(Exception) as refused:  # Dagster wraps the loader's error
        defs()
    causes = []
    error: BaseException | None = refused.value
    while error is not None:  # bounded by the chain's length
        causes.append(error)
        error = error.__cause__
    (setting,) = [e for e in causes if isinstance(e, SettingError)]
    assert str(setting).startswith("DATABASE_URL='postgress://db.example/warehouse': scheme")


@pytest.mark.parametrize("days", ["0", "-1"])
def test_retention_of_zero_or_fewer_days_is_refused_before_any_report_is_deleted(
    environment: Path, monkeypatch: pytest.MonkeyPatch, days: str
) -> None:
    # At load: the environment variable.
    monkeypatch.setenv("DATA_RETENTION_DAYS", days)
    with pytest.raises(SettingError, match=f"DATA_RETENTION_DAYS='{days}': must be at least 1"):
        build_resources()
    monkeypatch.delenv("DATA_RETENTION_DAYS")

    # At run time: the same value in run config fails the run before report_retention runs,
    # and a report generated today (file and row) is still there.
    store = WarehouseStore(f"sqlite:///{environment / 'w.sqlite'}")
    store.migrate()
    report = environment / "reports" / "2021" / "0100001" / "benchmark_report_0100001_2021.pdf"
    report.parent.mkdir(parents=True)
    report.write_bytes(b"%PDF-1.4 a report")
    now = datetime.now(UTC)
    store.execute(
        "INSERT INTO benchmark_reports VALUES ('0100001', 2021, 'pdf', :p, 17, 'x', :g, :e)",
        {"p": str(report), "g": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
         "e": (now + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")},
    )  # fmt: skip
    result = dg.materialize(
        [report_retention],
        resources={
            "warehouse": Warehouse(database_url=store.url),
            "privacy": PrivacySettings(),
            "reports": ReportSettings(reports_dir=str(environment / "reports")),
        },
        run_config={"resources": {"privacy": {"config": {"retention_days": int(days)}}}},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    failure = result.get_run_failure_event()
    assert "PrivacySettings.retention_days (environment variable DATA_RETENTION_DAYS)" in str(
        failure.event_specific_data.error.cause or failure.event_specific_data.error
    )
    assert report.exists()
    assert store.scalar("SELECT COUNT(*) FROM benchmark_reports") == 1


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    (mat,) = result.asset_materializations_for_node(asset)
    return {k: v.value for k, v in mat.metadata.items()}


def test_partial_run_config_keeps_the_other_settings_from_the_environment(
    environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = environment / "w.sqlite"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("MIN_COHORT_SIZE", "20")
    monkeypatch.setenv("DATA_RETENTION_DAYS", "30")
    store = WarehouseStore(f"sqlite:///{db}")
    store.migrate()
    seed_districts(store)
    resources = build_resources()  # what the code location uses
    instance = dg.DagsterInstance.ephemeral()
    only_epsilon = {"resources": {"privacy": {"config": {"epsilon": 0.5}}}}

    cohorts = dg.materialize(
        [peer_cohorts], resources=resources, run_config=only_epsilon, partition_key="2019",
        instance=instance,
    )  # fmt: skip
    assert _metadata(cohorts, "peer_cohorts")["k"] == 20  # not the class default 5
    assert store.scalar("SELECT MIN(cohort_size) FROM peer_cohorts") >= 20

    retention = dg.materialize(
        [privacy_retention], resources=resources, run_config=only_epsilon, instance=instance
    )
    assert _metadata(retention, "privacy_retention")["retention_days"] == 30  # not 365


def test_api_source_with_only_a_timeout_in_run_config_still_reads_the_api(
    environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EDUCATION_DATA_SOURCE=api + run config {timeout_seconds: …} used to load the sample."""
    db = environment / "w.sqlite"
    with FakeApi(page_size=2) as api:
        for path, rows in TABLES.items():
            api.add(path, rows)
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
        monkeypatch.setenv("EDUCATION_DATA_SOURCE", "api")
        monkeypatch.setenv("EDUCATION_DATA_API_URL", api.base_url)
        result = dg.materialize(
            [district_data_history],
            resources=build_resources(),
            run_config={"resources": {"education_data": {"config": {"timeout_seconds": 5.0}}}},
            partition_key=f"AL|{YEAR}",
            instance=dg.DagsterInstance.ephemeral(),
        )
        requests = len(api.requests)
    assert _metadata(result, "district_data_history")["source"] == "api"
    assert requests > 0
    rows = WarehouseStore(f"sqlite:///{db}").read_df(
        "SELECT leaid, source FROM district_data_history ORDER BY leaid"
    )
    # the three AL districts with an id that the fake API serves (one leaid zero-filled), not
    # the sample's
    assert rows.rows() == [("0100001", "api"), ("0100002", "api"), ("0100003", "api")]


def test_bad_values_given_in_code_or_run_config_are_refused_with_the_field() -> None:
    with pytest.raises(ValueError, match=r"PrivacySettings.epsilon .*= 'abc': is not a number"):
        PrivacySettings(epsilon="abc")
    with pytest.raises(ValueError, match=r"EducationDataSource.timeout_seconds = 0: must be"):
        EducationDataSource(timeout_seconds=0)
    with pytest.raises(ValueError, match=r"unknown metro; choose from size, locale"):
        PrivacySettings(criteria=["size", "metro"])
