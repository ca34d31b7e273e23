"""Pure parts of the reports: neutralisation, file names, projections, insight rules."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import pytest

from benchmarking_assets.core.catalog import PUBLIC_BY_NAME as INFO
from benchmarking_assets.core.reports.content import MetricRow, PeerStats, describe_group
from benchmarking_assets.core.reports.exports import report_path, safe_cell, validate_key
from benchmarking_assets.core.reports.insights import (
    _peer_insight,
    _projection,
    _trend_insight,
    change_text,
    fmt,
    metric_story,
    project,
    tone_of,
)
from benchmarking_assets.core.reports.render_pdf import nice_scale, tick_label, tick_values


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-3.2", "-3.2"),  # a number written as text stays a number
        ("-1e5", "-1e5"),
        ("+12", "+12"),
        ("Plain District", "Plain District"),
        (-3.2, -3.2),  # numbers are numbers
        (7, 7),
        (float("nan"), None),
        (None, None),
    ],
)
def test_safe_cell(raw: object, expected: object) -> None:
    assert safe_cell(raw) == expected


def test_file_names_come_only_from_a_valid_leaid_and_year(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = report_path(tmp_path, "0601234", 2019, "pdf")
    assert path == tmp_path.resolve() / "2019" / "0601234" / "benchmark_report_0601234_2019.pdf"
    for leaid, year in [("../../etc", 2019), ("060123", 2019), ("0601234", "19/.."),
                        ("0601234 ", 2019), ("06012345", 2019)]:  # fmt: skip
        with pytest.raises(ValueError):
            validate_key(leaid, year)
    with pytest.raises(ValueError):
        report_path(tmp_path, "0601234", 2019, "exe")


def test_projection_of_an_exact_line_has_a_zero_width_interval() -> None:
    p = project([2016, 2017, 2018, 2019], [50.0, 52.0, 54.0, 56.0], 2020)
    assert p is not None
    assert p["point"] == pytest.approx(58.0) and p["slope"] == pytest.approx(2.0)
    assert p["lower"] == pytest.approx(58.0) and p["upper"] == pytest.approx(58.0)


def test_projection_interval_by_hand() -> None:
    # y = 1, 3, 2, 4 at x = 0..3: slope 0.8, intercept 1.3, residuals -0.3, 0.9, -0.9, 0.3,
    # s² = 1.8 / 2 = 0.9; at x = 4: point 4.5, se = sqrt(0.9 (1 + 1/4 + 6.25/5)) = 1.5,
    # t(0.90, 2 df) = 1.886 → 4.5 ± 2.829
    p = project([0, 1, 2, 3], [1.0, 3.0, 2.0, 4.0], 4)
    assert p is not None
    assert p["point"] == pytest.approx(4.5)
    assert p["upper"] - p["point"] == pytest.approx(1.886 * 1.5)
    assert project([0, 1, 2], [1.0, 2.0, 3.0], 3) is None  # too few points


def _row(metric: str, value: float, median: float, std: float, pct: float, trend: float = 0.0):  # type: ignore[no-untyped-def]
    peer = PeerStats(20, median, median, median - 5, median + 5, median + 8, std)
    return MetricRow(INFO[metric], 2020, value, 80.0, 82.0, value - 80, value - 82, "below",
                     trend, peer, pct)  # fmt: skip


def test_gap_and_strength_rules() -> None:
    gap = _peer_insight(_row("graduation", 78.0, 88.0, 5.0, 8.0))
    assert gap is not None and gap.kind == "gap" and gap.severity == "high"  # z = -2
    assert gap.numbers["difference"] == -10.0 and gap.numbers["percentile_among_peers"] == 8.0
    # for absenteeism lower is better: 5 points below the median is a strength at pct 10
    strength = _peer_insight(_row("absenteeism", 15.0, 20.0, 10.0, 10.0))
    assert strength is not None and strength.kind == "strength" and strength.severity == "medium"
    assert _peer_insight(_row("graduation", 88.5, 88.0, 5.0, 55.0)) is None  # |z| < 0.25
    assert _peer_insight(_row("expenditure_pp", 20000.0, 10000.0, 100.0, 99.0)) is None  # neutral


def test_trend_rule() -> None:
    declining = _trend_insight(_row("math_proficiency", 40.0, 40.0, 5.0, 50.0, trend=-6.5))
    assert declining is not None and declining.kind == "declining"
    assert declining.severity == "high"  # 6.5 ≥ 3 × the 2-point threshold
    assert _trend_insight(_row("math_proficiency", 40.0, 40.0, 5.0, 50.0, trend=1.9)) is None


def test_fmt() -> None:
    assert fmt(-3.24, INFO["graduation"], signed=True) == "−3.2 pts"
    assert fmt(12345.6, INFO["expenditure_pp"]) == "$12,346"
    assert fmt(45.04, INFO["graduation"]) == "45.0%"
    assert fmt(None) == "n/a"


# ---------------------------------------------------------------------------- readers' pages
def test_tick_labels_print_the_true_value_of_every_tick() -> None:
    lo, hi, step = nice_scale(15.2, 26.9, 5)
    assert step == 2.5
    ticks = tick_values(lo, hi, step)
    assert ticks == [15.0, 17.5, 20.0, 22.5, 25.0, 27.5]
    assert [tick_label(t, step, False) for t in ticks] == [
        "15.0", "17.5", "20.0", "22.5", "25.0", "27.5",
    ]  # fmt: skip
    assert [tick_label(t, 2500, True) for t in (20000, 22500, 25000)] == [
        "$20.0k", "$22.5k", "$25.0k",
    ]  # fmt: skip
    assert tick_label(20000, 5000, True) == "$20k" and tick_label(750, 250, True) == "$750"
    assert tick_label(0.3, 0.1, False) == "0.3" and tick_label(0.75, 0.25, False) == "0.75"
    assert tick_values(0.0, 1.0, 0.1)[3] == 0.3  # no 0.30000000000000004


def test_a_peer_group_is_described_by_what_was_matched() -> None:
    group = describe_group("L4:region=Northeast|size_band=large", 11, 2021, "drop locale")
    assert group.description.startswith("11 districts: those in the Northeast census region, "
                                         "with 10,000 to 49,999 students")  # fmt: skip
    for absent in ("town", "FRL) in", "elementary", "teaching"):
        assert absent not in group.description.split("Not matched")[0]
    assert group.not_matched == (
        "state (widened to the census region)", "locale", "FRL share", "grade span",
    )  # fmt: skip
    full = describe_group(
        "L0:state_code=CA|size_band=small|locale=rural|frl_band=q4|grade_span=unified", 85, 2021
    )
    assert full.description == (
        "85 districts: those in California, with fewer than 2,500 students, in a rural area, "
        "with a share of students eligible for free or reduced-price lunch (FRL) in the "
        "highest national quarter, teaching elementary through high school."
    )
    national = describe_group("L6:national", 7, 2021, merged=True)
    assert national.description.startswith("7 districts: districts from the whole nation")
    assert "does not share every criterion" in national.description
    assert "unknown" not in describe_group("L5:size_band=unknown", 9, 2021).description


def test_every_change_carries_its_unit() -> None:
    assert change_text(1.04, INFO["math_proficiency"]) == "+1.0 pts"
    assert change_text(-0.3, INFO["student_teacher_ratio"]) == "−0.3 students"
    assert change_text(6.2, INFO["expenditure_pp"]) == "+6.2%"
    assert change_text(9.6, INFO["swd_pct"]) == "+9.6% in count"
    assert change_text(None, INFO["swd_pct"]) == "n/a"


def test_tone_follows_the_catalog_direction() -> None:
    assert tone_of(INFO["graduation"], 2.0) == "better"
    assert tone_of(INFO["absenteeism"], 2.0) == "worse"  # more absence is worse
    assert tone_of(INFO["expenditure_pp"], 2.0) == "neutral"
    strength = _peer_insight(_row("absenteeism", 15.0, 20.0, 10.0, 10.0))
    assert strength is not None and strength.tone == "better"
    improving = _trend_insight(_row("absenteeism", 20.0, 20.0, 5.0, 50.0, trend=-6.5))
    assert improving is not None and improving.kind == "improving"
    assert improving.tone == "better" and improving.severity == "high"  # large, and good


def _history(metric: str, values: dict[int, float]) -> pl.DataFrame:
    return pl.DataFrame(
        {"year": list(values), "metric": metric, "series": "district",
         "value": list(values.values())},
        schema={"year": pl.Int32, "metric": pl.String, "series": pl.String,
                "value": pl.Float64},
    )  # fmt: skip


def test_change_and_projection_tell_one_story() -> None:
    # Math fell from 60 to 49 (2014–2017) and recovered to 54 (2020): +5 pts over 3 years,
    # while the line through all six values slopes down.
    values = {2014: 60.0, 2015: 58.0, 2016: 55.0, 2017: 49.0, 2018: 50.0, 2020: 54.0}
    trends = _history("math_proficiency", values)
    row = replace(
        _row("math_proficiency", 54.0, 54.0, 5.0, 50.0, trend=5.0), change_years=(2017, 2020)
    )
    story = metric_story(row, trends, 2021)
    assert story.projection is not None and story.projection["slope"] < 0
    assert story.projection["point"] < 54.0  # the projection is below the newest value …
    assert story.change == "+5.0 pts from 2017 to 2020, improving"
    assert "point different ways" in story.disagreement  # … and the page says why
    assert "compares 2017 (49.0%) with 2020 (54.0%)" in story.disagreement
    assert "highest 60.0% in 2014" in story.disagreement
    trend = _trend_insight(row, trends, story)
    projection = _projection(row, trends, 2021, story)
    assert trend is not None and projection is not None
    assert story.disagreement in trend.detail and story.disagreement in projection.detail
    assert "2 years after the newest value" in projection.detail  # 2022 from 2020 data
    # When both agree nothing needs explaining.
    rising = _history("math_proficiency", {y: 40.0 + 2 * (y - 2014) for y in range(2014, 2021)})
    agree = metric_story(replace(row, value=52.0, data_year=2020), rising, 2021)
    assert agree.disagreement == ""
