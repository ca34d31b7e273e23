"""The Polars benchmarks agree with an independent SQL implementation, on both backends.

The whole national sample (every state and year of ``benchmarking_assets.sources.sample``,
~225,000 district-years) is loaded into ``district_data_history``;
every year's ``state_benchmarks``, ``district_benchmarks`` and ``district_outliers`` are then
computed twice, by ``benchmarking_assets.core.benchmarks`` and by the SQL of
``reference_sql`` inside the database, and compared cell by cell to 1e-6.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import polars as pl
import pytest

from benchmarking_assets.core.benchmarks import (
    compute_district_benchmarks,
    compute_district_outliers,
    compute_state_benchmarks,
)
from benchmarking_assets.store.warehouse import WarehouseStore
from benchmarking_assets_tests.reference_sql import (
    assert_frames_agree,
    national_history,
    sql_outputs,
)


@pytest.fixture(scope="session")
def national() -> pl.DataFrame:
    return national_history()


def test_polars_and_sql_agree_on_every_year(store: WarehouseStore, national: pl.DataFrame) -> None:
    years = sorted(national["year"].unique().to_list())
    store.replace_rows("district_data_history", national, where={"year": years})
    history = national.lazy()
    checked = {"states": 0, "districts": 0, "outliers": 0, "quartiles": 0, "trends": 0}
    # The database works on two years at a time (its own connections; the drivers release the
    # GIL) while Polars computes in this thread: the suite stays well under a minute.
    with ThreadPoolExecutor(max_workers=2) as pool:
        for year, sql in zip(years, pool.map(lambda y: sql_outputs(store, y), years), strict=True):
            states = compute_state_benchmarks(history, year)
            districts = compute_district_benchmarks(history, states, year)
            outliers = compute_district_outliers(history, year)
            assert_frames_agree(states, sql[0], ["state_code"])
            assert_frames_agree(districts, sql[1], ["leaid"])
            assert_frames_agree(outliers, sql[2], ["leaid", "metric"])
            checked["states"] += states.height
            checked["districts"] += districts.height
            checked["outliers"] += outliers.height
            checked["quartiles"] += districts["graduation_quartile_state"].is_not_null().sum()
            checked["trends"] += districts["absenteeism_trend_3yr"].is_not_null().sum()
    # The comparison must have had something to compare: every kind of output occurs.
    assert all(count > 0 for count in checked.values()), checked
