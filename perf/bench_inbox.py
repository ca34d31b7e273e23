"""Peak memory and time of ingesting one inbox file, each case in a fresh process.

    python perf/bench_inbox.py

Cases: a 100 MB file (refused unread by SUBMISSIONS_MAX_FILE_BYTES, default 10 MB); a file of
SUBMISSIONS_MAX_ROWS rows (100,000, the largest accepted; one district's 33 keys, the rest
rejected as duplicates after every check); a 10 MB file over the row bound (rejected whole).
Prints peak RSS (ru_maxrss) and seconds per case, and the baseline of a process that only
imports the package.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

CASE = r"""
import json, resource, sys, time
from pathlib import Path
from benchmarking_assets.store import WarehouseStore, participation
from benchmarking_assets.store.submissions import ingest_file, validation_registry
import polars as pl
from benchmarking_assets.core.schemas import DISTRICT_DATA_HISTORY

folder, name = Path(sys.argv[1]), sys.argv[2]
store = WarehouseStore(f"sqlite:///{folder / 'w.sqlite'}")
store.migrate()
if not store.scalar("SELECT COUNT(*) FROM benchmark_participants"):
    rows = [{"leaid": "0100001", "year": 2020, "state_code": "AL", "fips": 1, "lea_name": "A",
             "source": "bench"}]
    store.append_rows("district_data_history", pl.DataFrame(rows).cast(
        {k: v for k, v in DISTRICT_DATA_HISTORY.items() if k in rows[0]}))
    participation.enroll(store, "0100001", ["engagement"], actor="bench")
registry = validation_registry(store)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
summary = ingest_file(store, folder / "inbox" / name, registry) if name else {}
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"status": summary.get("status"), "accepted": summary.get("accepted"),
                  "seconds": round(seconds, 2), "peak_mib": round(peak / 1024),
                  "before_mib": round(before / 1024)}))
"""

HEADER = "leaid,year,category,metric,value\n"


def rows(n: int) -> str:
    # (year, metric) keys repeat after 11 × 3 rows: the later rows are rejected as duplicates,
    # after every check ran on them, so every row costs what a valid one does
    metrics = ("avg_session_minutes", "weekly_active_students_pct", "course_completion_pct")
    lines = [
        f"0100001,{2010 + i % 11},engagement,{metrics[i % 3]},{(i % 200) / 2}\n" for i in range(n)
    ]
    return HEADER + "".join(lines)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inbox = folder / "inbox"
        inbox.mkdir()
        body = rows(100_000)
        (inbox / "at_row_bound.csv").write_text(body)
        big = rows(100_000 * 2)
        (inbox / "ten_mb_over_rows.csv").write_text(big[: 10_000_000 - 1_000])
        with (inbox / "hundred_mb.csv").open("w") as handle:
            for _ in range(24):
                handle.write(big[:4_200_000])
        cases = [("(import only)", ""), ("100 MB file", "hundred_mb.csv"),
                 ("100,000 rows (5 MB)", "at_row_bound.csv"),
                 ("10 MB, over the row bound", "ten_mb_over_rows.csv")]  # fmt: skip
        for label, name in cases:
            size = (inbox / name).stat().st_size if name else 0
            out = subprocess.run(
                [sys.executable, "-c", CASE, str(folder), name],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            result = json.loads(out.strip().splitlines()[-1])
            print(f"{label:28} {size / 1e6:7.1f} MB  {result}")


if __name__ == "__main__":
    main()
