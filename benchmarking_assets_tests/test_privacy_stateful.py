"""A Hypothesis state machine over the real privacy code on a real warehouse: random
enrolments, submissions (inbox files, ingested), re-sends, reverts, settings changes,
withdrawals and re-runs of the private release (the Dagster asset, invoked directly) and of the
reports. After every step:

* ledger rows = noise draws, and the ledger only ever grows (no row changes);
* no member's spend exceeds its budget;
* identical inputs give the identical published value (checked after every run);
* nothing of a withdrawn district is in any participant-derived table, any report file, the
  charges of a live draw, or the metadata of any later run;
* every published group has n ≥ n_min and a margin within the limit, and the groups of a
  metric are disjoint.

A small budget (two draws per category) makes refusals frequent. The machine runs on SQLite;
the single-step behaviours it composes are tested on both backends elsewhere.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path

import dagster as dg
import polars as pl
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import benchmarking_assets.core.dp as dp
import benchmarking_assets.store.reports as store_reports
from benchmarking_assets.core.catalog import PRIVATE_BY_NAME
from benchmarking_assets.defs.privacy.assets import private_cohort_benchmarks
from benchmarking_assets.defs.resources import PrivacySettings, Warehouse
from benchmarking_assets.store import WarehouseStore, participation
from benchmarking_assets.store.cohorts import compute_peer_cohorts
from benchmarking_assets.store.submissions import ingest_file, validation_registry
from benchmarking_assets_tests.privacy_support import leaid_of, seed_districts

YEAR = 2020
DISTRICTS = [leaid_of(0, i) for i in range(7)] + [leaid_of(1, i) for i in range(4)]
METRICS = ("weekly_active_students_pct", "avg_session_minutes", "mastery_rate_pct")
CATEGORIES = ("engagement", "ai_tutor")
# n_min = max(5, ⌈ln 10 / (0.25 · 2)⌉) = 5; the budget allows 3 draws per category and year
POLICY = {"min_cohort_size": 5, "epsilon": 2.0, "budget_per_district": 6.0,
          "max_margin_share": 0.25}  # fmt: skip
DERIVED = ("benchmark_participants", "benchmark_metric_submissions",
           "participant_private_benchmarks", "privacy_budget_charges", "benchmark_reports",
           "benchmark_insights", "pipeline_failures")  # fmt: skip

cents = st.integers(0, 10_000)


def value_of(metric: str, c: int) -> float:
    m = PRIVATE_BY_NAME[metric]
    return round(m.lower + c / 10_000 * (m.upper - m.lower), 2)


def fake_render(report) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    """Stands in for the PDF/XLSX/CSV renderers: a file that prints the district's id, name
    and own values, as the real ones do."""
    own = ";".join(f"{p.metric}={p.own_value}" for p in report.private)
    text = f"{report.leaid} {report.lea_name} {own}".encode()
    return {"csv": text}


class PrivacyMachine(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="privacy-machine-"))
        self.store = WarehouseStore(f"sqlite:///{self.tmp / 'w.sqlite'}")
        self.store.migrate()
        seed_districts(self.store, per_state=7, states=("AL", "AK"))
        cohorts, _ = compute_peer_cohorts(self.store, YEAR, 5, PrivacySettings().peer_criteria())
        self.store.replace_rows("peer_cohorts", cohorts, {"year": YEAR})
        self.inbox, self.reports = self.tmp / "inbox", self.tmp / "reports"
        self.privacy = PrivacySettings(**POLICY, inbox_dir=str(self.inbox))
        self.policy = self.privacy.policy()
        self.warehouse = Warehouse(database_url=self.store.url)
        self.instance = dg.DagsterInstance.ephemeral()
        self.draws = 0
        self._real_draw, self._real_render = dp.draw, store_reports.render_report

        def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
            self.draws += 1
            return self._real_draw(*args, **kwargs)

        dp.draw, store_reports.render_report = counted, fake_render
        self.shares: dict[str, set[str]] = {}
        self.withdrawn: dict[str, set[str]] = {}  # leaid → draw ids it was charged for
        self.history: dict[tuple[str, str], list[float]] = {}
        self.files: list[tuple[str, bytes]] = []
        self.seen: dict[tuple[str, frozenset], float] = {}
        self.ledger: list[tuple] = []
        self.metadata: list[tuple[int, str]] = []  # (run number, what it recorded)
        self.withdrawn_at: dict[str, int] = {}  # leaid → runs recorded before it withdrew
        self.changed = True  # inputs changed since the last run
        # a first group, so that most runs have something to draw, reuse or refuse
        self.cohort_submits([1_000 * i for i in range(6)], METRICS[0])

    def teardown(self) -> None:
        if hasattr(self, "tmp"):
            dp.draw, store_reports.render_report = self._real_draw, self._real_render
            self.store.engine.dispose()
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ------------------------------------------------------------------ rules
    @rule(leaid=st.sampled_from(DISTRICTS), cats=st.sets(st.sampled_from(CATEGORIES), min_size=1))
    def enroll(self, leaid: str, cats: set[str]) -> None:
        if leaid in self.shares:
            return
        participation.enroll(self.store, leaid, sorted(cats), actor="machine")
        self.changed = True
        self.shares[leaid] = set(cats)
        self.withdrawn.pop(leaid, None)

    def _send(self, rows: list[tuple[str, str, float]]) -> None:
        self.inbox.mkdir(exist_ok=True)
        lines = ["leaid,year,category,metric,value"]
        lines += [f"{leaid},{YEAR},{PRIVATE_BY_NAME[m].category},{m},{v}" for leaid, m, v in rows]
        data = ("\n".join(lines) + "\n").encode()
        name = f"s{len(self.files)}.csv"
        self.files.append((name, data))
        self.changed = True
        self._ingest(name, data)
        for leaid, m, v in rows:
            if PRIVATE_BY_NAME[m].category in self.shares.get(leaid, set()):
                self.history.setdefault((leaid, m), []).append(v)

    def _ingest(self, name: str, data: bytes) -> None:
        path = self.inbox / name
        path.write_bytes(data)
        ingest_file(self.store, path, validation_registry(self.store))

    @rule(leaid=st.sampled_from(DISTRICTS), metric=st.sampled_from(METRICS), c=cents)
    def submit(self, leaid: str, metric: str, c: int) -> None:
        self._send([(leaid, metric, value_of(metric, c))])

    @rule(values=st.lists(cents, min_size=6, max_size=6), metric=st.sampled_from(METRICS))
    def cohort_submits(self, values: list[int], metric: str) -> None:
        category = PRIVATE_BY_NAME[metric].category
        for leaid in DISTRICTS[:6]:
            self.enroll(leaid, set(CATEGORIES))
        eligible = [d for d in DISTRICTS[:6] if category in self.shares[d]]
        pairs = zip(eligible, values, strict=False)  # every eligible one gets a value
        self._send([(d, metric, value_of(metric, c)) for d, c in pairs])

    @rule(i=st.integers(0, 50))
    def resend(self, i: int) -> None:
        if self.files:
            name, data = self.files[i % len(self.files)]
            self._ingest(f"again-{name}", data)  # same bytes: already ingested, no change

    @rule(leaid=st.sampled_from(DISTRICTS), metric=st.sampled_from(METRICS))
    def revert(self, leaid: str, metric: str) -> None:
        past = self.history.get((leaid, metric), [])
        if len(past) >= 2 and leaid in self.shares:
            self._send([(leaid, metric, past[-2])])

    @rule(i=st.integers(0, 20), cats=st.sets(st.sampled_from(CATEGORIES), min_size=1))
    def change_settings(self, i: int, cats: set[str]) -> None:
        if not self.shares:
            return
        leaid = sorted(self.shares)[i % len(self.shares)]
        participation.update_settings(self.store, leaid, sorted(cats), actor="machine")
        self.changed = True
        for dropped in self.shares[leaid] - cats:
            self._forget(leaid, dropped)
        self.shares[leaid] = set(cats)

    @rule(i=st.integers(0, 20))
    def withdraw(self, i: int) -> None:
        if not self.shares:
            return
        leaid = sorted(self.shares)[i % len(self.shares)]
        charged = self.store.read_df(
            "SELECT draw_id FROM privacy_budget_charges WHERE leaid = :l", {"l": leaid}
        )
        participation.withdraw(self.store, leaid, actor="machine")
        self.changed = True
        self.withdrawn[leaid] = set(charged["draw_id"].to_list()) if charged.height else set()
        self.withdrawn_at[leaid] = len(self.metadata)
        if self.withdrawn[leaid]:
            event("withdrawal of a district with draws")
        for category in self.shares.pop(leaid):
            self._forget(leaid, category)

    def _forget(self, leaid: str, category: str) -> None:
        """Its values of ``category`` are gone, and so are the draws that held them."""
        for key in [k for k in self.history if k[0] == leaid]:
            if PRIVATE_BY_NAME[key[1]].category == category:
                del self.history[key]
        self.seen = {k: v for k, v in self.seen.items() if leaid not in {m for m, _ in k[1]}}

    @rule()
    def run(self) -> None:
        context = dg.build_asset_context(partition_key=str(YEAR), instance=self.instance)
        result = private_cohort_benchmarks(context, warehouse=self.warehouse, privacy=self.privacy)
        assert all(c.passed for c in result.check_results), result.check_results
        years = result.metadata["years"].value[0]
        event(f"run: {'drew' if years['new_draws'] else 'no new draw'}")
        if years["reused_draws"]:
            event("run: reused a stored draw")
        if years["metrics_refused_for_budget"]:
            event("run: refused for budget")
        active = sorted(self.shares)
        done = store_reports.generate(
            self.store, str(self.reports), YEAR, active, 5, 365, budget_limit=6.0
        )
        summary = [{k: v for k, v in d.items() if k != "_report"} for d in done]
        self.metadata.append((len(self.metadata), f"{result.metadata!r} {summary!r}"))
        self._check_identical_inputs()
        self.changed = False

    @rule()
    def rerun(self) -> None:
        before = self.store.read_df(
            "SELECT metric, group_id, dp_mean, draw_id FROM private_cohort_benchmarks "
            "ORDER BY metric, group_id"
        )
        draws, changed = self.draws, self.changed
        self.run()
        after = self.store.read_df(
            "SELECT metric, group_id, dp_mean, draw_id FROM private_cohort_benchmarks "
            "ORDER BY metric, group_id"
        )
        if not changed:  # nothing but re-sends since the last run: nothing may change
            assert after.equals(before) and self.draws == draws

    def _check_identical_inputs(self) -> None:
        rows = self.store.read_df(
            "SELECT b.metric, b.group_id, b.dp_mean, m.leaid, s.value "
            "FROM private_cohort_benchmarks b JOIN participant_private_benchmarks m "
            "ON m.year = b.year AND m.metric = b.metric AND m.group_id = b.group_id "
            "JOIN benchmark_metric_submissions s ON s.leaid = m.leaid AND s.year = m.year "
            "AND s.metric = m.metric WHERE b.status = 'current'"
        )
        for (metric, _), group in rows.group_by("metric", "group_id"):
            inputs = frozenset(zip(group["leaid"], group["value"], strict=True))
            mean = group["dp_mean"][0]
            assert self.seen.setdefault((metric, inputs), mean) == mean, metric

    # ------------------------------------------------------------------ invariants
    @invariant()
    def ledger_rows_are_the_draws_and_only_grow(self) -> None:
        if not hasattr(self, "store"):
            return
        ledger = self.store.read_df(
            "SELECT draw_id, year, category, metric, group_id, n, epsilon, noise_scale "
            "FROM privacy_noise_ledger"
        ).rows()
        assert len(ledger) == self.draws
        assert set(self.ledger) <= set(ledger)
        self.ledger = ledger

    @invariant()
    def nobody_over_budget(self) -> None:
        if not hasattr(self, "store"):
            return
        spent = self.store.scalar("SELECT MAX(epsilon_spent) FROM privacy_budget_spent")
        assert (spent or 0.0) <= self.policy.budget + 1e-9

    @invariant()
    def nothing_of_a_withdrawn_district(self) -> None:
        if not hasattr(self, "store"):
            return
        live = set(
            self.store.read_df(
                "SELECT draw_id FROM dp_noise_draws UNION SELECT draw_id FROM "
                "private_cohort_benchmarks UNION SELECT draw_id FROM "
                "participant_private_benchmarks"
            )["draw_id"].to_list()
        )
        files = [p for p in self.reports.rglob("*") if p.is_file()] if self.reports.exists() else []
        texts = [str(p) + p.read_bytes().decode() for p in files]
        for leaid, draws in self.withdrawn.items():
            later = " ".join(t for i, t in self.metadata if i >= self.withdrawn_at[leaid])
            for table in DERIVED:
                column = "partition_key" if table == "pipeline_failures" else "leaid"
                n = self.store.scalar(
                    f"SELECT COUNT(*) FROM {table} WHERE {column} = :l", {"l": leaid}
                )
                assert n == 0, (table, leaid)
            assert not draws & live, leaid
            assert not any(leaid in t for t in texts), leaid
            assert leaid not in later  # in no run's metadata since it withdrew

    @invariant()
    def published_groups_are_large_disjoint_and_tight(self) -> None:
        if not hasattr(self, "store"):
            return
        rows = self.store.read_df(
            "SELECT metric, group_id, n, margin_90, noise_scale, lower_bound, upper_bound "
            "FROM private_cohort_benchmarks"
        )
        for r in rows.iter_rows(named=True):
            assert r["n"] >= self.policy.n_min
            assert r["margin_90"] == r["noise_scale"] * math.log(10)
            assert r["margin_90"] <= 0.25 * (r["upper_bound"] - r["lower_bound"]) * (1 + 1e-9)
        mapping = self.store.read_df(
            "SELECT leaid, metric, group_id, n FROM participant_private_benchmarks"
        )
        assert mapping.select("leaid", "metric").is_unique().all()  # disjoint per metric
        sizes = mapping.group_by("metric", "group_id").agg(pl.len(), pl.col("n").first())
        assert (sizes["len"] == sizes["n"]).all()  # n is the real group size


PrivacyMachine.TestCase.settings = settings(
    max_examples=15,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_privacy_state_machine = PrivacyMachine.TestCase
