"""Pure parts of the reports: neutralisation, file names, projections, insight rules."""

from __future__ import annotations

import pytest

from benchmarking_assets.core.catalog import PUBLIC_BY_NAME as INFO
from benchmarking_assets.core.reports.content import MetricRow, PeerStats
from benchmarking_assets.core.reports.exports import report_path, safe_cell, validate_key
from benchmarking_assets.core.reports.insights import _peer_insight, _trend_insight, fmt, project


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
