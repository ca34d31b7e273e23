"""Through Dagster: inbox sensor → ingestion → cohorts → public and private benchmarks, then
re-materialization (no fresh noise), withdrawal and retention, on SQLite and PostgreSQL."""

import os
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from benchmarking_assets.cli.participants import demo_participants
from benchmarking_assets.defs.automation.inbox_sensor import submissions_inbox_sensor
from benchmarking_assets.defs.resources import Warehouse, build_privacy_settings
from benchmarking_assets.store import WarehouseStore, audit, participation
from benchmarking_assets.store.submissions import purge_expired
from benchmarking_assets_tests.privacy_support import (
    PUBLISHED,
    YEAR_ASSETS,
    YEARS,
    materialize,
    resources,
    seed_districts,
    set_privacy_env,
    small_cells,
)

PRIVATE_TABLES = ["benchmark_participants", "benchmark_metric_submissions",
                  "participant_private_benchmarks", "participant_percentiles",
                  "privacy_budget_charges", "benchmark_reports", "benchmark_insights"]  # fmt: skip


def private_rows(store: WarehouseStore, leaid: str) -> dict[str, int]:
    return {
        t: store.scalar(f"SELECT COUNT(*) FROM {t} WHERE leaid = :l", {"l": leaid})
        for t in PRIVATE_TABLES
    }


def test_enroll_submit_release_rerun_withdraw(
    store: WarehouseStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_districts(store)
    inbox = tmp_path / "inbox"
    set_privacy_env(monkeypatch, k=5, inbox=inbox)
    res = resources(store)
    files = demo_participants(store, YEARS, inbox)
    assert len(files) == 2

    # the sensor asks for one run per file, keyed by a digest of its content; a second tick
    # asks nothing
    instance = dg.DagsterInstance.ephemeral()
    sensor_resources = {"privacy": res["privacy"], "warehouse": res["warehouse"]}
    ctx = dg.build_sensor_context(instance=instance, resources=sensor_resources)
    first = submissions_inbox_sensor(ctx)
    assert len(first.run_requests) == 2
    ctx2 = dg.build_sensor_context(
        instance=instance, cursor=first.cursor, resources=sensor_resources
    )
    assert submissions_inbox_sensor(ctx2).run_requests == []
    for request in first.run_requests:
        materialize(res, ["benchmark_metric_submissions"], config=request.run_config)
    accepted = store.scalar("SELECT COUNT(*) FROM benchmark_metric_submissions")
    assert accepted > 0 and not any(inbox.glob("*.csv"))

    # re-sending the same file changes nothing
    resent = inbox / "again.csv"
    demo_participants(store, YEARS, tmp_path / "other")
    resent.write_bytes((tmp_path / "other" / "demo_submissions_2019.csv").read_bytes())
    materialize(res, ["benchmark_metric_submissions"])
    assert store.scalar("SELECT COUNT(*) FROM benchmark_metric_submissions") == accepted

    for year in YEARS:
        materialize(res, YEAR_ASSETS, partition=str(year))
    assert small_cells(store, 5) == dict.fromkeys(PUBLISHED, 0)
    # private groups reach n_min = max(k, ⌈ln 10 / (0.15 · 1)⌉) = 16 at the defaults
    assert store.scalar("SELECT MIN(n) FROM private_cohort_benchmarks") >= 16
    assert store.scalar("SELECT COUNT(*) FROM private_cohort_benchmarks WHERE year = 2020") > 0

    # materializing the same year again: identical values, no new draw, no new ledger row
    query = "SELECT * FROM private_cohort_benchmarks ORDER BY year, metric, group_id"
    before = store.read_df(query)
    draws = store.scalar("SELECT COUNT(*) FROM privacy_noise_ledger")
    assert draws == store.scalar("SELECT COUNT(*) FROM dp_noise_draws") == before.height
    materialize(res, ["private_cohort_benchmarks"], partition="2020")
    assert store.read_df(query).equals(before)
    assert store.scalar("SELECT COUNT(*) FROM privacy_noise_ledger") == draws

    # withdraw one contributor of 2020 and re-run: nothing of it remains but the audit log
    leaid = store.scalar("SELECT MIN(leaid) FROM participant_private_benchmarks WHERE year = 2020")
    its_draws = store.read_df(
        "SELECT draw_id FROM privacy_budget_charges WHERE leaid = :l", {"l": leaid}
    )["draw_id"].to_list()
    assert its_draws
    assert participation.withdraw(store, leaid, actor="test") == [2019, 2020]
    for year in YEARS:
        materialize(res, YEAR_ASSETS, partition=str(year))
    assert private_rows(store, leaid) == dict.fromkeys(PRIVATE_TABLES, 0)
    for table in ("private_cohort_benchmarks", "participant_private_benchmarks", "dp_noise_draws"):
        found = store.read_df(f"SELECT draw_id FROM {table}")["draw_id"].to_list()
        assert not set(found) & set(its_draws), table
    # the published n add up to the remaining contributors, group by group
    contributors = store.scalar("SELECT SUM(n) FROM private_cohort_benchmarks WHERE year = 2020")
    remaining = store.scalar(
        "SELECT COUNT(*) FROM participant_private_benchmarks WHERE year = 2020"
    )
    assert contributors == remaining
    # the ledger only grew: the draws it recorded before are all still there
    ledger = store.read_df("SELECT draw_id FROM privacy_noise_ledger")["draw_id"].to_list()
    assert set(before["draw_id"]) <= set(ledger) and len(ledger) > draws
    log = audit.read_log(store, leaid)
    assert "participant.withdraw" in log["action"].to_list()
    assert small_cells(store, 5) == dict.fromkeys(PUBLISHED, 0)
    assert store.scalar("SELECT MIN(n) FROM participant_private_benchmarks") >= 16


@pytest.mark.parametrize("k", [5, 10])
def test_demo_publishes_nothing_below_k(
    sqlite_url: str, tmp_path: Path, k: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = WarehouseStore(sqlite_url)
    store.migrate()
    seed_districts(store, per_state=60)
    inbox = tmp_path / "inbox"
    # k comes from the environment, as in a deployment (MIN_COHORT_SIZE → EnvVar)
    monkeypatch.setenv("MIN_COHORT_SIZE", str(k))
    monkeypatch.setenv("SUBMISSIONS_INBOX_DIR", str(inbox))
    res = {"warehouse": Warehouse(database_url=store.url), "privacy": build_privacy_settings()}
    demo_participants(store, YEARS, inbox)
    materialize(res, ["benchmark_metric_submissions"])
    for year in YEARS:
        materialize(res, YEAR_ASSETS, partition=str(year))
    assert small_cells(store, k) == dict.fromkeys(PUBLISHED, 0)
    assert store.scalar("SELECT COUNT(*) FROM private_cohort_benchmarks") > 0
    assert store.scalar("SELECT MIN(cohort_size) FROM peer_cohorts") >= k


def test_bad_file_is_quarantined_and_valid_rows_kept(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = WarehouseStore(sqlite_url)
    store.migrate()
    seed_districts(store, per_state=5)
    participation.enroll(store, "0100001", ["engagement"], actor="test")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "mixed.csv").write_text(
        "leaid,year,category,metric,value\n"
        "0100001,2020,engagement,avg_session_minutes,30\n"
        "0100001,2020,engagement,weekly_active_students_pct,140\n"
    )
    monkeypatch.setenv("SUBMISSIONS_INBOX_DIR", str(inbox))
    materialize(resources(store), ["benchmark_metric_submissions"])
    assert store.scalar("SELECT COUNT(*) FROM benchmark_metric_submissions") == 1
    reasons = (inbox / "quarantine" / "mixed.csv.reasons.txt").read_text()
    assert reasons.startswith("mixed.csv line 3: value 140 of weekly_active_students_pct")
    assert (inbox / "quarantine" / "mixed.csv").exists() and not (inbox / "mixed.csv").exists()


def test_retention_purges_old_and_unconsented_submissions(sqlite_url: str, tmp_path: Path) -> None:
    store = WarehouseStore(sqlite_url)
    store.migrate()
    seed_districts(store, per_state=5)
    participation.enroll(store, "0100001", ["engagement"], actor="test")
    rows = pl.DataFrame(
        {
            "leaid": ["0100001", "0100001", "0100002"],
            "year": [2020, 2019, 2020],
            "category": ["engagement"] * 3,
            "metric": ["avg_session_minutes"] * 3,
            "value": [30.0, 31.0, 32.0],
            "file_sha256": ["x"] * 3,
            "line": [2, 3, 4],
            "received_at": ["2000-01-01T00:00:00Z", time.strftime("%Y-%m-%dT%H:%M:%SZ",
                            time.gmtime()), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())],
        }
    )  # fmt: skip
    store.append_rows("benchmark_metric_submissions", rows)
    old = tmp_path / "quarantine"
    old.mkdir()
    (old / "x.csv").write_text("old")
    os.utime(old / "x.csv", (0, 0))
    counts = purge_expired(store, 365, tmp_path)
    # the 2000 row expired; 0100002 is not a participant; the 2019 row of 0100001 stays
    assert counts == {"submissions_purged": 2, "quarantine_files_purged": 1}
    left = store.read_df("SELECT leaid, year FROM benchmark_metric_submissions")
    assert left.rows() == [("0100001", 2019)]
