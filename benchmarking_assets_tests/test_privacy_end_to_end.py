"""Through Dagster: inbox sensor → ingestion → cohorts → public and private benchmarks, then
re-materialization (no fresh noise), withdrawal and retention, on SQLite and PostgreSQL."""

import hashlib
import os
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from benchmarking_assets.cli.participants import demo_participants
from benchmarking_assets.core.schemas import DISTRICT_DATA_HISTORY
from benchmarking_assets.defs.automation.inbox_sensor import submissions_inbox_sensor
from benchmarking_assets.defs.resources import PrivacySettings, Warehouse, build_privacy_settings
from benchmarking_assets.store import WarehouseStore, audit, participation
from benchmarking_assets.store.submissions import purge_expired
from benchmarking_assets_tests.definitions_support import assets_of

YEARS = (2019, 2020)
STATES = ("CA", "OR", "NY", "TX")
PUBLISHED = {  # table → its n column
    "peer_cohorts": "cohort_size",
    "cohort_benchmarks": "n",
    "private_cohort_benchmarks": "n",
    "participant_private_benchmarks": "n",
    "participant_percentiles": "cohort_n",
}


def _u(*parts: object) -> float:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8]) / 2**64


def seed_districts(store: WarehouseStore, per_state: int = 40) -> None:
    rows, bench = [], []
    for s_i, state in enumerate(STATES):
        for i in range(per_state):
            leaid = f"{s_i + 1:02d}{i:05d}"
            for year in YEARS:
                enr = int(300 + 60_000 * _u(leaid, "enr") ** 3)
                rows.append({
                    "leaid": leaid, "year": year, "state_code": state, "fips": s_i + 1,
                    "lea_name": f"District {leaid}", "enrollment": enr,
                    "frl_students": int(enr * _u(leaid, "frl")),
                    "urban_centric_locale": [11, 21, 32, 41, 42, 43][i % 6],
                    "lowest_grade": 0 if i % 5 else 9, "highest_grade": 12 if i % 7 else 8,
                    "source": "sample",
                })  # fmt: skip
                bench.append({
                    "leaid": leaid, "year": year, "state_code": state,
                    "graduation": None if i % 7 == 0 else 70 + 25 * _u(leaid, year, "g"),
                    "math_proficiency": 20 + 60 * _u(leaid, year, "m"),
                    "expenditure_pp": 9000 + 9000 * _u(leaid, year, "e"),
                })  # fmt: skip
    store.append_rows("district_data_history", pl.DataFrame(rows).cast(
        {c: t for c, t in DISTRICT_DATA_HISTORY.items() if c in rows[0]}))  # fmt: skip
    store.append_rows("district_benchmarks", pl.DataFrame(bench))


def resources(store: WarehouseStore, inbox: Path, k: int = 5) -> dict:
    return {
        "warehouse": Warehouse(database_url=store.url),
        "privacy": PrivacySettings(min_cohort_size=k, epsilon=1.0, inbox_dir=str(inbox)),
    }


def materialize(
    res: dict, keys: list[str], partition: str | None = None, config: dict | None = None
):
    selection = assets_of(keys=keys)
    result = dg.materialize(
        selection, resources=res, partition_key=partition, run_config=config or {},
        instance=dg.DagsterInstance.ephemeral(),
    )  # fmt: skip
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert all(c.passed for c in checks), [c.check_name for c in checks if not c.passed]
    return result


YEAR_ASSETS = ["peer_cohorts", "cohort_benchmarks", "participant_percentiles",
               "private_cohort_benchmarks"]  # fmt: skip


def small_cells(store: WarehouseStore, k: int) -> dict[str, int]:
    return {
        t: store.scalar(f"SELECT COUNT(*) FROM {t} WHERE {c} < :k", {"k": k})
        for t, c in PUBLISHED.items()
    }


def private_rows(store: WarehouseStore, leaid: str) -> dict[str, int]:
    tables = ["benchmark_participants", "benchmark_metric_submissions",
              "participant_private_benchmarks", "participant_percentiles"]  # fmt: skip
    return {
        t: store.scalar(f"SELECT COUNT(*) FROM {t} WHERE leaid = :l", {"l": leaid}) for t in tables
    }


def test_enroll_submit_release_rerun_withdraw(store: WarehouseStore, tmp_path: Path) -> None:
    seed_districts(store)
    inbox = tmp_path / "inbox"
    res = resources(store, inbox, k=5)
    files = demo_participants(store, YEARS, inbox)
    assert len(files) == 2

    # the sensor asks for one run per file, keyed by content hash; a second tick asks nothing
    instance = dg.DagsterInstance.ephemeral()
    ctx = dg.build_sensor_context(instance=instance, resources={"privacy": res["privacy"]})
    first = submissions_inbox_sensor(ctx)
    assert len(first.run_requests) == 2
    ctx2 = dg.build_sensor_context(
        instance=instance, cursor=first.cursor, resources={"privacy": res["privacy"]}
    )
    assert submissions_inbox_sensor(ctx2).run_requests == []
    for request in first.run_requests:
        materialize(res, ["benchmark_metric_submissions"], config=request.run_config)
    accepted = store.scalar("SELECT COUNT(*) FROM benchmark_metric_submissions")
    assert accepted > 0 and not any(inbox.glob("*.csv"))

    # re-sending the same file changes nothing
    resent = inbox / "again.csv"
    (tmp_path / "copy.csv").write_bytes(b"")  # unrelated file outside the inbox
    demo_participants(store, YEARS, tmp_path / "other")
    resent.write_bytes((tmp_path / "other" / "demo_submissions_2019.csv").read_bytes())
    materialize(res, ["benchmark_metric_submissions"])
    assert store.scalar("SELECT COUNT(*) FROM benchmark_metric_submissions") == accepted

    for year in YEARS:
        materialize(res, YEAR_ASSETS, partition=str(year))
    assert small_cells(store, 5) == dict.fromkeys(PUBLISHED, 0)
    assert store.scalar("SELECT COUNT(*) FROM private_cohort_benchmarks WHERE year = 2020") > 0

    # materializing the same year again: identical values, no new charge
    before = store.read_df(
        "SELECT * FROM private_cohort_benchmarks ORDER BY year, cohort_id, metric"
    )
    charges = store.scalar("SELECT COUNT(*) FROM privacy_budget_ledger")
    assert charges == store.scalar("SELECT COUNT(*) FROM dp_releases")  # one charge per release
    materialize(res, ["private_cohort_benchmarks"], partition="2020")
    after = store.read_df(
        "SELECT * FROM private_cohort_benchmarks ORDER BY year, cohort_id, metric"
    )
    assert after.equals(before)
    assert store.scalar("SELECT COUNT(*) FROM privacy_budget_ledger") == charges

    # withdraw one contributor of 2020 and re-run: nothing of it remains but the audit log
    leaid = store.scalar("SELECT MIN(leaid) FROM participant_private_benchmarks WHERE year = 2020")
    assert participation.withdraw(store, leaid, actor="test") == [2019, 2020]
    for year in YEARS:
        materialize(res, YEAR_ASSETS, partition=str(year))
    assert private_rows(store, leaid) == dict.fromkeys(private_rows(store, leaid), 0)
    # every stored release was computed without it: its release ids are the ones recomputed
    # from the remaining submissions, and the district is not among any cohort's contributors
    contributors = store.scalar("SELECT SUM(n) FROM private_cohort_benchmarks WHERE year = 2020")
    remaining = store.scalar(
        "SELECT COUNT(*) FROM participant_private_benchmarks WHERE year = 2020"
    )
    assert contributors == remaining
    stale = store.scalar(
        "SELECT COUNT(*) FROM dp_releases r WHERE NOT EXISTS (SELECT 1 FROM "
        "private_cohort_benchmarks b WHERE b.release_id = r.release_id)"
    )
    assert stale == 0
    log = audit.read_log(store, leaid)
    assert "participant.withdraw" in log["action"].to_list()
    assert small_cells(store, 5) == dict.fromkeys(PUBLISHED, 0)


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


def test_bad_file_is_quarantined_and_valid_rows_kept(sqlite_url: str, tmp_path: Path) -> None:
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
    materialize(resources(store, inbox), ["benchmark_metric_submissions"])
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
