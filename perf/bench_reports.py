"""Seconds per district report (PDF + XLSX + CSV, insights, files, rows, audit) on one core.

    DATABASE_URL=sqlite:///data/warehouse.sqlite python perf/bench_reports.py [YEAR] [N]

Needs a warehouse with participants and cohorts (``benchmarking demo``). Reports go to a
temporary folder and their rows are deleted afterwards. Target: ≤ 0.3 s per report.
"""

from __future__ import annotations

import sys
import tempfile
import time

from benchmarking_assets.defs.resources import default_database_url
from benchmarking_assets.store import WarehouseStore, participation
from benchmarking_assets.store.reports import delete_report_writes, generate


def main() -> None:
    store = WarehouseStore(default_database_url())
    store.migrate()
    year = (
        int(sys.argv[1])
        if len(sys.argv) > 1
        else int(store.scalar("SELECT MAX(year) FROM peer_cohorts"))
    )
    leaids = participation.list_participants(store)["leaid"].to_list()
    leaids = leaids[: int(sys.argv[2])] if len(sys.argv) > 2 else leaids
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        done = generate(store, folder, year, leaids, 5, 365, actor="bench")
        total = time.perf_counter() - started
        writes, _ = delete_report_writes(store, leaids, [year], "bench.cleanup", "bench")
        store.replace_many(writes)
    per = [d["seconds"] for d in done]
    print(
        f"{len(done)} reports for {year} in {total:.2f} s: {total / len(done):.3f} s per report "
        f"(render+write {sum(per) / len(per):.3f} s mean, {max(per):.3f} s max)"
    )


if __name__ == "__main__":
    main()
