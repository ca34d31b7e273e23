"""Warehouse store: migrations, atomic partition replacement, identical backends."""

from __future__ import annotations

import polars as pl
import pytest

from benchmarking_assets.core.schemas import DISTRICT_DATA_HISTORY
from benchmarking_assets.store import warehouse as store_module
from benchmarking_assets.store.warehouse import WarehouseError, WarehouseStore, split_statements


def history_rows(state: str, year: int, n: int, enrollment_base: int = 1000) -> pl.DataFrame:
    fips = {"CA": 6, "TX": 48}[state]
    return pl.DataFrame(
        {
            "leaid": [f"{fips:02d}{i:05d}" for i in range(n)],
            "year": [year] * n,
            "state_code": [state] * n,
            "fips": [fips] * n,
            "lea_name": [f"District {i} 'quoted', \"double\"" for i in range(n)],
            "enrollment": [enrollment_base + i for i in range(n)],
            "spec_ed_students": [None if i % 3 == 0 else 100 + i for i in range(n)],
            "ell_students": [50 + i for i in range(n)],
            "teachers_fte": [60.5 + i for i in range(n)],
            "chronic_absenteeism_rate": [None] * n,
            "graduation_rate": [90.0] * n,
            "math_proficiency": [41.25] * n,
            "read_proficiency": [None] * n,
            "expenditure_pp": [12345.678] * n,
            "frl_students": [None] * n,
            "urban_centric_locale": [21] * n,
            "lowest_grade": [-1] * n,
            "highest_grade": [12] * n,
            "source": ["sample"] * n,
        },
        schema=DISTRICT_DATA_HISTORY,
    )


def read_history(store: WarehouseStore) -> pl.DataFrame:
    return store.read_table(
        "district_data_history", DISTRICT_DATA_HISTORY, order_by=("leaid", "year")
    )


def test_migrations_create_spec_tables_once(store: WarehouseStore) -> None:
    tables = set(store.table_names())
    assert {"district_data_history", "district_data_codes", "data_quality_issues"} <= tables
    assert store.migrate() == []  # idempotent: nothing left to apply
    versions = store.read_df("SELECT version FROM schema_migrations ORDER BY version")
    assert versions["version"].to_list()[0] == "0001_raw"


def test_writing_the_same_partition_twice_leaves_one_copy(store: WarehouseStore) -> None:
    rows = history_rows("CA", 2019, 7)
    store.replace_rows("district_data_history", rows, {"state_code": "CA", "year": 2019})
    store.replace_rows("district_data_history", rows, {"state_code": "CA", "year": 2019})
    assert store.scalar("SELECT COUNT(*) FROM district_data_history") == 7
    assert read_history(store).equals(rows.sort("leaid", "year"))


def test_replace_touches_only_its_partition(store: WarehouseStore) -> None:
    store.replace_rows(
        "district_data_history", history_rows("CA", 2018, 3), {"state_code": "CA", "year": 2018}
    )
    store.replace_rows(
        "district_data_history", history_rows("TX", 2018, 4), {"state_code": "TX", "year": 2018}
    )
    store.replace_rows(
        "district_data_history", history_rows("CA", 2018, 2), {"state_code": "CA", "year": 2018}
    )
    counts = store.read_df(
        "SELECT state_code, COUNT(*) AS n FROM district_data_history "
        "GROUP BY state_code ORDER BY state_code"
    )
    assert counts.rows() == [("CA", 2), ("TX", 4)]


def test_failure_halfway_through_a_write_keeps_previous_rows(
    store: WarehouseStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = history_rows("CA", 2019, 10)
    store.replace_rows("district_data_history", old, {"state_code": "CA", "year": 2019})

    # Insert the first half for real, then fail, as a crash mid-load would.
    real = (
        store_module._copy_into if store.dialect == "postgresql" else store_module._insert_batches
    )
    name = "_copy_into" if store.dialect == "postgresql" else "_insert_batches"

    def half_then_fail(conn, table, columns, df):  # type: ignore[no-untyped-def]
        real(conn, table, columns, df.head(df.height // 2))
        raise RuntimeError("injected failure halfway")

    monkeypatch.setattr(store_module, name, half_then_fail)
    new = history_rows("CA", 2019, 10, enrollment_base=5000)
    with pytest.raises(RuntimeError, match="injected"):
        store.replace_rows("district_data_history", new, {"state_code": "CA", "year": 2019})
    assert read_history(store).equals(old.sort("leaid", "year"))


def test_constraint_violation_mid_batch_keeps_previous_rows(store: WarehouseStore) -> None:
    old = history_rows("CA", 2019, 4)
    store.replace_rows("district_data_history", old, {"state_code": "CA", "year": 2019})
    bad = pl.concat([history_rows("CA", 2019, 6), history_rows("CA", 2019, 6).slice(3, 1)])
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        store.replace_rows("district_data_history", bad, {"state_code": "CA", "year": 2019})
    assert read_history(store).equals(old.sort("leaid", "year"))


def test_rows_outside_the_partition_are_refused(store: WarehouseStore) -> None:
    with pytest.raises(WarehouseError, match="year=2018"):
        store.replace_rows("district_data_history", history_rows("CA", 2018, 2), {"year": 2019})
    assert store.scalar("SELECT COUNT(*) FROM district_data_history") == 0


def test_both_backends_give_identical_frames(sqlite_url: str, pg_url: str) -> None:
    frames = []
    for url in (sqlite_url, pg_url):
        s = WarehouseStore(url)
        s.migrate()
        s.replace_rows("district_data_history", history_rows("CA", 2019, 25), {"year": 2019})
        s.replace_rows("district_data_history", history_rows("TX", 2019, 5), {"state_code": "TX"})
        s.replace_rows(
            "district_data_history",
            history_rows("CA", 2019, 20),
            {"state_code": "CA", "year": 2019},
        )
        frames.append(read_history(s))
        agg = s.read_df(
            "SELECT state_code, SUM(enrollment) AS e, AVG(teachers_fte) AS t, "
            "COUNT(spec_ed_students) AS n FROM district_data_history GROUP BY state_code "
            "ORDER BY state_code",
            schema={"state_code": pl.String(), "e": pl.Int64(), "t": pl.Float64(), "n": pl.Int64()},
        )
        frames.append(agg)
    assert frames[0].equals(frames[2])
    assert frames[1].equals(frames[3])
    # CA keeps only the second write (20 rows: leaids 0600000..0600019), TX its 5.
    assert frames[1].rows() == [
        ("CA", sum(range(1000, 1020)), 60.5 + 9.5, 13),
        ("TX", 5010, 62.5, 3),
    ]


def test_split_statements_handles_comments_and_dialects() -> None:
    script = """
-- a comment; with a semicolon
CREATE TABLE a (x INTEGER);
-- dialect: postgresql
CREATE INDEX i ON a
    (x);
CREATE TABLE b (y TEXT);
"""
    assert split_statements(script, "sqlite") == [
        "CREATE TABLE a (x INTEGER)",
        "CREATE TABLE b (y TEXT)",
    ]
    assert split_statements(script, "postgresql")[1] == "CREATE INDEX i ON a\n    (x)"
