"""Differential privacy: the noise has the Laplace scale it claims and the margin its coverage;
nothing published lets anyone test a guess (finding 1); identical inputs get their stored draw
back and the append-only ledger has one row per draw (finding 2).

Goodness of fit, pre-registered: N = 40,000 draws from the real OpenDP measurement on fixed
data, a one-sample Kolmogorov–Smirnov test of (release − true mean) against Laplace(0, b) at
α = 1e-6. The critical value uses the asymptotic bound P(√N·D > c) ≤ 2·exp(−2c²), so
c = √(ln(2/α)/2) = 2.693 and D must stay below c/√N = 0.01347. A false alarm happens about once
in a million runs. The control tests the *same* draws against a scale 10 % too large and 10 %
too small: the largest CDF gap between Laplace(b) and Laplace(1.1·b) is 0.0175 (at x ≈ 1.05·b),
well above the threshold, so a mechanism with the wrong scale would fail.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest
import sqlalchemy as sa

from benchmarking_assets.core.dp import MECHANISM, mean_measurement, mean_scale
from benchmarking_assets.defs.automation.inbox_sensor import submissions_inbox_sensor
from benchmarking_assets.defs.automation.sensors import participation_sensor
from benchmarking_assets.store import WarehouseStore, participation
from benchmarking_assets.store.warehouse import WarehouseError
from benchmarking_assets_tests.privacy_support import (
    YEAR_ASSETS,
    DrawCounter,
    leaid_of,
    materialize,
    resources,
    seed_districts,
    set_privacy_env,
    write_submission,
)

ALPHA = 1e-6
DRAWS = 40_000


def laplace_cdf(x: np.ndarray, scale: float) -> np.ndarray:
    return np.where(x < 0, 0.5 * np.exp(x / scale), 1 - 0.5 * np.exp(-x / scale))


def ks_statistic(sample: np.ndarray, scale: float) -> float:
    xs = np.sort(sample)
    cdf = laplace_cdf(xs, scale)
    n = xs.size
    upper = np.arange(1, n + 1) / n - cdf
    lower = cdf - np.arange(0, n) / n
    return float(max(upper.max(), lower.max()))


def ks_critical(n: int, alpha: float = ALPHA) -> float:
    return math.sqrt(math.log(2 / alpha) / 2) / math.sqrt(n)


@pytest.fixture(scope="module")
def noise() -> tuple[np.ndarray, float]:
    values = [12.0, 35.5, 50.0, 61.0, 77.25, 80.0, 90.0, 99.0, 3.0, 41.0]  # n = 10 in [0, 100]
    measurement, scale = mean_measurement(len(values), (0.0, 100.0), 1.0)
    true_mean = sum(values) / len(values)
    draws = np.array([measurement(values) for _ in range(DRAWS)]) - true_mean
    return draws, scale


def test_scale_is_sensitivity_over_epsilon() -> None:
    # (U − L) / (n · ε) = 100 / (10 · 1) = 10, and 240 / (20 · 0.5) = 24 (plus 1e-9 slack)
    assert mean_scale(10, (0.0, 100.0), 1.0) == pytest.approx(10.0, rel=1e-8)
    assert mean_scale(20, (0.0, 240.0), 0.5) == pytest.approx(24.0, rel=1e-8)
    measurement, _ = mean_measurement(10, (0.0, 100.0), 1.0)
    assert measurement.map(2) <= 1.0  # one record replaced costs at most ε
    assert measurement.map(2) == pytest.approx(1.0, rel=1e-6)


def test_noise_is_laplace_with_the_claimed_scale(noise: tuple[np.ndarray, float]) -> None:
    draws, scale = noise
    assert ks_statistic(draws, scale) < ks_critical(DRAWS)
    assert draws.var() == pytest.approx(2 * scale**2, rel=0.05)  # Var = 2b²


@pytest.mark.parametrize("wrong", [0.9, 1.1])
def test_control_the_test_rejects_a_wrong_scale(
    noise: tuple[np.ndarray, float], wrong: float
) -> None:
    draws, scale = noise
    assert ks_statistic(draws, scale * wrong) > ks_critical(DRAWS)


def test_margin_is_the_90_percent_interval_of_the_noise(noise: tuple[np.ndarray, float]) -> None:
    import opendp.prelude as dp

    from benchmarking_assets.core.dp import margin_90

    draws, scale = noise
    # b·ln 10, and the same as OpenDP's own accuracy at α = 0.10
    assert margin_90(scale) == pytest.approx(scale * math.log(10), rel=1e-12)
    assert margin_90(scale) == pytest.approx(dp.laplacian_scale_to_accuracy(scale, 0.10))
    # coverage of 40,000 draws: 0.90 ± 4 standard errors (√(0.9·0.1/40000) = 0.0015)
    covered = float(np.mean(np.abs(draws) <= margin_90(scale)))
    assert abs(covered - 0.90) < 4 * math.sqrt(0.9 * 0.1 / DRAWS)


@pytest.mark.parametrize(
    ("share", "epsilon", "expected"),
    [(0.15, 1.0, 16), (0.10, 2.0, 12), (0.25, 2.0, 5), (0.10, 0.5, 47), (0.25, 1.0, 10)],
)
def test_smallest_publishable_group(share: float, epsilon: float, expected: int) -> None:
    from benchmarking_assets.core.dp import margin_share
    from benchmarking_assets.core.privacy_rules import smallest_publishable_n

    # ⌈ln 10 / (s·ε)⌉: the margin's share of the range is ln 10 / (n·ε) for every metric
    assert math.ceil(math.log(10) / (share * epsilon)) == expected
    assert smallest_publishable_n(epsilon, share) == expected
    assert margin_share(expected, epsilon) <= share < margin_share(expected - 1, epsilon)


def test_input_digest_is_keyed_clamped_and_ignores_labels() -> None:
    from benchmarking_assets.core.dp import input_digest

    members = [("0600001", 41.17), ("0600002", 77.03)]
    key, other = b"k" * 32, b"o" * 32
    same = input_digest(key, 2020, "learning_gain_pts", members, 1.0)
    assert same == input_digest(key, 2020, "learning_gain_pts", list(reversed(members)), 1.0)
    assert same != input_digest(other, 2020, "learning_gain_pts", members, 1.0)
    assert same != input_digest(key, 2020, "learning_gain_pts", members, 2.0)
    # learning_gain_pts is bounded to [-50, 50]: 77.03 and 50 are the same clamped input
    clamped = [("0600001", 41.17), ("0600002", 50.0)]
    assert same == input_digest(key, 2020, "learning_gain_pts", clamped, 1.0)
    # and it is not the unkeyed SHA-256 of the same payload
    assert len(same) == 64 and same != hashlib.sha256(b"").hexdigest()


# ----------------------------------------------------------------------------------------
# Finding 1: nothing anyone outside the private tables can see lets them test a guess.

OLD_MECHANISM = "opendp-0.16 laplace on clamped mean, public n"
KNOWN = {"0100000": 41.17, "0100001": 77.03, "0100002": 12.5, "0100003": 63.38}
TARGET, TRUE_VALUE = "0100004", 55.55
METRIC, YEAR = "course_completion_pct", 2020
HEX = re.compile(r"[0-9a-f]{12,}")


def _file_bytes(leaid: str, value: float) -> bytes:
    return (
        f"leaid,year,category,metric,value\n{leaid},{YEAR},engagement,{METRIC},{value}\n".encode()
    )


def _guess_hashes(guess: float, group_ids: set[str], epsilons: set[float]) -> list[str]:
    """Every digest an attacker who knows the other four values would try for one guess."""
    rows = sorted([*KNOWN.items(), (TARGET, guess)])
    out = [hashlib.sha256(_file_bytes(TARGET, guess)).hexdigest()]  # the inbox file itself
    for eps in epsilons:
        for gid in group_ids:  # the old release id (cohort id inside)
            payload = [OLD_MECHANISM, YEAR, METRIC, gid, [0.0, 100.0], repr(eps), rows]
            out.append(
                hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode()).hexdigest()
            )
        new = [MECHANISM, YEAR, METRIC, [0.0, 100.0], repr(eps), [(a, repr(v)) for a, v in rows]]
        out.append(hashlib.sha256(json.dumps(new, separators=(",", ":")).encode()).hexdigest())
    return out


def _recover(visible_text: str, group_ids: set[str], epsilons: set[float]) -> float | None:
    """The brute force: 10,001 guesses on the 0.01 grid against every hex string shown."""
    windows = {t[i : i + 12] for t in HEX.findall(visible_text) for i in range(len(t) - 11)}
    for cents in range(10_001):
        guess = cents / 100
        if any(h[:12] in windows for h in _guess_hashes(guess, group_ids, epsilons)):
            return guess
    return None


def _visible_text(store: WarehouseStore, instance: dg.DagsterInstance, extra: list[str]) -> str:
    """Everything outside the private tables: published tables, the ledger, every event of
    every run (metadata, logs, tags, config), sensor run keys, tags and cursors."""
    parts = list(extra)
    for table in ("private_cohort_benchmarks", "participant_private_benchmarks",
                  "privacy_noise_ledger", "privacy_budget_spent", "cohort_benchmarks",
                  "peer_cohorts"):  # fmt: skip
        if table in store.table_names() or table == "privacy_budget_spent":
            try:
                parts.append(str(store.read_df(f"SELECT * FROM {table}").rows()))
            except Exception:  # a table the other layout does not have
                continue
    for run in instance.get_runs():
        parts += [repr(run.tags), repr(run.run_config)]
        parts += [repr(entry) for entry in instance.all_logs(run.run_id)]
    return "\n".join(parts)


def test_no_published_string_lets_anyone_test_a_guess(
    store: WarehouseStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_districts(store, per_state=8, states=("AL",))
    inbox = tmp_path / "inbox"
    # n_min = max(5, ⌈ln 10 / (0.25 · 2)⌉) = 5: the smallest group the limits allow
    set_privacy_env(monkeypatch, k=5, epsilon=2, share=0.25, budget=12, inbox=inbox)
    res = resources(store)
    for leaid, value in [*KNOWN.items(), (TARGET, TRUE_VALUE)]:
        participation.enroll(store, leaid, ["engagement"], actor="test")
        (
            inbox.mkdir(exist_ok=True),
            (inbox / f"{leaid}.csv").write_bytes(_file_bytes(leaid, value)),
        )
    instance = dg.DagsterInstance.ephemeral()
    sensors = {"privacy": res["privacy"], "warehouse": res["warehouse"]}
    with dg.build_sensor_context(instance=instance, resources=sensors) as ctx:
        inbox_tick = submissions_inbox_sensor(ctx)
    assert len(inbox_tick.run_requests) == 5  # one one-row file per district
    shown = [inbox_tick.cursor or ""]
    for request in inbox_tick.run_requests:
        shown += [request.run_key or "", repr(request.tags)]
        materialize(res, ["benchmark_metric_submissions"], config=request.run_config,
                    instance=instance)  # fmt: skip
    materialize(res, YEAR_ASSETS, partition=str(YEAR), instance=instance)
    with dg.build_sensor_context(instance=instance, resources=sensors) as ctx:
        membership = participation_sensor(ctx)
    shown += [membership.cursor or ""] + [f"{r.run_key} {r.tags}" for r in membership.run_requests]
    published = store.read_df("SELECT * FROM private_cohort_benchmarks")
    assert published.filter(pl.col("metric") == METRIC)["n"].to_list() == [5]

    group_ids = {"L6:national", "L0:national"} | set(
        store.read_df("SELECT DISTINCT cohort_id FROM peer_cohorts")["cohort_id"]
    )
    group_ids |= set(published["group_id" if "group_id" in published.columns else "cohort_id"])
    epsilons = {2.0}
    text = _visible_text(store, instance, shown)
    assert _recover(text, group_ids, epsilons) is None
    # the control: the same brute force does find the value from the old, unkeyed release id
    rows = sorted([*KNOWN.items(), (TARGET, TRUE_VALUE)])
    old_id = hashlib.sha256(json.dumps(
        [OLD_MECHANISM, YEAR, METRIC, "L6:national", [0.0, 100.0], repr(2.0), rows],
        separators=(",", ":")).encode()).hexdigest()  # fmt: skip
    assert _recover(f"release {old_id}", {"L6:national"}, {2.0}) == TRUE_VALUE
    # published ids are random (uuid4), one per draw
    ids = published["draw_id"].to_list()
    assert len(set(ids)) == len(ids) and all(re.fullmatch("[0-9a-f]{32}", i) for i in ids)


# ----------------------------------------------------------------------------------------
# Finding 2: identical inputs get the stored draw back; the ledger counts every draw.


def _engagement_rows(values: dict[str, float], metric: str = "weekly_active_students_pct"):  # type: ignore[no-untyped-def]
    return [(leaid, YEAR, "engagement", metric, v) for leaid, v in values.items()]


def _dp_mean(store: WarehouseStore, metric: str) -> float:
    return store.scalar(
        "SELECT dp_mean FROM private_cohort_benchmarks WHERE year = :y AND metric = :m",
        {"y": YEAR, "m": metric},
    )


def test_revert_reuses_the_stored_draw_and_the_ledger_counts_every_draw(
    store: WarehouseStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_districts(store, per_state=12, states=("AL",))
    inbox = tmp_path / "inbox"
    set_privacy_env(monkeypatch, k=5, epsilon=1, share=0.25, budget=12, inbox=inbox)  # n_min 10
    res = resources(store)
    members = [leaid_of(0, i) for i in range(10)]
    for leaid in members:
        participation.enroll(store, leaid, ["engagement"], actor="test")
    a = {leaid: 10.0 + 7 * i for i, leaid in enumerate(members)}
    write_submission(inbox, "first.csv", _engagement_rows(a))
    materialize(res, ["benchmark_metric_submissions"])
    draws = DrawCounter(monkeypatch)
    materialize(res, YEAR_ASSETS, partition=str(YEAR))
    first = _dp_mean(store, "weekly_active_students_pct")
    assert draws.calls == 1

    e = members[3]
    for step, value in enumerate((a[e] + 20.0, a[e])):  # a → b → a
        write_submission(inbox, f"correction{step}.csv", _engagement_rows({e: value}))
        materialize(res, ["benchmark_metric_submissions"])
        materialize(res, ["private_cohort_benchmarks"], partition=str(YEAR))
    assert draws.calls == 2  # only b needed a draw; reverting to a got a's draw back
    assert _dp_mean(store, "weekly_active_students_pct") == first
    materialize(res, ["private_cohort_benchmarks"], partition=str(YEAR))  # nothing changed
    assert draws.calls == 2

    ledger = store.read_df("SELECT * FROM privacy_noise_ledger ORDER BY drawn_at, draw_id")
    assert ledger.height == draws.calls  # one row per noise draw
    assert set(ledger.columns) == {
        "draw_id",
        "drawn_at",
        "year",
        "category",
        "metric",
        "group_id",
        "n",
        "epsilon",
        "noise_scale",
        "mechanism",
    }
    assert ledger["n"].to_list() == [10, 10] and ledger["epsilon"].to_list() == [
        pytest.approx(1.0), pytest.approx(1.0)]  # fmt: skip
    # each member was charged once per draw that contained it: e twice, the others once
    spent = dict(store.read_df(
        "SELECT leaid, epsilon_spent FROM privacy_budget_spent WHERE year = :y", {"y": YEAR}
    ).iter_rows())  # fmt: skip
    assert spent[e] == pytest.approx(2.0) and spent[members[0]] == pytest.approx(2.0)

    # append-only, in the code and in the database itself
    with pytest.raises(WarehouseError, match="append-only"):
        store.replace_rows("privacy_noise_ledger", ledger.head(0), {"year": YEAR})
    for statement in ("DELETE FROM privacy_noise_ledger",
                      "UPDATE privacy_noise_ledger SET n = 1",
                      "DELETE FROM privacy_audit_log"):  # fmt: skip
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            store.execute(statement)
    assert store.read_df("SELECT * FROM privacy_noise_ledger ORDER BY drawn_at, draw_id").equals(
        ledger
    )
