"""Finding 6: the "what improving peers look like" insight publishes no combination of means
that isolates fewer than k districts.

Published aggregates of one variable (a context metric c, or a trend t) are means over member
sets, with their sizes: a linear combination of them reveals the sum over a set S exactly when
the indicator vector of S lies in the rational span of the published sets' indicators. The
tests collect every published set — the ``cohort_benchmarks`` cell, and each report's parts —
and check by brute force (exact fractions) that no set of 1 … k−1 districts is in that span.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from itertools import combinations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarking_assets.core.catalog import PUBLIC_METRICS
from benchmarking_assets.core.reports.content import (
    NAMES,
    TREND_COLUMN,
    Cohort,
    MetricRow,
    ReportData,
)
from benchmarking_assets.core.reports.insights import (
    CONTEXT,
    derive_insights,
    plan_improver_splits,
)


def _span_basis(vectors: list[list[Fraction]]) -> list[list[Fraction]]:
    """Row-reduced basis (Gaussian elimination over the rationals)."""
    basis: list[list[Fraction]] = []
    for v in vectors:
        v = _reduce(v, basis)
        if any(v):
            pivot = next(i for i, x in enumerate(v) if x)
            v = [x / v[pivot] for x in v]
            basis = [_eliminate(b, v, pivot) for b in basis] + [v]
    return basis


def _eliminate(b: list[Fraction], v: list[Fraction], pivot: int) -> list[Fraction]:
    factor = b[pivot]
    return [x - factor * y for x, y in zip(b, v, strict=True)] if factor else b


def _reduce(v: list[Fraction], basis: list[list[Fraction]]) -> list[Fraction]:
    for b in basis:
        pivot = next(i for i, x in enumerate(b) if x)
        if v[pivot]:
            v = _eliminate(v, b, pivot)
    return v


def isolated_sets(universe: list[str], published: list[frozenset[str]], k: int) -> list[set]:
    """Every set of 1 … k−1 members whose sum some combination of the published sets reveals."""
    index = {m: i for i, m in enumerate(universe)}

    def vector(members: frozenset[str] | set[str]) -> list[Fraction]:
        v = [Fraction(0)] * len(universe)
        for m in members:
            v[index[m]] = Fraction(1)
        return v

    basis = _span_basis([vector(s) for s in published if s])
    found = []
    for size in range(1, k):
        for subset in combinations(universe, size):
            if not any(_reduce(vector(set(subset)), basis)):
                found.append(set(subset))
    return found


def _report(cohort_size: int, k: int, year: int = 2020) -> ReportData:
    rows = [
        MetricRow(info, None, None, None, None, None, None, None, None, None, None)
        for info in PUBLIC_METRICS
    ]
    trends = pl.DataFrame(
        schema={"year": pl.Int32, "metric": pl.String, "series": pl.String, "value": pl.Float64}
    )
    cohort = Cohort("C", cohort_size, "test", True, "test cohort")
    return ReportData("0000001", year, "D", "CA", k, cohort, rows, trends, [], (), "t")


def _members(columns: dict[str, list]) -> pl.DataFrame:
    n = len(next(iter(columns.values())))
    frame = {"cohort_id": ["C"] * n, "leaid": [f"{i:07d}" for i in range(n)]}
    for c in [*NAMES, *(TREND_COLUMN[m] for m in NAMES)]:
        frame[c] = columns.get(c, [None] * n)
    return pl.DataFrame(frame, schema={"cohort_id": pl.String, "leaid": pl.String} | {
        c: pl.Float64 for c in frame if c not in ("cohort_id", "leaid")})  # fmt: skip


def _cells(members: pl.DataFrame, k: int = 5, year: int = 2020) -> pl.DataFrame:
    """The cohort's cohort_benchmarks cells as published: n = members with a value, n ≥ k."""
    rows = [
        {"year": year, "cohort_id": "C", "metric": m, "n": int(members[m].is_not_null().sum())}
        for m in NAMES
    ]
    schema = {"year": pl.Int32, "cohort_id": pl.String, "metric": pl.String, "n": pl.Int64}
    return pl.DataFrame(rows, schema=schema).filter(pl.col("n") >= k)


def test_improver_parts_add_up_to_the_published_cell() -> None:
    # The attack of the review: 10 members with a graduation trend, 1 without; the cell of
    # expenditure_pp (n = 11) minus the two published "halves" gave the 11th member's value.
    k = 5
    trend = TREND_COLUMN["graduation"]
    members = _members({
        trend: [float(i) for i in range(10)] + [None],
        "expenditure_pp": [10_000.0 + 500 * i for i in range(10)] + [9_123.0],
    })  # fmt: skip
    found = [
        i
        for i in derive_insights(_report(11, k), members, _cells(members))
        if i.kind == "peer_improvers"
    ]
    assert len(found) == 1
    numbers = found[0].numbers
    assert numbers["context_metric"] == "expenditure_pp"
    assert numbers["improvers_n"] + numbers["others_n"] == 11  # nobody left out
    assert (numbers["improvers_n"], numbers["others_n"]) == (5, 6)
    # top 5 improvers: trends 9..5, expenditure 14,500..12,500; the others include the 11th
    assert numbers["improvers_mean"] == sum(10_000.0 + 500 * i for i in range(5, 10)) / 5
    others = [10_000.0 + 500 * i for i in range(5)] + [9_123.0]
    assert numbers["others_mean"] == sum(others) / 6
    cell_sum = float(members["expenditure_pp"].sum())
    recovered = cell_sum - numbers["improvers_mean"] * 5 - numbers["others_mean"] * 6
    assert abs(recovered) < 1e-6  # the subtraction now recovers nothing
    assert "1 of them without a 3-year value" in found[0].detail


def test_no_split_without_a_matching_published_cell() -> None:
    trend = TREND_COLUMN["graduation"]
    members = _members({
        trend: [float(i) for i in range(12)],
        "expenditure_pp": [10_000.0 + 700 * i for i in range(12)],
    })  # fmt: skip
    assert plan_improver_splits(members, {"expenditure_pp": 12}, 5)
    assert not plan_improver_splits(members, {}, 5)  # cell suppressed: no split on it
    assert not plan_improver_splits(members, {"expenditure_pp": 11}, 5)  # not the same set


DIRECTED = [m.name for m in PUBLIC_METRICS if m.direction != "neutral"]


@st.composite
def cohorts(draw: st.DrawFn) -> tuple[pl.DataFrame, int]:
    k = draw(st.integers(3, 5))
    n = draw(st.integers(2 * k, min(4 * k, 16)))
    value = st.one_of(st.none(), st.integers(0, 6).map(float))  # ties and gaps
    columns: dict[str, list] = {}
    for m in draw(st.lists(st.sampled_from(DIRECTED), min_size=1, max_size=4, unique=True)):
        columns[TREND_COLUMN[m]] = draw(st.lists(value, min_size=n, max_size=n))
    for c in CONTEXT:
        columns[c] = draw(st.lists(value, min_size=n, max_size=n))
    return _members(columns), k


@settings(max_examples=60, deadline=None)
@given(cohort=cohorts(), drop=st.sets(st.sampled_from(CONTEXT)))
def test_no_published_combination_isolates_fewer_than_k(
    cohort: tuple[pl.DataFrame, int], drop: set[str]
) -> None:
    members, k = cohort
    cells = _cells(members, k).filter(~pl.col("metric").is_in(list(drop)))  # some suppressed
    published_n = dict(zip(cells["metric"], cells["n"], strict=True))
    splits = plan_improver_splits(members, published_n, k)
    # every member's report shows the same splits: the plan depends on the cohort only
    for leaid in members["leaid"]:
        report = replace(_report(members.height, k), leaid=leaid)
        shown = {
            i.metric: i.numbers
            for i in derive_insights(report, members, cells)
            if i.kind == "peer_improvers"
        }
        assert shown.keys() == splits.keys()
        assert all(shown[m]["improvers_n"] == splits[m].top_n for m in shown)
    universe = members["leaid"].to_list()
    by_variable: dict[str, list[frozenset[str]]] = {}
    for c, n in published_n.items():
        if c in members.columns:
            cell = frozenset(members.filter(pl.col(c).is_not_null())["leaid"])
            assert len(cell) == n
            by_variable.setdefault(c, []).append(cell)
    for split in splits.values():
        cell = by_variable[split.context][0]
        assert split.top <= cell and split.top_n >= k and split.others_n >= k
        assert split.top_n + split.others_n == len(cell)
        by_variable[split.context] += [split.top, cell - split.top]
        by_variable.setdefault(TREND_COLUMN[split.metric], []).append(split.top)
    assert len({s.context for s in splits.values()}) == len(splits)  # one split per context
    for variable, published in by_variable.items():
        assert not isolated_sets(universe, published, k), variable


def test_the_span_check_finds_what_the_old_halves_leaked() -> None:
    # the control: cell of 11 minus two halves of 5 isolates the one left out
    universe = [f"{i:07d}" for i in range(11)]
    cell = frozenset(universe)
    halves = [frozenset(universe[:5]), frozenset(universe[5:10])]
    assert isolated_sets(universe, [cell, *halves], 5) == [{universe[10]}]
    # and why one split per context metric: with three, (A∪B) + (A∪C) − (B∪C) = 2·A
    ten = universe[:10]
    a, b, c = set(ten[:2]), set(ten[2:6]), set(ten[6:])
    three = [frozenset(a | b), frozenset(a | c), frozenset(b | c)]
    assert a in isolated_sets(ten, three, 5)
