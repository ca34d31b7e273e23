"""Quarantine of impossible values and the district-count comparison (pure Polars)."""

from __future__ import annotations

import polars as pl

from benchmarking_assets.core.quality import district_count_changes, quarantine, violations
from benchmarking_assets.core.schemas import DATA_QUALITY_ISSUES, DISTRICT_DATA_HISTORY


def frame(rows: list[dict]) -> pl.DataFrame:
    base = {c: None for c in DISTRICT_DATA_HISTORY}
    base.update(year=2019, state_code="CA", fips=6, source="sample")
    return pl.DataFrame([{**base, **r} for r in rows], schema=DISTRICT_DATA_HISTORY)


def test_impossible_cells_are_nulled_and_recorded_the_rest_kept() -> None:
    history = frame(
        [
            # proficiency 140 % and ELL > enrollment: both cells quarantined, row kept
            {
                "leaid": "0600001",
                "enrollment": 100,
                "ell_students": 120,
                "spec_ed_students": 10,
                "math_proficiency": 140.0,
                "read_proficiency": 55.0,
            },
            # a clean row
            {
                "leaid": "0600002",
                "enrollment": 200,
                "ell_students": 20,
                "spec_ed_students": 30,
                "math_proficiency": 40.0,
                "read_proficiency": 100.0,
            },
            # negative count (not an API code: those are NULL already) and a negative rate
            {"leaid": "0600003", "enrollment": -5, "graduation_rate": -1.5},
            # the same district twice: the second is set aside
            {"leaid": "0600002", "enrollment": 999},
        ]
    )
    clean, issues = quarantine(history, asset="a", partition_key="CA|2019", detected_at="t")

    assert clean["leaid"].to_list() == ["0600001", "0600002", "0600003"]
    first = clean.row(0, named=True)
    assert first["math_proficiency"] is None and first["ell_students"] is None
    assert first["read_proficiency"] == 55.0 and first["spec_ed_students"] == 10
    assert clean.row(1, named=True)["read_proficiency"] == 100.0  # 100 is allowed
    third = clean.row(2, named=True)
    assert third["enrollment"] is None and third["graduation_rate"] is None

    assert issues.schema == pl.Schema(DATA_QUALITY_ISSUES)
    got = sorted(issues.select("check_name", "leaid", "column_name", "value").rows())
    assert got == [
        ("counts_non_negative", "0600003", "enrollment", "-5"),
        ("percentages_in_range", "0600001", "math_proficiency", "140.0"),
        ("percentages_in_range", "0600003", "graduation_rate", "-1.5"),
        ("swd_ell_within_enrollment", "0600001", "ell_students", "120"),
        ("unique_leaid_year", "0600002", None, None),
    ]
    assert set(issues["partition_key"]) == {"CA|2019"}
    for check in ("counts_non_negative", "percentages_in_range", "swd_ell_within_enrollment"):
        assert violations(clean, check).height == 0
        assert violations(history, check).height > 0


def test_district_count_change_against_previous_year() -> None:
    counts = pl.DataFrame(
        {
            "state_code": ["CA", "CA", "TX", "TX", "HI"],
            "year": [2018, 2019, 2018, 2019, 2019],
            "districts": [100, 121, 50, 45, 1],
        }
    )
    out = district_count_changes(counts, [("CA", 2019), ("TX", 2019), ("HI", 2019)])
    rows = {r["state_code"]: r for r in out.iter_rows(named=True)}
    assert abs(rows["CA"]["change"] - 0.21) < 1e-12 and rows["CA"]["outside_tolerance"]
    assert abs(rows["TX"]["change"] - (-0.10)) < 1e-12 and not rows["TX"]["outside_tolerance"]
    assert rows["HI"]["previous"] is None and not rows["HI"]["outside_tolerance"]
