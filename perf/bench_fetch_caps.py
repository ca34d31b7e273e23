"""What the fetch caps cost and save, against hostile local servers (figures printed, not
asserted): ``python perf/bench_fetch_caps.py [--page-mb 100]``.

Each case runs in a child process (so its peak RSS is its own) against ``FakeApi`` on
127.0.0.1, once with the caps (``docs/data-sources.md``, "Caps") and once without them (every
cap set out of reach), and prints wall time, requests sent, peak RSS and how it ended.

1. A huge page (``--page-mb`` MB, generated while sent; the real case was 279 MB).
2. Endless pagination: ``next`` always advances, ``count`` 10^9 (without caps, stopped by
   the script after 10 s).
3. A trickling server: one byte every 0.1 s of a ~700-byte page.
4. A silent host (accepts TCP, never answers), with short timeouts to keep the run quick:
   ``timeout_seconds`` 1 s, 4 retries; the deadline case adds ``query_deadline_seconds`` 2 s.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for benchmarking_assets_tests.fake_api

PATH = "school-districts/ccd/directory/2013/"
OUT_OF_REACH = {
    "max_response_bytes": 1 << 40,
    "max_query_bytes": 1 << 40,
    "max_pages": 1 << 30,
    "max_rows": 1 << 40,
    "request_deadline_seconds": 1e9,
    "query_deadline_seconds": 1e9,
}


def child(case: str, capped: bool, page_mb: int) -> dict[str, object]:
    from benchmarking_assets.sources.client import EducationDataClient, EducationDataError
    from benchmarking_assets_tests import real_shapes
    from benchmarking_assets_tests.fake_api import FakeApi, endless, huge, silent_server, trickle

    options: dict[str, object] = {"max_retries": 0, "pace_seconds": 0.0}
    if not capped:
        options |= OUT_OF_REACH
    outcome = "completed"

    def run(url: str) -> EducationDataClient:
        nonlocal outcome
        client = EducationDataClient(url, **options)  # type: ignore[arg-type]
        try:
            result = client.fetch_all(PATH, {"fips": 9})
            outcome = f"completed: {len(result.results):,} rows"
        except EducationDataError as exc:
            outcome = f"{type(exc).__name__}: {str(exc).split(' [url')[0][:90]}"
        finally:
            client.close()
        return client

    started = time.monotonic()
    if case == "silent":
        options |= {"timeout_seconds": 1.0, "max_retries": 4, "backoff_seconds": 0.5}
        if capped:
            options["query_deadline_seconds"] = 2.0
        with silent_server() as url:
            client = run(url)
    else:
        with FakeApi(page_size=2) as api:
            real_shapes.serve(api)
            if case == "huge":
                api.fail(huge(page_mb * 1024 * 1024, path=PATH, announce_length=False))
            elif case == "endless":
                api.fail(endless(10**9, path=PATH))
                if not capped:
                    options["query_deadline_seconds"] = 10.0  # the script's stop, not a cap
            elif case == "trickle":
                api.fail(trickle(0.1, path=PATH))
                if capped:
                    options["request_deadline_seconds"] = 2.0
            client = run(api.base_url)
    return {
        "seconds": round(time.monotonic() - started, 2),
        "requests": client.requests_sent,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "outcome": outcome,
    }


def main() -> None:
    if "--child" in sys.argv:
        case, capped, page_mb = sys.argv[2], sys.argv[3] == "1", int(sys.argv[4])
        print(json.dumps(child(case, capped, page_mb)))
        return
    page_mb = int(sys.argv[sys.argv.index("--page-mb") + 1]) if "--page-mb" in sys.argv else 100
    print(f"{'case':<9} {'caps':<5} {'seconds':>8} {'requests':>9} {'peak RSS':>9}  outcome")
    for case in ("huge", "endless", "trickle", "silent"):
        for capped in (True, False):
            run = subprocess.run(
                [sys.executable, __file__, "--child", case, "1" if capped else "0", str(page_mb)],
                capture_output=True,
                text=True,
                timeout=900,
            )
            lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
            if not lines:
                print(f"{case:<9} {'on' if capped else 'off':<5} failed: {run.stderr[-300:]}")
                continue
            r = json.loads(lines[-1])
            print(f"{case:<9} {'on' if capped else 'off':<5} {r['seconds']:>8} "
                  f"{r['requests']:>9} {r['peak_rss_mb']:>6} MB  {r['outcome']}")  # fmt: skip
    print(
        f"(huge page: {page_mb} MB; caps on = the defaults, plus the short deadlines named "
        "in the docstring for the trickle and silent cases)"
    )


if __name__ == "__main__":
    main()
