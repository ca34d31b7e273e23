"""Finding 5: a withdrawal wins every race with a writer of participant-derived data, on SQLite
and PostgreSQL — whether it commits while the writer is between its read and its write, or the
writer is already inside its write transaction."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import benchmarking_assets.defs.privacy.assets as privacy_assets
import benchmarking_assets.store.cohorts as store_cohorts
import benchmarking_assets.store.participation as store_participation
import benchmarking_assets.store.reports as store_reports
from benchmarking_assets.store import WarehouseStore, participation
from benchmarking_assets.store.submissions import ingest_file, validation_registry
from benchmarking_assets_tests.privacy_support import (
    YEAR_ASSETS,
    leaid_of,
    materialize,
    resources,
    seed_districts,
    set_privacy_env,
    write_submission,
)

YEAR = 2020
MEMBERS = [leaid_of(s, i) for s in range(2) for i in range(10)]  # 10 in AL, 10 in AK
X = MEMBERS[0]
DERIVED = ("benchmark_participants", "benchmark_metric_submissions",
           "participant_private_benchmarks", "participant_percentiles", "privacy_budget_charges",
           "benchmark_reports", "benchmark_insights")  # fmt: skip


def _rows(values_from: int = 0) -> list[tuple[str, int, str, str, float]]:
    return [
        (leaid, YEAR, "engagement", "weekly_active_students_pct", 20.0 + 3 * i + values_from)
        for i, leaid in enumerate(MEMBERS)
    ]


@pytest.fixture
def world(store: WarehouseStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    seed_districts(store, per_state=12, states=("AL", "AK"))
    inbox = tmp_path / "inbox"
    set_privacy_env(monkeypatch, k=5, epsilon=1, share=0.25, budget=12, inbox=inbox)  # n_min 10
    for leaid in MEMBERS:
        participation.enroll(store, leaid, ["engagement"], actor="test")
    write_submission(inbox, "all.csv", _rows())
    res = resources(store)
    materialize(res, ["benchmark_metric_submissions"])
    materialize(res, ["peer_cohorts", "cohort_benchmarks"], partition=str(YEAR))
    return {"store": store, "res": res, "inbox": inbox, "tmp": tmp_path}


def nothing_of(store: WarehouseStore, leaid: str) -> dict[str, int]:
    """Rows naming the district in every participant-derived table (the audit log aside)."""
    return {
        t: int(store.scalar(f"SELECT COUNT(*) FROM {t} WHERE leaid = :l", {"l": leaid}))
        for t in DERIVED
    }


def _withdraw_in_thread(store: WarehouseStore, wait: float) -> threading.Thread:
    """Withdraw X from another connection; wait up to ``wait`` s for it (it blocks while the
    caller holds the participation lock)."""
    thread = threading.Thread(target=participation.withdraw, args=(store, X, "race"))
    thread.start()
    thread.join(timeout=wait)
    return thread


def test_withdrawal_between_the_release_read_and_its_write_wins(
    world: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, threads = world["store"], []
    real = store_cohorts.consented_contributions

    def read_then_withdraw(*args: Any, **kwargs: Any) -> pl.DataFrame:
        contributions = real(*args, **kwargs)
        assert X in contributions["leaid"].to_list()
        threads.append(_withdraw_in_thread(store, wait=1.0))
        return contributions

    monkeypatch.setattr(store_cohorts, "consented_contributions", read_then_withdraw)
    materialize(world["res"], ["private_cohort_benchmarks"], partition=str(YEAR))
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    assert nothing_of(store, X) == dict.fromkeys(DERIVED, 0)
    # the release committed first (groups AL and AK, 10 each), then the withdrawal deleted
    # what was derived from X's value: the AL group's row and stored draw; the AK group stays,
    # and the ledger keeps both draws' rows
    left = store.read_df("SELECT group_id, n FROM private_cohort_benchmarks").rows()
    assert left == [("P3:state_code=AK", 10)]
    assert store.scalar("SELECT COUNT(*) FROM dp_noise_draws") == 1
    assert store.scalar("SELECT COUNT(*) FROM privacy_noise_ledger") == 2
    # re-run: AL has 9 < 10 left, so the AK group dissolves into one national group of 19
    monkeypatch.setattr(store_cohorts, "consented_contributions", real)
    materialize(world["res"], ["private_cohort_benchmarks"], partition=str(YEAR))
    assert store.read_df("SELECT n FROM private_cohort_benchmarks")["n"].to_list() == [19]


def test_a_release_waiting_for_a_withdrawal_reads_after_it(
    world: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = world["store"]
    inside, real = threading.Event(), store_participation._purge_writes

    def slow_purge(*args: Any, **kwargs: Any) -> Any:
        out = real(*args, **kwargs)
        inside.set()
        time.sleep(1.0)  # the withdrawal holds its transaction open
        return out

    monkeypatch.setattr(store_participation, "_purge_writes", slow_purge)
    thread = threading.Thread(target=participation.withdraw, args=(store, X, "race"))
    thread.start()
    assert inside.wait(timeout=30)
    materialize(world["res"], ["private_cohort_benchmarks"], partition=str(YEAR))
    thread.join(timeout=60)
    assert nothing_of(store, X) == dict.fromkeys(DERIVED, 0)
    # the release ran without X: 19 contributors, one group of 19
    assert store.read_df("SELECT n FROM private_cohort_benchmarks")["n"].to_list() == [19]


def test_withdrawal_during_the_percentiles_run_wins(
    world: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = world["store"]
    real = privacy_assets.percentile_ranks

    def rank_then_withdraw(*args: Any, **kwargs: Any) -> pl.DataFrame:
        ranks = real(*args, **kwargs)
        assert X in ranks["leaid"].to_list()
        participation.withdraw(store, X, "race")
        return ranks

    monkeypatch.setattr(privacy_assets, "percentile_ranks", rank_then_withdraw)
    materialize(world["res"], ["participant_percentiles"], partition=str(YEAR))
    assert nothing_of(store, X) == dict.fromkeys(DERIVED, 0)
    assert store.scalar("SELECT COUNT(DISTINCT leaid) FROM participant_percentiles") == 19


def test_ingestion_after_a_withdrawal_inserts_nothing_of_the_district(world: dict) -> None:
    store = world["store"]
    registry = validation_registry(store)  # read before the withdrawal, as the asset does
    participation.withdraw(store, X, "race")
    path = write_submission(world["inbox"], "late.csv", _rows(values_from=1))
    summary = ingest_file(store, path, registry)
    assert nothing_of(store, X) == dict.fromkeys(DERIVED, 0)
    assert summary["accepted"] == 19 and summary["rejected"] == 1
    reasons = (world["inbox"] / "quarantine" / "late.csv.reasons.txt").read_text()
    assert f"district {X} is not an enrolled participant" in reasons


def test_withdrawal_while_reports_render_wins(world: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    store, res = world["store"], world["res"]
    materialize(res, YEAR_ASSETS, partition=str(YEAR))
    reports_dir = world["tmp"] / "reports"
    real = store_reports.read_frames

    def read_then_withdraw(*args: Any, **kwargs: Any) -> Any:
        frames = real(*args, **kwargs)
        participation.withdraw(store, X, "race")
        return frames

    monkeypatch.setattr(store_reports, "read_frames", read_then_withdraw)
    done = store_reports.generate(store, str(reports_dir), YEAR, MEMBERS[:3], 5, 365)
    assert [d["leaid"] for d in done] == MEMBERS[1:3]
    assert nothing_of(store, X) == dict.fromkeys(DERIVED, 0)
    assert not list(reports_dir.glob(f"*/{X}/*"))
    # two districts × every format (PDF, XLSX, long and wide CSV)
    assert len(list(reports_dir.glob("*/*/*"))) == 2 * len(store_reports.RENDERERS)


def test_withdrawal_between_the_commit_and_the_renames_leaves_no_file(
    world: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows commit under the lock, the files are renamed after it. A withdrawal that
    commits in between deletes the rows; a file renamed after its sweep (here: the sweep missed
    the temporary file, as when it listed the folder just before) must not stay behind."""
    store, res = world["store"], world["res"]
    materialize(res, YEAR_ASSETS, partition=str(YEAR))
    reports_dir = world["tmp"] / "reports"
    real_replace = store_reports.os.replace
    withdrawn: list[str] = []

    def withdraw_then_rename(src: Any, dst: Any) -> None:
        if Path(dst).parent.name == X and not withdrawn:
            kept = Path(src).read_bytes()
            participation.withdraw(store, X, "race")  # deletes its rows and its folder
            withdrawn.append(X)
            Path(src).parent.mkdir(parents=True, exist_ok=True)
            Path(src).write_bytes(kept)
        real_replace(src, dst)

    monkeypatch.setattr(store_reports.os, "replace", withdraw_then_rename)
    done = store_reports.generate(store, str(reports_dir), YEAR, MEMBERS[:3], 5, 365)
    monkeypatch.undo()
    assert withdrawn == [X] and [d["leaid"] for d in done] == MEMBERS[:3]
    assert nothing_of(store, X) == dict.fromkeys(DERIVED, 0)
    assert not list(reports_dir.glob(f"*/{X}/*"))
    listed = set(store.read_df("SELECT path FROM benchmark_reports")["path"].to_list())
    on_disk = {str(p) for p in reports_dir.glob("*/*/*")}
    assert on_disk == listed and len(listed) == 2 * len(store_reports.RENDERERS)
