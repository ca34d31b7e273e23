"""Reads and writes of the benchmark tables (no Dagster)."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from benchmarking_assets.core.benchmarks import HISTORY_COLUMNS, STATE_BENCHMARKS_SCHEMA
from benchmarking_assets.core.schemas import DISTRICT_DATA_HISTORY
from benchmarking_assets.store.raw import RAW_TABLE
from benchmarking_assets.store.warehouse import WarehouseStore


def read_history(store: WarehouseStore, first: int, last: int) -> pl.LazyFrame:
    """The district_data_history columns the benchmarks use, for years first … last."""
    columns = ", ".join(HISTORY_COLUMNS)
    frame = store.read_df(
        f"SELECT {columns} FROM {RAW_TABLE} WHERE year BETWEEN :first AND :last",
        {"first": first, "last": last},
        schema={c: DISTRICT_DATA_HISTORY[c] for c in HISTORY_COLUMNS},
    )
    return frame.lazy()


def read_state_benchmarks(store: WarehouseStore, years: Sequence[int]) -> pl.DataFrame:
    return store.read_table(
        "state_benchmarks", STATE_BENCHMARKS_SCHEMA, where={"year": list(years)}
    )
