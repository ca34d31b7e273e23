"""Through Dagster: inbox sensor → ingestion → cohorts → public and private benchmarks, then
re-materialization (no fresh noise), withdrawal and retention, on SQLite and PostgreSQL."""

import argparse
import csv
import io
import math
import os
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from benchmarking_assets.cli.participants import demo_participants, run_participants
from benchmarking_assets.core.reports.exports import report_path
from benchmarking_assets.defs.automation.inbox_sensor import submissions_inbox_sensor
from benchmarking_assets.defs.automation.sensors import participation_sensor
from benchmarking_assets.defs.partitions import report_key
from benchmarking_assets.defs.resources import ReportSettings, Warehouse, build_privacy_settings
from benchmarking_assets.store import WarehouseStore, audit, participation
from benchmarking_assets.store.reports import generate
from benchmarking_assets.store.submissions import purge_expired
from benchmarking_assets_tests.pdf_support import extract_text
from benchmarking_assets_tests.privacy_support import (
    PUBLISHED,
    YEAR_ASSETS,
    YEARS,
    DrawCounter,
    leaid_of,
    materialize,
    resources,
    seed_districts,
    set_privacy_env,
    small_cells,
    write_submission,
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
    with dg.build_sensor_context(instance=instance, resources=sensor_resources) as ctx:
        first = submissions_inbox_sensor(ctx)
    assert len(first.run_requests) == 2
    with dg.build_sensor_context(
        instance=instance, cursor=first.cursor, resources=sensor_resources
    ) as ctx2:
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


# ----------------------------------------------------------------------------------------
# Finding 3: a per-district budget; a release over it is refused and the last one kept.

ENGAGEMENT = ("weekly_active_students_pct", "avg_session_minutes", "course_completion_pct")


def test_release_over_budget_is_refused_and_the_last_one_kept(
    store: WarehouseStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed_districts(store, per_state=12, states=("AL",))
    inbox = tmp_path / "inbox"
    # budget 3 = one release of the 3 engagement metrics at ε = 1; n_min = 10
    set_privacy_env(monkeypatch, k=5, epsilon=1, share=0.25, budget=3, inbox=inbox)
    res = resources(store)
    members = [leaid_of(0, i) for i in range(10)]
    for leaid in members:
        participation.enroll(store, leaid, ["engagement"], actor="test")
    rows = [(leaid, 2020, "engagement", m, 10.0 + 5 * i + j)
            for i, leaid in enumerate(members) for j, m in enumerate(ENGAGEMENT)]  # fmt: skip
    write_submission(inbox, "first.csv", rows)
    materialize(res, ["benchmark_metric_submissions"])
    materialize(res, YEAR_ASSETS, partition="2020")
    query = "SELECT metric, dp_mean, draw_id, released_at FROM private_cohort_benchmarks "
    before = store.read_df(query + "ORDER BY metric")
    assert before.height == 3

    e = members[4]
    write_submission(inbox, "resend.csv", [(e, 2020, "engagement", m, 90.0) for m in ENGAGEMENT])
    materialize(res, ["benchmark_metric_submissions"])
    draws = DrawCounter(monkeypatch)
    result = materialize(res, ["private_cohort_benchmarks"], partition="2020")
    assert draws.calls == 0  # every new draw would take e (and all others) to 4 > 3
    assert store.read_df(query + "ORDER BY metric").equals(before)  # the last release is kept
    status = store.read_df("SELECT status, status_reason FROM private_cohort_benchmarks")
    assert set(status["status"]) == {"stale"}
    for reason in status["status_reason"]:
        assert reason.startswith(f"not updated since {before['released_at'][0]}")
        assert "2020 engagement privacy budget (ε 3)" in reason
        assert not any(m in reason for m in members)  # no member is named
    assert store.scalar("SELECT COUNT(*) FROM privacy_noise_ledger") == 3
    spent = store.read_df("SELECT leaid, epsilon_spent, draws FROM privacy_budget_spent")
    assert spent.height == 10 and set(spent["draws"]) == {3}
    assert spent["epsilon_spent"].to_list() == [pytest.approx(3.0)] * 10
    meta = result.asset_materializations_for_node("private_cohort_benchmarks")[0].metadata
    assert meta["years"].value[0]["metrics_refused_for_budget"] == list(ENGAGEMENT)

    # the participant sees it: in its report, and from the command line
    generate(store, str(tmp_path / "reports"), 2020, [e], 5, 365, budget_limit=3.0)
    csv_rows = list(csv.DictReader(io.StringIO(
        report_path(tmp_path / "reports", e, 2020, "csv").read_text())))  # fmt: skip
    got = {(r["section"], r["metric"], r["measure"]): r for r in csv_rows}
    # OpenDP's privacy map charges ε·(1 − 1e-9) per draw: the scale carries a 1e-9 slack
    used = float(got[("privacy_budget", "engagement", "epsilon_used")]["value"])
    assert used == pytest.approx(3.0, abs=1e-8)
    assert float(got[("privacy_budget", "engagement", "epsilon_budget")]["value"]) == 3.0
    assert got[("private", ENGAGEMENT[0], "status")]["text"].startswith("not updated since")
    args = argparse.Namespace(
        database_url=store.url, actor="t", participants_command="budget", leaid=e, year=2020
    )
    assert run_participants(args) == 0
    out = capsys.readouterr().out
    assert "limit 3 (PRIVACY_BUDGET_PER_DISTRICT)" in out
    assert "2020  engagement        3.00    0.00      3" in out


# ----------------------------------------------------------------------------------------
# Finding 5: after withdraw → the participation sensor's runs → retention, nothing of the
# district remains anywhere but the audit log.


def test_nothing_of_a_withdrawn_district_remains_after_the_sensor_path(
    store: WarehouseStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_districts(store)
    inbox, reports_dir = tmp_path / "inbox", tmp_path / "reports"
    set_privacy_env(monkeypatch, k=5, inbox=inbox)
    res = {**resources(store), "reports": ReportSettings(reports_dir=str(reports_dir))}
    demo_participants(store, YEARS, inbox)
    instance = dg.DagsterInstance.ephemeral()
    materialize(res, ["benchmark_metric_submissions"], instance=instance)
    for year in YEARS:
        materialize(res, YEAR_ASSETS, partition=str(year), instance=instance)
    sensors = {"warehouse": res["warehouse"]}
    with dg.build_sensor_context(instance=instance, resources=sensors) as ctx:
        tick = participation_sensor(ctx)
    for request in tick.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    leaids = participation.list_participants(store)["leaid"].to_list()
    x, y = leaids[0], leaids[1]
    for leaid in (x, y):
        materialize(res, ["benchmark_reports"], partition=report_key(leaid, 2020),
                    instance=instance)  # fmt: skip
    name = store.scalar("SELECT lea_name FROM district_data_history WHERE leaid = :l", {"l": x})
    charges = store.read_df("SELECT draw_id FROM privacy_budget_charges WHERE leaid = :l", {"l": x})
    its_draws = set(charges["draw_id"])
    assert its_draws and list(reports_dir.glob(f"*/{x}/*"))
    runs_before = {r.run_id for r in instance.get_runs()}

    participation.withdraw(store, x, actor="test")
    with dg.build_sensor_context(instance=instance, cursor=tick.cursor, resources=sensors) as ctx:
        after = participation_sensor(ctx)
    assert after.run_requests  # membership changed: cohorts recompute for the years
    for request in after.dynamic_partitions_requests:
        for key in request.partition_keys:
            instance.delete_dynamic_partition(request.partitions_def_name, key)
    for request in after.run_requests:
        materialize(res, YEAR_ASSETS, partition=request.partition_key, instance=instance)
    materialize(res, ["benchmark_reports"], partition=report_key(y, 2020), instance=instance)
    materialize(res, ["privacy_retention", "report_retention"], instance=instance)

    assert private_rows(store, x) == dict.fromkeys(PRIVATE_TABLES, 0)
    assert store.scalar("SELECT COUNT(*) FROM privacy_budget_spent WHERE leaid = :l", {"l": x}) == 0
    for table in ("private_cohort_benchmarks", "participant_private_benchmarks", "dp_noise_draws"):
        assert not its_draws & set(store.read_df(f"SELECT draw_id FROM {table}")["draw_id"])
    # no file names it or prints it
    files = [p for p in reports_dir.rglob("*") if p.is_file()]
    assert files and not [p for p in files if x in str(p)]
    for path in files:
        text = (
            extract_text(path)
            if path.suffix == ".pdf"
            else path.read_bytes().decode("utf-8", "replace")
        )
        assert x not in text and name not in text, path
    # nor does anything Dagster recorded after the withdrawal
    later = [r for r in instance.get_runs() if r.run_id not in runs_before]
    assert len(later) >= 4
    for run in later:
        logged = " ".join(repr(e) for e in instance.all_logs(run.run_id))
        assert x not in logged and name not in logged, run.job_name
    # the audit log keeps the history
    actions = audit.read_log(store, x)["action"].to_list()
    assert actions[0] == "participant.enroll" and "participant.withdraw" in actions


# ----------------------------------------------------------------------------------------
# Finding 7: the comparison a district reads contains it, stays in its state when its state
# has enough contributors, is named truthfully with its n, and carries its margin.


def test_private_comparisons_are_usable(
    store: WarehouseStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_districts(store)  # CA, OR, NY, TX
    inbox, reports_dir = tmp_path / "inbox", tmp_path / "reports"
    set_privacy_env(monkeypatch, inbox=inbox)  # the defaults: k 5, ε 1, share 0.15 → n_min 16
    res = resources(store)
    demo_participants(store, YEARS, inbox)  # 36 in CA, 24 elsewhere
    materialize(res, ["benchmark_metric_submissions"])
    materialize(res, YEAR_ASSETS, partition="2020")
    rows = store.read_df(
        "SELECT m.leaid, m.metric, m.draw_id, b.group_label, b.n, b.margin_90, b.noise_scale, "
        "b.lower_bound, b.upper_bound, pc.state_code FROM participant_private_benchmarks m "
        "JOIN private_cohort_benchmarks b ON b.year = m.year AND b.metric = m.metric "
        "AND b.group_id = m.group_id JOIN peer_cohorts pc ON pc.leaid = m.leaid "
        "AND pc.year = m.year WHERE m.year = 2020"
    )
    charged = set(store.read_df("SELECT draw_id, leaid FROM privacy_budget_charges").rows())
    contributors = store.read_df(
        "SELECT s.metric, pc.state_code, COUNT(*) AS n FROM benchmark_metric_submissions s "
        "JOIN peer_cohorts pc ON pc.leaid = s.leaid AND pc.year = s.year WHERE s.year = 2020 "
        "GROUP BY s.metric, pc.state_code"
    )
    per_state = {(m, s): n for m, s, n in contributors.rows()}
    per_metric = contributors.group_by("metric").agg(pl.col("n").sum())
    assert rows.height == int(per_metric["n"].sum())  # every contributor sees its group
    names = {"CA": "California", "OR": "Oregon", "NY": "New York", "TX": "Texas"}
    for r in rows.iter_rows(named=True):
        assert (r["draw_id"], r["leaid"]) in charged  # the group contains the district
        assert r["n"] >= 16
        assert r["margin_90"] == pytest.approx(r["noise_scale"] * math.log(10), rel=1e-12)
        assert r["margin_90"] <= 0.15 * (r["upper_bound"] - r["lower_bound"])
        label, state = r["group_label"], names[r["state_code"]]
        if label.startswith("Participants in "):
            assert label.startswith(f"Participants in {state}")
        else:
            assert label.startswith("Participants nationwide")
            assert f"those in {state}" not in label  # not in a group it is excluded from
        rest = sum(n for (m, s), n in per_state.items() if m == r["metric"] and s != "CA")
        if per_state[(r["metric"], r["state_code"])] >= 16 and rest >= 16:
            assert label.startswith(f"Participants in {state}"), (r["metric"], label)
    # engagement (all 60 share it): California's 36 and the 24 others, each with its margin
    # engagement (all 60 share it): California's 36 stay in California (split by size where a
    # size band alone reaches 16), the other 24 share one group that says it excludes them
    groups = set(
        rows.filter(pl.col("metric") == "weekly_active_students_pct")
        .select("group_label", "n").rows()
    )  # fmt: skip
    in_ca = [(g, n) for g, n in groups if g.startswith("Participants in California")]
    assert sum(n for _, n in in_ca) == 36
    assert groups - set(in_ca) == {("Participants nationwide except those in California", 24)}

    # the reports show each value with its margin and its group, and say what the margin is
    ca = rows.filter(pl.col("state_code") == "CA")["leaid"][0]
    other = rows.filter(pl.col("state_code") != "CA")["leaid"][0]
    generate(store, str(reports_dir), 2020, [ca, other], 5, 365, budget_limit=9.0)
    for leaid in (ca, other):
        pdf = report_path(reports_dir, leaid, 2020, "pdf")
        text = " ".join(extract_text(pdf).split())
        mine = rows.filter(pl.col("leaid") == leaid)
        assert "±" in text and "in 9 cases out of 10 the true peer mean" in text
        for r in mine.iter_rows(named=True):
            assert f"{r['group_label']} (n={r['n']})" in text
        got = {(c["metric"], c["measure"]): c for c in csv.DictReader(io.StringIO(
            report_path(reports_dir, leaid, 2020, "csv").read_text()))}  # fmt: skip
        for r in mine.iter_rows(named=True):
            assert float(got[(r["metric"], "peer_dp_margin_90")]["value"]) == r["margin_90"]
            assert got[(r["metric"], "peer_group")]["text"] == r["group_label"]


def test_the_worked_example_of_docs_privacy(
    store: WarehouseStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/privacy.md §7, run for run: 20 districts of one state share engagement; the
    defaults (ε 1 per draw, budget 9, n_min 16); D's 2020 engagement spend and the ledger."""
    seed_districts(store, per_state=20, states=("AL",))
    inbox = tmp_path / "inbox"
    set_privacy_env(monkeypatch, inbox=inbox)
    res = resources(store)
    members = [leaid_of(0, i) for i in range(20)]
    d, e, f, g = members[0], members[1], members[2], members[3]
    for leaid in members:
        participation.enroll(store, leaid, ["engagement"], actor="test")
    values = {(m, metric): 20.0 + i + j for i, m in enumerate(members)
              for j, metric in enumerate(ENGAGEMENT)}  # fmt: skip

    def send(name: str, changes: dict[tuple[str, str], float]) -> None:
        values.update(changes)
        rows = [(m, 2020, "engagement", metric, v) for (m, metric), v in changes.items()]
        write_submission(inbox, name, rows)
        materialize(res, ["benchmark_metric_submissions"])

    def run() -> tuple[int, float, int]:
        materialize(res, ["private_cohort_benchmarks"], partition="2020")
        ledger = store.scalar("SELECT COUNT(*) FROM privacy_noise_ledger")
        spent = store.scalar(
            "SELECT epsilon_spent FROM privacy_budget_spent WHERE leaid = :l", {"l": d}
        )
        return ledger, round(spent, 6), store.scalar("SELECT COUNT(*) FROM dp_noise_draws")

    send("all.csv", dict(values))
    materialize(res, ["peer_cohorts"], partition="2020")
    weekly = "weekly_active_students_pct"
    assert run() == (3, 3.0, 3)  # run 1: first release, 3 draws
    assert run() == (3, 3.0, 3)  # run 2: nothing changed
    first = store.scalar("SELECT dp_mean FROM private_cohort_benchmarks WHERE metric = :m",
                         {"m": weekly})  # fmt: skip
    send("e1.csv", {(e, weekly): 90.0})
    assert run() == (4, 4.0, 4)  # run 3: E corrects weekly a → b
    send("e2.csv", {(e, weekly): 20.0 + 1})
    assert run() == (4, 4.0, 4)  # run 4: E reverts b → a: run 1's draw comes back
    assert store.scalar("SELECT dp_mean FROM private_cohort_benchmarks WHERE metric = :m",
                        {"m": weekly}) == first  # fmt: skip
    participation.withdraw(store, f, actor="test")  # deletes the 4 stored draws holding F
    assert store.scalar("SELECT COUNT(*) FROM dp_noise_draws") == 0
    assert run() == (7, 7.0, 3)  # run 5: F withdrew: 3 new draws, n = 19
    send("g.csv", {(g, m): 80.0 for m in ENGAGEMENT})
    assert run() == (9, 9.0, 5)  # run 6: G resends all three; the third is refused
    status = dict(store.read_df("SELECT metric, status FROM private_cohort_benchmarks").rows())
    assert status == {"weekly_active_students_pct": "current", "avg_session_minutes": "current",
                      "course_completion_pct": "stale"}  # fmt: skip
    assert store.read_df("SELECT n FROM privacy_noise_ledger ORDER BY drawn_at, draw_id")[
        "n"].to_list() == [20] * 4 + [19] * 5  # fmt: skip
