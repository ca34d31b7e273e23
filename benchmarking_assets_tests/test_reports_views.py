"""The query views and report tables of ``sql/0004_reports.sql`` on SQLite and PostgreSQL."""

from __future__ import annotations

import polars as pl

from benchmarking_assets.store import WarehouseStore, participation

VIEWS = ("v_benchmark_summary", "v_benchmark_compare", "v_benchmark_trends", "v_benchmark_rankings")


def test_views_run_on_both_backends_and_only_show_participants(store: WarehouseStore) -> None:
    history = pl.DataFrame({
        "leaid": ["0100001", "0100002"], "year": [2020, 2020], "state_code": ["AL", "AL"],
        "fips": [1, 1], "lea_name": ["A", "B"], "source": ["test", "test"],
    })  # fmt: skip
    store.append_rows("district_data_history", history)
    store.append_rows("district_benchmarks", pl.DataFrame({
        "leaid": ["0100001", "0100002"], "year": [2020, 2020], "state_code": ["AL", "AL"],
        "graduation": [80.0, 90.0], "graduation_trend_3yr": [-1.5, 2.0],
    }))  # fmt: skip
    store.append_rows("state_benchmarks", pl.DataFrame({
        "state_code": ["AL", "US"], "year": [2020, 2020], "district_count": [2, 2],
        "avg_graduation_rate": [85.0, 86.0],
    }))  # fmt: skip
    participation.enroll(store, "0100001", ["engagement"], actor="test")
    for view in VIEWS:
        frame = store.read_df(f"SELECT * FROM {view}")
        assert set(frame["leaid"]) <= {"0100001"}, view
    trends = store.read_df(
        "SELECT value, state_average, national_average FROM v_benchmark_trends "
        "WHERE leaid = '0100001' AND metric = 'graduation'"
    )
    assert trends.rows() == [(80.0, 85.0, 86.0)]
    summary = store.read_df("SELECT lea_name, graduation_trend_3yr FROM v_benchmark_summary")
    assert summary.rows() == [("A", -1.5)]
