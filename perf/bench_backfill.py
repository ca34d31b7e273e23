"""Wall time of a daemon backfill of every raw partition of the sample, and of the demo.

Prints figures; not a test. Target (orchestration issue): every raw partition of the sample
(51 states × the sample's years) through ``dagster-daemon`` in under 5 minutes, in few runs.

The stack is the production one (``deploy/dagster.yaml`` on a fresh PostgreSQL database,
``dagster-webserver`` + ``dagster-daemon``); the backfill is launched over GraphQL like the
UI does, and the warehouse is a temporary SQLite file.

    python perf/bench_backfill.py [--pg postgresql://postgres@127.0.0.1:5432/test]
                                        [--skip-demo]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarking_assets.core.geography import STATE_CODES
from benchmarking_assets.sources.sample import SAMPLE_YEARS
from benchmarking_assets.store import WarehouseStore
from benchmarking_assets_tests.dagster_services import BIN, REPO, DagsterStack

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


def bench_backfill(pg_url: str, workdir: Path) -> None:
    warehouse = f"sqlite:///{workdir / 'warehouse.sqlite'}"
    env = {"DATABASE_URL": warehouse, "EDUCATION_DATA_SOURCE": "sample"}
    stack = DagsterStack(pg_url, workdir / "stack", env)
    t0 = time.monotonic()
    try:
        stack.start()
        print(f"webserver + daemon up: {time.monotonic() - t0:.1f} s")
        keys = [f"{s}|{y}" for s in STATE_CODES for y in SAMPLE_YEARS]
        t1 = time.monotonic()
        backfill_id = stack.launch_backfill(
            {"assetSelection": [{"path": ["district_data_history"]}], "partitionNames": keys}
        )
        status = stack.wait_backfill(backfill_id, timeout=1800)
        elapsed = time.monotonic() - t1
        runs = stack.backfill_runs(backfill_id)
        rows = WarehouseStore(warehouse).scalar("SELECT COUNT(*) FROM district_data_history")
        print(
            f"backfill of {len(keys)} raw partitions ({len(STATE_CODES)} states × "
            f"{len(SAMPLE_YEARS)} years): {status} in {elapsed:.1f} s wall, {len(runs)} run(s), "
            f"{rows:,} district-year rows (target < 300 s)"
        )
    finally:
        stack.stop()


def bench_demo(workdir: Path) -> None:
    env = {
        **os.environ,
        "BENCHMARKING_DATA_DIR": str(workdir / "demo"),
        "DAGSTER_HOME": str(workdir / "demo" / "dagster_home"),
        "DATABASE_URL": f"sqlite:///{workdir / 'demo' / 'warehouse.sqlite'}",
        "EDUCATION_DATA_SOURCE": "sample",
    }
    t0 = time.monotonic()
    result = subprocess.run(
        [str(BIN / "benchmarking"), "demo"], cwd=REPO, env=env, capture_output=True, text=True
    )
    elapsed = time.monotonic() - t0
    status = "ok" if result.returncode == 0 else f"FAILED ({result.returncode})"
    print(f"benchmarking demo (every stage, all states × sample years): {status}, {elapsed:.1f} s")
    if result.returncode:
        print(result.stdout[-2000:], result.stderr[-2000:], file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_PG))
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
        bench_backfill(args.pg, Path(tmp))
        if not args.skip_demo:
            bench_demo(Path(tmp))


if __name__ == "__main__":
    main()
