"""Warehouse write speed: 1 million narrow rows into PostgreSQL (COPY) and SQLite (batches).

Prints figures; not a test. Target (issue #2): 1M rows to PostgreSQL in under 10 s.

    python perf/bench_warehouse.py [--rows 1000000] [--pg postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from benchmarking_assets.store.warehouse import WarehouseStore

DDL = (
    "CREATE TABLE bench_rows (id BIGINT NOT NULL, year INTEGER NOT NULL, "
    "value DOUBLE PRECISION, label TEXT)"
)


def frame(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": pl.int_range(0, n, eager=True),
            "year": pl.int_range(0, n, eager=True) % 12 + 2010,
            "value": pl.int_range(0, n, eager=True).cast(pl.Float64) / 7,
            "label": (pl.int_range(0, n, eager=True) % 1000).cast(pl.String),
        }
    )


def time_write(store: WarehouseStore, df: pl.DataFrame) -> float:
    store.execute(DDL)
    t0 = time.perf_counter()
    store.replace_rows("bench_rows", df, {"year": list(range(2010, 2022))})
    elapsed = time.perf_counter() - t0
    assert store.scalar("SELECT COUNT(*) FROM bench_rows") == df.height
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    df = frame(args.rows)

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(args.pg.replace("postgresql://", "postgresql+psycopg://"))
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        pg = WarehouseStore(f"{args.pg}?options=-csearch_path%3D{schema}")
        seconds = time_write(pg, df)
        print(
            f"postgresql COPY : {args.rows:>10,} rows in {seconds:6.2f} s "
            f"({args.rows / seconds:,.0f} rows/s)  target < 10 s"
        )
        pg.engine.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))

    with tempfile.TemporaryDirectory() as tmp:
        lite = WarehouseStore(f"sqlite:///{Path(tmp) / 'bench.sqlite'}")
        seconds = time_write(lite, df)
        print(
            f"sqlite batches  : {args.rows:>10,} rows in {seconds:6.2f} s "
            f"({args.rows / seconds:,.0f} rows/s)"
        )


if __name__ == "__main__":
    main()
