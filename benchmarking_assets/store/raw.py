"""The raw layer's tables: one state × year partition written atomically, and the counts the
raw checks compare (no Dagster).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from benchmarking_assets.core.schemas import (
    DATA_QUALITY_ISSUES,
    DISTRICT_DATA_CODES,
    DISTRICT_DATA_HISTORY,
)
from benchmarking_assets.store.warehouse import WarehouseStore, where_clause

RAW_TABLE = "district_data_history"


def write_state_year(
    store: WarehouseStore,
    state: str,
    year: int,
    history: pl.DataFrame,
    codes: pl.DataFrame,
    issues: pl.DataFrame,
    *,
    asset: str,
    partition_key: str,
) -> None:
    """Replace one state-year's history, missing-data codes and quality issues in one
    transaction: a re-run replaces the partition, a failed one leaves the previous rows."""
    where = {"state_code": state, "year": year}
    store.replace_many(
        [
            (RAW_TABLE, history.select(list(DISTRICT_DATA_HISTORY)), where),
            ("district_data_codes", codes.select(list(DISTRICT_DATA_CODES)), where),
            (
                "data_quality_issues",
                issues.select(list(DATA_QUALITY_ISSUES)),
                {"asset": asset, "partition_key": partition_key},
            ),
        ]
    )


def district_counts(
    store: WarehouseStore, states: Sequence[str], years: Sequence[int]
) -> pl.DataFrame:
    """``state_code, year, districts``: rows of district_data_history per state and year."""
    clause, params = where_clause({"state_code": list(states), "year": list(years)})
    return store.read_df(
        f"SELECT state_code, year, COUNT(*) AS districts FROM {RAW_TABLE}{clause} "
        "GROUP BY state_code, year",
        params,
        schema={"state_code": pl.String(), "year": pl.Int32(), "districts": pl.Int64()},
    )


def loaded_years(store: WarehouseStore) -> list[int]:
    """Years with at least one row in district_data_history, ascending (none on a fresh one)."""
    if RAW_TABLE not in store.table_names():
        return []
    frame = store.read_df(f"SELECT DISTINCT year FROM {RAW_TABLE} ORDER BY year")
    return [int(y) for y in frame.get_column("year").to_list()] if frame.height else []


def known_districts(store: WarehouseStore) -> frozenset[str]:
    """Every leaid district_data_history holds, any year."""
    districts = store.read_df(
        f"SELECT DISTINCT leaid FROM {RAW_TABLE}", schema={"leaid": pl.String()}
    )
    return frozenset(districts["leaid"])


def loaded_district_count(store: WarehouseStore, state: str, year: int, source: str) -> int:
    """Districts of one state-year in district_data_history that came from ``source``."""
    return int(
        store.scalar(
            f"SELECT COUNT(*) FROM {RAW_TABLE} "
            "WHERE state_code = :state AND year = :year AND source = :source",
            {"state": state, "year": year, "source": source},
        )
        or 0
    )
