"""Public cohort statistics: linear percentiles, primary and complementary suppression, ranks."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarking_assets.core.suppression import (
    TOTAL_COHORT,
    cohort_statistics,
    percentile_ranks,
    suppression_plan,
)


def _values(cells: dict[str, list[float | None]], metric: str = "graduation") -> pl.DataFrame:
    rows = [
        {"leaid": f"{cohort}-{i}", "cohort_id": cohort, "metric": metric, "value": v}
        for cohort, vs in cells.items()
        for i, v in enumerate(vs)
    ]
    return pl.DataFrame(rows, schema={"leaid": pl.String, "cohort_id": pl.String,
                                      "metric": pl.String, "value": pl.Float64})  # fmt: skip


def test_statistics_by_hand() -> None:
    published, _ = cohort_statistics(_values({"A": [1, 2, 3, 4, 5, 6, None]}), k=5)
    row = published.filter(pl.col("cohort_id") == "A").row(0, named=True)
    # n counts values, not members; linear (type 7): p25 at h = 0.25·5 = 1.25 → 2.25
    assert row["n"] == 6
    assert row["mean"] == pytest.approx(3.5)
    assert row["median"] == pytest.approx(3.5)
    assert row["p25"] == pytest.approx(2.25)
    assert row["p75"] == pytest.approx(4.75)
    assert row["p90"] == pytest.approx(5.5)
    assert row["std"] == pytest.approx(1.8708287)  # sample std of 1..6


def test_primary_and_complementary_suppression_by_hand() -> None:
    # k = 5. C has 3 values (primary). Hidden = 3 < 5, so the smallest published cell (B, 6)
    # is suppressed too: total − A then only reveals B ∪ C, 9 districts.
    values = _values({"A": [1.0] * 10, "B": [2.0] * 6, "C": [3.0] * 3})
    published, plan = cohort_statistics(values, k=5)
    reasons = dict(zip(plan["cohort_id"], plan["reason"], strict=True))
    assert reasons == {"A": "published", "B": "complementary", "C": "primary"}
    assert sorted(published["cohort_id"].to_list()) == ["A", TOTAL_COHORT]
    total = published.filter(pl.col("cohort_id") == TOTAL_COHORT).row(0, named=True)
    assert total["n"] == 19


def test_no_complement_needed_when_hidden_cells_reach_k() -> None:
    plan = suppression_plan(
        pl.DataFrame({"cohort_id": ["A", "B", "C"], "metric": ["m"] * 3, "n": [10, 3, 2]}), 5
    )
    assert plan.sort("cohort_id")["reason"].to_list() == ["published", "primary", "primary"]


@st.composite
def cell_values(draw: st.DrawFn) -> pl.DataFrame:
    frames = []
    for metric in ("graduation", "expenditure_pp"):
        sizes = draw(st.lists(st.integers(0, 14), min_size=1, max_size=8))
        frames.append(
            _values(
                {f"c{i}": [float(j % 7) for j in range(s)] for i, s in enumerate(sizes)}, metric
            )
        )
    return pl.concat(frames)


@settings(max_examples=150, deadline=None)
@given(values=cell_values(), k=st.integers(1, 12))
def test_no_small_cell_and_nothing_recoverable_by_subtraction(values: pl.DataFrame, k: int) -> None:
    published, _ = cohort_statistics(values, k)
    assert published.height == 0 or published["n"].min() >= k
    true_n = values.group_by("cohort_id", "metric").len()
    for metric in ("graduation", "expenditure_pp"):
        pub = published.filter(pl.col("metric") == metric)
        total = pub.filter(pl.col("cohort_id") == TOTAL_COHORT)
        cells = pub.filter(pl.col("cohort_id") != TOTAL_COHORT)
        metric_n = true_n.filter(pl.col("metric") == metric)["len"].sum()
        if total.height == 0:
            assert metric_n < k  # the total is withheld only when it is itself too small
            continue
        # what subtraction reveals: the union of the hidden cells (count and sum)
        hidden_n = total["n"][0] - cells["n"].sum()
        assert hidden_n == 0 or hidden_n >= k
        hidden_sum = total["mean"][0] * total["n"][0] - (cells["mean"] * cells["n"]).sum()
        if hidden_n == 0:
            assert hidden_sum == pytest.approx(0.0, abs=1e-6)


def test_percentile_ranks_mid_rank_within_published_cells() -> None:
    # k = 5: B and C are suppressed (together 6 ≥ 5 districts, so A needs no complement)
    values = _values({"A": [10, 20, 20, 30, 40], "B": [1, 2, 3], "C": [7, 7, 7]})
    published, _ = cohort_statistics(values, k=5)
    ranks = percentile_ranks(values, pl.Series(["A-1", "A-4", "B-0"]), published)
    got = dict(zip(ranks["leaid"], ranks["percentile_rank"], strict=True))
    # A-1 = 20: 1 below, 2 equal → (1 + 1) / 5 = 40; A-4 = 40: 4 below → 90; B is suppressed
    assert got == {"A-1": pytest.approx(40.0), "A-4": pytest.approx(90.0)}
    assert ranks["cohort_n"].to_list() == [5, 5]
