"""Hand-worked benchmarks (docs/metrics.md): every output value below was computed on paper.

The example has two states and six districts over 2012–2019; the outputs of 2019 are checked
column by column. New Mexico (NM) has five districts, Delaware (DE) one. It covers the edge
cases docs/metrics.md names: enrollment 0 (C), teachers FTE 0 (D), a prior count of 0 (B's ELL, C's
SWD), no row in year − 3 (E), biennial absenteeism (the latest observation in 2017 for E, a
gap of 6 years for D, an observation in year − 7 for C, one that is too old for F), ties (A/E
on SWD % and ELL %, A/D on math), quartile boundaries p = 0.25 and 0.5 (math), a state with
fewer than four valued districts (NM absenteeism) and a state with one district (DE).
"""

from __future__ import annotations

import math
from fractions import Fraction

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarking_assets.core.benchmarks import (
    DISTRICT_BENCHMARKS_SCHEMA,
    DISTRICT_OUTLIERS_SCHEMA,
    STATE_BENCHMARKS_SCHEMA,
    compute_district_benchmarks,
    compute_district_outliers,
    compute_state_benchmarks,
    history_years_needed,
)
from benchmarking_assets.core.schemas import DISTRICT_DATA_HISTORY

A, B, C, D, E = "3500001", "3500002", "3500003", "3500004", "3500005"
F = "1000001"
_ = None

# leaid, year, state, enrollment, spec_ed, ell, teachers_fte, absenteeism, grad, math, read, exp
ROWS = [
    # 2019, the year under test
    (A, 2019, "NM", 1000, 100, 50, 50.0, 10.0, 90.0, 40.0, 50.0, 10000.0),
    (B, 2019, "NM", 3000, 450, 300, 200.0, 20.0, 80.0, 30.0, 60.0, 12000.0),
    (C, 2019, "NM", 0, 0, 0, 2.0, _, _, 20.0, 40.0, _),
    (D, 2019, "NM", 500, 60, 0, 0.0, 10.0, 95.0, 40.0, _, 15000.0),
    (E, 2019, "NM", 1500, 150, 75, 100.0, _, 85.0, 50.0, 70.0, 9000.0),
    (F, 2019, "DE", 2000, 300, 100, 125.0, _, 88.0, 35.0, 45.0, 14000.0),
    # 2016 = year − 3 (E has no row)
    (A, 2016, "NM", 900, 80, 40, 60.0, _, 85.0, 35.0, 55.0, 8000.0),
    (B, 2016, "NM", 3000, 500, 0, 150.0, _, 80.0, 30.0, 60.0, 12000.0),
    (C, 2016, "NM", 0, 0, 0, 2.0, 7.0, _, 25.0, _, _),
    (D, 2016, "NM", 400, 40, 0, 20.0, _, 90.0, 38.0, 50.0, 15000.0),
    (F, 2016, "DE", 2000, 250, 100, 100.0, _, 86.0, 33.0, 47.0, 12500.0),
    # earlier absenteeism observations (CRDC years); every other column unknown
    (A, 2017, "NM", _, _, _, _, 12.0, _, _, _, _),
    (B, 2017, "NM", _, _, _, _, _, _, _, _, _),
    (E, 2017, "NM", _, _, _, _, 27.0, _, _, _, _),
    (A, 2015, "NM", _, _, _, _, 14.0, _, _, _, _),
    (B, 2015, "NM", _, _, _, _, 18.0, _, _, _, _),
    (E, 2015, "NM", _, _, _, _, 30.0, _, _, _, _),
    (F, 2015, "DE", _, _, _, _, 16.0, _, _, _, _),
    (D, 2013, "NM", _, _, _, _, 8.0, _, _, _, _),
    (F, 2013, "DE", _, _, _, _, 14.0, _, _, _, _),
    (C, 2012, "NM", _, _, _, _, 5.0, _, _, _, _),
]
COLUMNS = [
    "leaid",
    "year",
    "state_code",
    "enrollment",
    "spec_ed_students",
    "ell_students",
    "teachers_fte",
    "chronic_absenteeism_rate",
    "graduation_rate",
    "math_proficiency",
    "read_proficiency",
    "expenditure_pp",
]


def make_history(rows: list[tuple], columns: list[str] = COLUMNS) -> pl.DataFrame:
    """A district_data_history frame from short tuples; unlisted columns are NULL."""
    frame = pl.DataFrame(rows, schema=columns, orient="row", strict=False)
    return frame.select(
        [
            (pl.col(c) if c in columns else pl.lit(None)).cast(t).alias(c)
            for c, t in DISTRICT_DATA_HISTORY.items()
        ]
    )


HISTORY = make_history(ROWS)

# ---------------------------------------------------------------- state_benchmarks, 2019
# Weighted sums use districts with enrollment > 0 and the value present (C has enrollment 0).
NM_SWD = (1000 * 10 + 3000 * 15 + 500 * 12 + 1500 * 10) / 6000  # 76000/6000 = 12.666…
NM_ELL = (1000 * 5 + 3000 * 10 + 500 * 0 + 1500 * 5) / 6000  # 42500/6000 = 7.0833…
NM_ABS = (1000 * 10 + 3000 * 20 + 500 * 10) / 4500  # E NULL → 75000/4500 = 16.666…
NM_GRAD = (1000 * 90 + 3000 * 80 + 500 * 95 + 1500 * 85) / 6000  # 505000/6000 = 84.1666…
NM_STR = (1000 * 20 + 3000 * 15 + 1500 * 15) / 5500  # D has FTE 0 → 87500/5500 = 15.9090…
NM_MATH = (1000 * 40 + 3000 * 30 + 500 * 40 + 1500 * 50) / 6000  # 225000/6000 = 37.5
NM_READ = (1000 * 50 + 3000 * 60 + 1500 * 70) / 5500  # D NULL → 335000/5500 = 60.9090…
NM_EXP = (1000 * 10000 + 3000 * 12000 + 500 * 15000 + 1500 * 9000) / 6000  # 67e6/6000
US_SWD = (76000 + 2000 * 15) / 8000  # = 13.25
US_ELL = (42500 + 2000 * 5) / 8000  # = 6.5625
US_ABS = 75000 / 4500  # F's absenteeism is NULL: the nation is NM's three districts
US_GRAD = (505000 + 2000 * 88) / 8000  # = 85.125
US_STR = (87500 + 2000 * 16) / 7500  # = 15.9333…
US_MATH = (225000 + 2000 * 35) / 8000  # = 36.875
US_READ = (335000 + 2000 * 45) / 7500  # = 56.666…
US_EXP = (67_000_000 + 2000 * 14000) / 8000  # = 11875

# state_code, year, district_count, avg_enrollment, swd, ell, absenteeism, graduation,
# student_teacher_ratio, math, read, expenditure
EXPECTED_STATES = [
    ("DE", 2019, 1, 2000.0, 15.0, 5.0, None, 88.0, 16.0, 35.0, 45.0, 14000.0),
    # avg_enrollment: (1000 + 3000 + 500 + 1500) / 4 = 1500; C's 0 is not counted
    ("NM", 2019, 5, 1500.0, NM_SWD, NM_ELL, NM_ABS, NM_GRAD, NM_STR, NM_MATH, NM_READ, NM_EXP),
    # (6000 + 2000) / 5 = 1600
    ("US", 2019, 6, 1600.0, US_SWD, US_ELL, US_ABS, US_GRAD, US_STR, US_MATH, US_READ, US_EXP),
]

# ---------------------------------------------------------------- district_benchmarks, 2019
# Values: swd_pct, ell_pct, student_teacher_ratio, absenteeism, graduation, math, read, exp
VALUES = {
    A: (10.0, 5.0, 20.0, 10.0, 90.0, 40.0, 50.0, 10000.0),  # 100/1000, 50/1000, 1000/50
    B: (15.0, 10.0, 15.0, 20.0, 80.0, 30.0, 60.0, 12000.0),  # 450/3000, 300/3000, 3000/200
    C: (None, None, None, None, None, 20.0, 40.0, None),  # enrollment 0: no % and no ratio
    D: (12.0, 0.0, None, 10.0, 95.0, 40.0, None, 15000.0),  # 60/500, 0/500, FTE 0 → NULL
    E: (10.0, 5.0, 15.0, None, 85.0, 50.0, 70.0, 9000.0),  # 150/1500, 75/1500, 1500/100
    F: (15.0, 5.0, 16.0, None, 88.0, 35.0, 45.0, 14000.0),  # 300/2000, 100/2000, 2000/125
}
# Averages in the order of VALUES: (state, nation)
AVERAGES = {
    "NM": (NM_SWD, NM_ELL, NM_STR, NM_ABS, NM_GRAD, NM_MATH, NM_READ, NM_EXP),
    "DE": (15.0, 5.0, 16.0, None, 88.0, 35.0, 45.0, 14000.0),
    "US": (US_SWD, US_ELL, US_STR, US_ABS, US_GRAD, US_MATH, US_READ, US_EXP),
}
VALUE_NAMES = (
    "swd_pct",
    "ell_pct",
    "student_teacher_ratio",
    "absenteeism",
    "graduation",
    "math_proficiency",
    "read_proficiency",
    "expenditure_pp",
)
# Quartiles within NM, p = (rank − 1)/(n − 1) over non-NULL values; DE has one district → NULL.
WB, BE, AB, WA = "well_below", "below", "above", "well_above"
QUARTILES = {
    # swd: A 10, E 10 (tie, rank 1, p 0), D 12 (rank 3, p 2/3), B 15 (p 1)
    # ell: D 0 (p 0), A 5, E 5 (rank 2, p 1/3), B 10 (p 1)
    # ratio: A 20, B 15, E 15 → only 3 values → NULL; absenteeism: A, B, D → 3 values → NULL
    # graduation: B 80 (p 0), E 85 (1/3), A 90 (2/3), D 95 (1)
    # math (n 5): C 20 (p 0), B 30 (p 1/4 = 0.25 → below), A, D 40 (rank 3, p 1/2 → above),
    #             E 50 (p 1)
    # read: C 40 (p 0), A 50 (1/3), B 60 (2/3), E 70 (1); exp: E 9000, A 10000, B 12000, D 15000
    A: (WB, BE, None, None, AB, AB, BE, BE),
    B: (WA, WA, None, None, WB, BE, AB, AB),
    C: (None, None, None, None, None, WB, WB, None),
    D: (AB, WB, None, None, WA, AB, None, WA),
    E: (WB, BE, None, None, BE, WA, WA, WB),
    F: (None,) * 8,
}
# Trends 2019 vs 2016, in the order of docs/data.md: swd, ell, absenteeism, graduation, ratio,
# math, read, exp
TRENDS = {
    # swd (100−80)/80 = 25 %; ell (50−40)/40 = 25 %; absenteeism 10 (2019) − 12 (2017) = −2;
    # grad 90−85; ratio 20 − 900/60 = 5; math 40−35; read 50−55; exp (10000−8000)/8000 = 25 %
    A: (25.0, 25.0, -2.0, 5.0, 5.0, 5.0, -5.0, 25.0),
    # swd (450−500)/500 = −10 %; ell prior 0 → NULL; absenteeism 20 − 18 (2015, gap 4) = 2;
    # ratio 15 − 3000/150 = −5; the rest unchanged
    B: (-10.0, None, 2.0, 0.0, -5.0, 0.0, 0.0, 0.0),
    # counts 0 → NULL; absenteeism 7 (2016 = year − 3) − 5 (2012 = year − 7, gap 4) = 2;
    # math 20 − 25; no graduation/read/exp values; ratio NULL both years
    C: (None, None, 2.0, None, None, -5.0, None, None),
    # swd (60−40)/40 = 50 %; ell prior 0; absenteeism 2019 vs 2013 is a gap of 6 → NULL;
    # grad 95−90; ratio now NULL (FTE 0); math 40−38; read now NULL; exp unchanged
    D: (50.0, None, None, 5.0, None, 2.0, None, 0.0),
    # no 2016 row; absenteeism 27 (2017, latest, ≥ year − 3) − 30 (2015) = −3
    E: (None, None, -3.0, None, None, None, None, None),
    # swd (300−250)/250 = 20 %; ell 0 %; absenteeism latest 2015 < 2016 → NULL; grad 88−86;
    # ratio 16 − 2000/100 = −4; math 35−33; read 45−47; exp (14000−12500)/12500 = 12 %
    F: (20.0, 0.0, None, 2.0, -4.0, 2.0, -2.0, 12.0),
}
TREND_NAMES = (
    "swd_trend_3yr",
    "ell_trend_3yr",
    "absenteeism_trend_3yr",
    "graduation_trend_3yr",
    "student_teacher_ratio_trend_3yr",
    "math_proficiency_trend_3yr",
    "read_proficiency_trend_3yr",
    "expenditure_pp_trend_3yr",
)
STATE_OF = {A: "NM", B: "NM", C: "NM", D: "NM", E: "NM", F: "DE"}


def _minus(x: float | None, y: float | None) -> float | None:
    return None if x is None or y is None else x - y


def expected_district_row(leaid: str) -> dict[str, object]:
    """The row of ``leaid``: values, then value − average for state and nation, quartile."""
    state = STATE_OF[leaid]
    row: dict[str, object] = {"leaid": leaid, "year": 2019, "state_code": state}
    row.update(zip(VALUE_NAMES, VALUES[leaid], strict=True))
    per_metric = {
        name: (
            _minus(VALUES[leaid][i], AVERAGES[state][i]),
            _minus(VALUES[leaid][i], AVERAGES["US"][i]),
            QUARTILES[leaid][i],
        )
        for i, name in enumerate(VALUE_NAMES)
    }
    for name in (
        "absenteeism",
        "graduation",
        "student_teacher_ratio",
        "swd_pct",
        "ell_pct",
        "math_proficiency",
        "read_proficiency",
        "expenditure_pp",
    ):
        vs_state, vs_nation, quartile = per_metric[name]
        row[f"{name}_vs_state"] = vs_state
        row[f"{name}_vs_national"] = vs_nation
        row[f"{name}_quartile_state"] = quartile
    row.update(zip(TREND_NAMES, TRENDS[leaid], strict=True))
    return row


def assert_row_equal(actual: dict[str, object], expected: dict[str, object]) -> None:
    # The same columns (their order follows the metric catalog, not this test's listing).
    assert sorted(actual) == sorted(expected)
    for column, want in expected.items():
        got = actual[column]
        if isinstance(want, float):
            assert got is not None and math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-9), (
                f"{actual['leaid'] if 'leaid' in actual else actual['state_code']}.{column}: "
                f"{got} != {want}"
            )
        else:
            assert got == want, f"{column}: {got!r} != {want!r}"


def test_state_benchmarks_hand_worked() -> None:
    result = compute_state_benchmarks(HISTORY, 2019)
    assert result.schema == pl.Schema(STATE_BENCHMARKS_SCHEMA)
    assert result["state_code"].to_list() == ["DE", "NM", "US"]
    for actual, expected in zip(result.iter_rows(named=True), EXPECTED_STATES, strict=True):
        assert_row_equal(actual, dict(zip(STATE_BENCHMARKS_SCHEMA, expected, strict=True)))


def test_district_benchmarks_hand_worked() -> None:
    states = compute_state_benchmarks(HISTORY, 2019)
    result = compute_district_benchmarks(HISTORY, states, 2019)
    assert result.schema == pl.Schema(DISTRICT_BENCHMARKS_SCHEMA)
    assert result["leaid"].to_list() == sorted(VALUES)
    for actual in result.iter_rows(named=True):
        assert_row_equal(actual, expected_district_row(actual["leaid"]))


def test_only_the_reach_back_years_matter() -> None:
    """Rows outside year − 7 … year (and other states' years) do not change 2019's outputs."""
    assert history_years_needed(2019) == range(2012, 2020)
    noise = make_history(
        [
            (A, 2011, "NM", 1, 1, 1, 1.0, 99.0, 1.0, 1.0, 1.0, 1.0),  # year − 8
            (A, 2020, "NM", 1, 1, 1, 1.0, 99.0, 1.0, 1.0, 1.0, 1.0),  # the future
        ]
    )
    full = pl.concat([HISTORY, noise])
    states = compute_state_benchmarks(full, 2019)
    assert states.equals(compute_state_benchmarks(HISTORY, 2019))
    window = HISTORY.filter(pl.col("year").is_in(list(history_years_needed(2019))))
    assert compute_district_benchmarks(full, states, 2019).equals(
        compute_district_benchmarks(window.lazy(), states, 2019)
    )


def test_main_example_has_no_outliers_and_a_fence_is_not_crossed_by_equality() -> None:
    """NM's ELL % values 0, 5, 5, 10: Q1 = 0 + 0.75·5 = 3.75, Q3 = 5 + 0.25·5 = 6.25,
    IQR 2.5, fences 0 and 10: 0 and 10 sit on the fences, which is not outside them."""
    assert compute_district_outliers(HISTORY, 2019).height == 0
    everything = compute_district_outliers(HISTORY, 2019, flagged_only=False)
    ell = everything.filter(pl.col("metric") == "ell_pct").sort("value")
    assert ell["value"].to_list() == [0.0, 5.0, 5.0, 10.0]
    assert ell.row(0, named=True) | {} == {
        "leaid": D,
        "year": 2019,
        "state_code": "NM",
        "metric": "ell_pct",
        "value": 0.0,
        "q1": 3.75,
        "q3": 6.25,
        "lower_fence": 0.0,  # 3.75 − 1.5·2.5
        "upper_fence": 10.0,  # 6.25 + 1.5·2.5
        "median": 5.0,
        "mad": 2.5,  # |0−5|, 0, 0, |10−5| → median of 0, 0, 5, 5 = 2.5
        "robust_z": pytest.approx(-1.349),  # 0.6745·(0 − 5)/2.5
        "is_tukey_outlier": 0,
        "is_robust_z_outlier": 0,
    }
    # DE has one district and NM absenteeism three: neither is tested at all.
    assert everything.filter(pl.col("state_code") == "DE").height == 0
    assert everything.filter(pl.col("metric") == "absenteeism").height == 0


def test_outliers_hand_worked() -> None:
    """Graduation 10, 11, 12, 13, 100 and math 5, 5, 5, 5, 9 in one state.

    Graduation: Q1 = 11, median 12, Q3 = 13, IQR 2, fences 8 and 16 → 100 is a Tukey outlier;
    |deviations| 2, 1, 0, 1, 88 → MAD 1; z(100) = 0.6745·88 = 59.356 > 3.5.
    Math: Q1 = Q3 = median = 5, fences 5 and 5 → 9 is a Tukey outlier; MAD 0 → z NULL, unflagged.
    """
    ids = [f"06{i:05d}" for i in range(5)]
    rows = [
        (leaid, 2019, "CA", 100, _, _, _, _, grad, maths, _, _)
        for leaid, grad, maths in zip(
            ids, [10.0, 11.0, 12.0, 13.0, 100.0], [5.0] * 4 + [9.0], strict=True
        )
    ]
    result = compute_district_outliers(make_history(rows), 2019)
    assert result.schema == pl.Schema(DISTRICT_OUTLIERS_SCHEMA)
    assert result.rows() == [
        (ids[4], 2019, "CA", "graduation", 100.0, 11.0, 13.0, 8.0, 16.0, 12.0, 1.0,
         pytest.approx(0.6745 * 88), 1, 1),
        (ids[4], 2019, "CA", "math_proficiency", 9.0, 5.0, 5.0, 5.0, 5.0, 5.0, 0.0, None, 1, 0),
    ]  # fmt: skip


def test_delta_is_null_where_the_state_average_is_null() -> None:
    """WY's only absenteeism value belongs to a district with unknown enrollment: it is not
    weighted, so WY's average is NULL and so is the delta; the national delta still exists
    (12 − 20, the nation being the one weighted CA district)."""
    rows = [
        ("5600001", 2019, "WY", _, _, _, _, 12.0, _, _, _, _),
        ("5600002", 2019, "WY", 300, _, _, _, _, _, _, _, _),
        ("0600001", 2019, "CA", 100, _, _, _, 20.0, _, _, _, _),
    ]
    history = make_history(rows)
    states = compute_state_benchmarks(history, 2019)
    assert states.select("state_code", "district_count", "avg_enrollment").rows() == [
        ("CA", 1, 100.0),
        ("WY", 2, 300.0),
        ("US", 3, 200.0),
    ]
    assert states["avg_chronic_absenteeism_rate"].to_list() == [20.0, None, 20.0]
    result = compute_district_benchmarks(history, states, 2019)
    row = result.filter(pl.col("leaid") == "5600001").row(0, named=True)
    assert (row["absenteeism_vs_state"], row["absenteeism_vs_national"]) == (None, -8.0)


def test_missing_national_row_gives_null_national_deltas_not_missing_districts() -> None:
    states = compute_state_benchmarks(HISTORY, 2019).filter(pl.col("state_code") != "US")
    result = compute_district_benchmarks(HISTORY, states, 2019)
    assert result.height == 6
    assert result["graduation_vs_national"].null_count() == 6
    assert result.filter(pl.col("leaid") == A)["graduation_vs_state"].item() == pytest.approx(
        90 - NM_GRAD
    )


def test_a_year_without_districts_has_no_rows() -> None:
    assert compute_state_benchmarks(HISTORY, 2018).height == 0
    assert (
        compute_district_benchmarks(HISTORY, compute_state_benchmarks(HISTORY, 2018), 2018).height
        == 0
    )
    assert compute_district_outliers(HISTORY, 2018).height == 0


@pytest.mark.parametrize(
    ("observations", "expected"),
    [
        ({2019: 10.0, 2017: 12.0}, -2.0),  # the usual biennial pair
        ({2018: 10.0, 2016: 12.0, 2014: 1.0}, -2.0),  # only the two latest count
        ({2016: 10.0, 2012: 12.0}, -2.0),  # latest = year − 3, gap 4: both limits inclusive
        ({2015: 10.0, 2013: 12.0}, None),  # latest older than year − 3
        ({2019: 10.0, 2014: 12.0}, None),  # more than 4 years apart
        ({2019: 10.0}, None),  # fewer than two
        ({2020: 50.0, 2019: 10.0, 2018: 12.0}, -2.0),  # a later year is not "at or before"
    ],
)
def test_absenteeism_trend_rule(observations: dict[int, float], expected: float | None) -> None:
    rows = [(A, 2019, "NM", 100, _, _, _, _, _, _, _, _)] + [
        (A, year, "NM", _, _, _, _, rate, _, _, _, _) for year, rate in observations.items()
    ]
    rows = [r for r in rows if not (r[1] == 2019 and r[7] is None and 2019 in observations)]
    history = make_history(rows)
    result = compute_district_benchmarks(history, compute_state_benchmarks(history, 2019), 2019)
    assert result["absenteeism_trend_3yr"].to_list() == [expected]


def test_quartiles_of_eight_distinct_values_and_of_all_ties() -> None:
    """Eight distinct values: p = 0, 1/7, …, 1 → two districts per label. Four equal values
    share rank 1, p = 0 → all well_below."""
    rows = [(f"06{i:05d}", 2019, "CA", 100, _, _, _, _, _, float(i), 7.0, _) for i in range(8)]
    rows += [(f"48{i:05d}", 2019, "TX", 100, _, _, _, _, _, 1.0, 3.0, _) for i in range(4)]
    history = make_history(rows)
    result = compute_district_benchmarks(history, compute_state_benchmarks(history, 2019), 2019)
    ca = result.filter(pl.col("state_code") == "CA")
    assert ca["math_proficiency_quartile_state"].to_list() == [WB, WB, BE, BE, AB, AB, WA, WA]
    assert ca["read_proficiency_quartile_state"].to_list() == [WB] * 8  # all tied
    assert (
        result.filter(pl.col("state_code") == "TX")["math_proficiency_quartile_state"].to_list()
        == [WB] * 4
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=40))
def test_quartile_labels_never_decrease_with_the_value(values: list[int]) -> None:
    rows = [
        (f"06{i:05d}", 2019, "CA", 100, _, _, _, _, float(v), _, _, _) for i, v in enumerate(values)
    ]
    history = make_history(rows)
    result = compute_district_benchmarks(history, compute_state_benchmarks(history, 2019), 2019)
    order = {None: -1, WB: 0, BE: 1, AB: 2, WA: 3}
    pairs = sorted(zip(result["graduation"], result["graduation_quartile_state"], strict=True))
    labels = [order[label] for _, label in pairs]
    assert labels == sorted(labels)
    if len(values) < 4:
        assert set(labels) == {-1}
        return
    # Oracle: p = (number of strictly smaller values)/(n − 1), compared as exact fractions.
    n = len(values)
    for value, label in pairs:
        p = Fraction(sum(1 for v in values if v < value), n - 1)
        want = (
            WA
            if p >= Fraction(3, 4)
            else AB
            if p >= Fraction(1, 2)
            else BE
            if p >= Fraction(1, 4)
            else WB
        )
        assert label == want, (value, p)
