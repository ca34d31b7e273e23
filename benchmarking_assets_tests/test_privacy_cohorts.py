"""Peer criteria, the ladder and the disjoint cohort assignment (pure Polars)."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarking_assets.core.geography import STATES as ALL_STATES
from benchmarking_assets.core.peer_groups import (
    KEY_COLUMNS,
    REGION_BY_STATE,
    PeerCriteria,
    assign_cohorts,
    district_keys,
    frl_cut_points,
    ladder,
    plan_private_groups,
    private_ladder,
)

STATES_BY_CODE = {s.code: s.name for s in ALL_STATES}


def _districts(rows: list[dict]) -> pl.DataFrame:
    base = {
        "leaid": None,
        "state_code": "CA",
        "enrollment": 1000,
        "frl_students": 500,
        "urban_centric_locale": 41,
        "lowest_grade": 0,
        "highest_grade": 12,
    }
    return pl.DataFrame([{**base, **r} for r in rows])


def test_bands_at_their_boundaries() -> None:
    df = _districts(
        [
            {"leaid": "0000001", "enrollment": 2499, "urban_centric_locale": 11},
            {"leaid": "0000002", "enrollment": 2500, "urban_centric_locale": 23},
            {"leaid": "0000003", "enrollment": 9999, "urban_centric_locale": 31},
            {"leaid": "0000004", "enrollment": 10_000, "urban_centric_locale": 43},
            {"leaid": "0000005", "enrollment": 49_999, "urban_centric_locale": 9},
            {"leaid": "0000006", "enrollment": 50_000, "urban_centric_locale": None},
            {"leaid": "0000007", "enrollment": None, "state_code": "NY"},
        ]
    )
    keys = district_keys(df)
    assert keys["size_band"].to_list() == [
        "small", "medium", "medium", "large", "large", "very_large", "unknown",
    ]  # fmt: skip
    assert keys["locale"].to_list() == [
        "city", "suburb", "town", "rural", "unknown", "unknown", "rural",
    ]  # fmt: skip
    assert keys["region"].to_list() == ["West"] * 6 + ["Northeast"]


def test_grade_spans() -> None:
    df = _districts(
        [
            {"leaid": "0000001", "lowest_grade": -1, "highest_grade": 8},  # PK-8
            {"leaid": "0000002", "lowest_grade": 6, "highest_grade": 12},
            {"leaid": "0000003", "lowest_grade": 9, "highest_grade": 12},
            {"leaid": "0000004", "lowest_grade": 0, "highest_grade": 12},
            {"leaid": "0000005", "lowest_grade": 5, "highest_grade": 9},
            {"leaid": "0000006", "lowest_grade": 15, "highest_grade": 15},  # ungraded
            {"leaid": "0000007", "lowest_grade": None, "highest_grade": 12},
        ]
    )
    assert district_keys(df)["grade_span"].to_list() == [
        "elementary", "secondary", "secondary", "unified", "unified", "unknown", "unknown",
    ]  # fmt: skip


def test_frl_quartiles_use_linear_cut_points() -> None:
    # FRL % = 10, 20, 30, 40, 50: linear p25 = 20, p50 = 30, p75 = 40 ("nearest" would agree
    # here, so add a sixth value, 60: linear p25 = 22.5, p50 = 35, p75 = 47.5).
    pcts = [10, 20, 30, 40, 50, 60]
    df = _districts(
        [{"leaid": f"000000{i}", "enrollment": 100, "frl_students": p} for i, p in enumerate(pcts)]
        + [{"leaid": "0000009", "enrollment": 0, "frl_students": 0}]
    )
    assert frl_cut_points(df) == pytest.approx((22.5, 35.0, 47.5))
    bands = district_keys(df)["frl_band"].to_list()
    assert bands == ["q1", "q1", "q2", "q3", "q4", "q4", "unknown"]


def test_ladder_default_and_configured() -> None:
    steps = ladder()
    assert [s.keys for s in steps] == [
        ("state_code", "size_band", "locale", "frl_band", "grade_span"),
        ("region", "size_band", "locale", "frl_band", "grade_span"),
        ("region", "size_band", "locale", "frl_band"),
        ("region", "size_band", "locale"),
        ("region", "size_band"),
        ("size_band",),
        (),
    ]
    no_geo = ladder(PeerCriteria(geography=False, frl=False))
    assert [s.keys for s in no_geo] == [
        ("size_band", "locale", "grade_span"),
        ("size_band", "locale"),
        ("size_band",),
        (),
    ]
    assert [s.level for s in no_geo] == [0, 1, 2, 3]


def _keys(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    """(leaid, state, size) with the other criteria constant."""
    return pl.DataFrame(
        [
            {
                "leaid": leaid,
                "state_code": st_,
                "region": {"CA": "West", "OR": "West", "NY": "Northeast"}[st_],
                "size_band": size,
                "locale": "rural",
                "frl_band": "q1",
                "grade_span": "unified",
            }
            for leaid, st_, size in rows
        ],
        schema={"leaid": pl.String(), **dict.fromkeys(KEY_COLUMNS, pl.String())},
    )


def test_small_cells_pool_upward_and_leftovers_merge_into_smallest() -> None:
    rows = (
        [(f"CA{i:05d}", "CA", "small") for i in range(5)]  # a full state cell: L0
        + [(f"CA{i:05d}", "CA", "medium") for i in range(5, 8)]  # 3 in CA …
        + [(f"OR{i:05d}", "OR", "medium") for i in range(2)]  # … + 2 in OR: region cell, L1
        + [(f"NY{i:05d}", "NY", "large") for i in range(2)]  # 2 left over nationally
    )
    assigned, suppressed = assign_cohorts(_keys(rows), 5, ladder())
    assert suppressed.height == 0
    by = dict(zip(assigned["leaid"], assigned["cohort_id"], strict=True))
    small = "L0:state_code=CA|size_band=small|locale=rural|frl_band=q1|grade_span=unified"
    west = "L1:region=West|size_band=medium|locale=rural|frl_band=q1|grade_span=unified"
    assert {by[f"CA{i:05d}"] for i in range(5)} == {small}
    assert {by[x] for x in ["CA00005", "CA00006", "CA00007", "OR00000", "OR00001"]} == {west}
    # the two NY districts join the smallest cohort (both have 5; ties by id: L0 < L1)
    assert by["NY00000"] == by["NY00001"] == small
    merged = assigned.filter(pl.col("merged_leftover") == 1)["leaid"].to_list()
    assert merged == ["NY00000", "NY00001"]


def test_fewer_than_k_in_total_suppresses_everything() -> None:
    assigned, suppressed = assign_cohorts(_keys([("CA00001", "CA", "small")] * 1), 2, ladder())
    assert assigned.height == 0
    assert suppressed["leaid"].to_list() == ["CA00001"]


STATES = ["CA", "OR", "NY"]
SIZES = ["small", "medium", "large", "very_large"]


@st.composite
def key_frames(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(0, 80))
    rows = [
        (f"{i:07d}", draw(st.sampled_from(STATES)), draw(st.sampled_from(SIZES))) for i in range(n)
    ]
    return _keys(rows)


@settings(max_examples=80, deadline=None)
@given(keys=key_frames(), k=st.integers(1, 15))
def test_assignment_is_a_partition_into_cohorts_of_at_least_k(keys: pl.DataFrame, k: int) -> None:
    assigned, suppressed = assign_cohorts(keys, k, ladder())
    # every district exactly once, in a cohort or (only when there are < k) suppressed
    assert sorted(assigned["leaid"].to_list() + suppressed["leaid"].to_list()) == sorted(
        keys["leaid"].to_list()
    )
    assert assigned["leaid"].n_unique() == assigned.height
    assert suppressed.height == (keys.height if keys.height < k else 0)
    if assigned.height:
        assert assigned.group_by("cohort_id").len()["len"].min() >= k


def _keys_of(rows: list[tuple[str, str, str, str]]) -> pl.DataFrame:
    """(leaid, state, size band, locale) → a key frame (the other criteria fixed)."""
    return pl.DataFrame(
        [
            {"leaid": leaid, "state_code": state, "region": REGION_BY_STATE[state],
             "size_band": size, "locale": locale, "frl_band": "q1", "grade_span": "unified"}
            for leaid, state, size, locale in rows
        ]
    )  # fmt: skip


def test_private_ladder_widens_within_the_state_first() -> None:
    names = [s.name for s in private_ladder()]
    assert names == ["your peer criteria within the state", "state, size and locale",
                     "state and size", "state", "census region", "national"]  # fmt: skip
    assert private_ladder()[0].keys == ("state_code", "size_band", "locale", "frl_band",
                                        "grade_span")  # fmt: skip
    no_geo = private_ladder(PeerCriteria(geography=False))
    assert [s.keys for s in no_geo] == [
        ("size_band", "locale", "frl_band", "grade_span"), ("size_band", "locale"),
        ("size_band",), (),
    ]  # fmt: skip


def test_private_groups_by_hand() -> None:
    # CA: 18 small rural + 16 large city + 2 small city; OR: 12 small rural; NY: 8 small rural
    rows = [(f"06{i:05d}", "CA", "small", "rural") for i in range(18)]
    rows += [(f"06{i:05d}", "CA", "large", "city") for i in range(18, 34)]
    rows += [(f"06{i:05d}", "CA", "small", "city") for i in range(34, 36)]
    rows += [(f"41{i:05d}", "OR", "small", "rural") for i in range(12)]
    rows += [(f"36{i:05d}", "NY", "small", "rural") for i in range(8)]
    keys = _keys_of(rows)
    contributors = keys.select("leaid").with_columns(metric=pl.lit("mastery_rate_pct"))
    out = plan_private_groups(contributors, keys, 16, private_ladder())
    groups = {
        (r["group_label"], r["n"]) for r in out.select("group_label", "n").unique().to_dicts()
    }
    # CA small rural forms at P0; the 2 CA small-city left-overs take the large-city group
    # back rather than leave their state (CA has 36 ≥ 16); OR + NY = 20 go nationwide.
    assert groups == {
        ("Participants in California: small, rural, FRL q1, unified districts", 18),
        ("Participants in California except small, rural, FRL q1, unified districts", 18),
        ("Participants nationwide except those in California", 20),
    }
    assert out.height == len(rows) and out["leaid"].is_unique().all()
    # n_min 10: OR forms its own group; NY's 8 left-overs dissolve the coarsest group (CA's
    # state-level remainder) into a national remainder instead of joining an unrelated group
    out = plan_private_groups(contributors, keys, 10, private_ladder())
    sizes = dict(out.select("group_id", "n").unique().iter_rows())
    assert sizes == {
        "P0:state_code=CA|size_band=small|locale=rural|frl_band=q1|grade_span=unified": 18,
        "P0:state_code=OR|size_band=small|locale=rural|frl_band=q1|grade_span=unified": 12,
        "P5:national": 26,
    }
    # fewer than n_min contributors in all: nothing
    assert plan_private_groups(contributors.head(15), keys, 16, private_ladder()).height == 0


@settings(max_examples=60, deadline=None)
@given(
    keys=key_frames(),
    picks=st.lists(st.tuples(st.integers(0, 79), st.sampled_from(["m1", "m2"])), max_size=120),
    n_min=st.integers(2, 14),
)
def test_private_groups_are_disjoint_contain_their_members_and_say_so(
    keys: pl.DataFrame, picks: list[tuple[int, str]], n_min: int
) -> None:
    contributors = pl.DataFrame(
        [(f"{i:07d}", m) for i, m in picks],
        schema={"leaid": pl.String(), "metric": pl.String()},
        orient="row",
    ).unique()
    out = plan_private_groups(contributors, keys, n_min, private_ladder())
    assert out.select("leaid", "metric").is_unique().all()  # one group per metric: disjoint
    assert out.join(contributors, on=["leaid", "metric"], how="anti").height == 0
    if out.height:
        sizes = out.group_by("metric", "group_id").agg(pl.len(), pl.col("n").first())
        assert (sizes["len"] == sizes["n"]).all() and sizes["n"].min() >= n_min
    placed = contributors.join(keys, on="leaid", how="semi")
    for (metric,), part in placed.group_by("metric"):
        grouped = out.filter(pl.col("metric") == metric).height
        # everyone is placed when the metric has n_min contributors; nobody otherwise
        assert grouped == (part.height if part.height >= n_min else 0)
    # a group is a ladder cell: each member has the group's key values (it contains them)
    joined = out.join(keys, on="leaid")
    for row in joined.iter_rows(named=True):
        cell = dict(p.split("=") for p in row["group_id"].split(":", 1)[1].split("|")
                    if "=" in p)  # fmt: skip
        assert all(row[c] == v for c, v in cell.items())
        state = STATES_BY_CODE.get(row["state_code"], "")
        if row["group_label"].startswith("Participants in ") and "state_code" in cell:
            assert row["group_label"].startswith(f"Participants in {state}")
    # states that all reach n_min keep every contributor inside their own state
    for (metric,), part in placed.join(keys, on="leaid").group_by("metric"):
        counts = part.group_by("state_code").len()
        if part.height >= n_min and counts["len"].min() >= n_min:
            ids = out.filter(pl.col("metric") == metric)["group_id"].unique().to_list()
            assert all("state_code=" in g for g in ids), ids
