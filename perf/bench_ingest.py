"""Ingestion figures (printed, not asserted): run ``python perf/bench_ingest.py``.

1. Parsing + normalising API-shaped 10,000-row pages on one core: ``json.loads`` of the body,
   ``parse_rows``, both, and both for the narrower pages the API sends when it honours our
   ``fields=`` projection. Target ≥ 200,000 rows/s (stdlib JSON decoding is most of the cost).
2. Ingestion from a local fake API server over real HTTP: pages/s and rows/s.
3. Fetch + derive every state × year of the offline sample, as the raw asset does: target
   well under 20 s (warehouse writes come on top; the whole budget is 30 s).

Part 1 runs in a child process with ``POLARS_MAX_THREADS=1`` so that "one core" is true.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for benchmarking_assets_tests.fake_api

PAGE = 10_000


def _pages(endpoint: str, year: int, fields: list[str] | None = None) -> list[bytes]:
    """National rows of one endpoint re-keyed as one big state (fips 6), as 10k-row pages;
    with ``fields``, only those columns (what the API sends when it honours ``fields=``)."""
    import polars as pl

    from benchmarking_assets.sources import sample

    frame = sample._national_rows(endpoint, year).drop("__fips")
    key = {"crdc_enrollment": "crdc_id", "school_directory": "ncessch"}.get(endpoint, "leaid")
    ids = frame.select(pl.col(key).rank("dense").cast(pl.Int64).alias("n"))["n"]
    frame = frame.with_columns(
        leaid=pl.format("06{}", (ids % 100_000).cast(pl.String).str.zfill(5)),
        fips=pl.lit(6),
    )
    if key != "leaid":
        frame = frame.with_columns(
            pl.format("06{}", ids.cast(pl.String).str.zfill(10)).alias(key),
            pl.format("06{}", (ids // 5 % 100_000).cast(pl.String).str.zfill(5)).alias("leaid"),
        )
    if fields:
        frame = frame.select(c for c in fields if c in frame.columns)
    pages = []
    for start in range(0, frame.height, PAGE):
        rows = frame.slice(start, PAGE).write_json()
        body = f'{{"count":{frame.height},"next":null,"previous":null,"results":{rows}}}'
        pages.append(body.encode())
    return pages


def _best_of_3(
    pages: list[bytes], fields: list[Any], options: dict[str, Any]
) -> tuple[int, float, float]:
    """Rows, and the best of three timings of ``json.loads`` and of ``parse_rows``."""
    from benchmarking_assets.sources.normalize import parse_rows

    json_s = norm_s = float("inf")
    rows = 0
    for _ in range(3):
        t0 = time.perf_counter()
        decoded = [json.loads(body)["results"] for body in pages]
        t1 = time.perf_counter()
        for results in decoded:
            parse_rows(results, fields, **options)
        t2 = time.perf_counter()
        rows = sum(len(r) for r in decoded)
        json_s, norm_s = min(json_s, t1 - t0), min(norm_s, t2 - t1)
    return rows, json_s, norm_s


def parse_benchmark() -> None:
    from benchmarking_assets.sources.coverage import ENDPOINTS
    from benchmarking_assets.sources.district_year import FIELDS, SCHOOL_KEYS, fields_param

    print(f"  {'endpoint':<20} {'rows':>7}  {'json.loads':>10}  {'normalise':>10}  "
          f"{'both':>10}  {'both, fields=':>13}   (rows/s)")  # fmt: skip
    totals = {"rows": 0, "json": 0.0, "norm": 0.0, "proj": 0.0}
    for endpoint, year in [
        ("district_directory", 2015),
        ("finance", 2015),
        ("assessments", 2015),
        ("school_directory", 2015),
        ("crdc_enrollment", 2020),
    ]:
        e = ENDPOINTS[endpoint]
        key = ("leaid",) if e.level == "district" else SCHOOL_KEYS[endpoint]
        options = {"endpoint": endpoint, "fips": 6, "subgroup_columns": e.subgroup_columns}

        options["key"] = key
        rows, json_s, norm_s = _best_of_3(_pages(endpoint, year), FIELDS[endpoint], options)
        projected = _pages(endpoint, year, fields_param(e).split(","))
        _, pj, pn = _best_of_3(projected, FIELDS[endpoint], options)
        totals["rows"] += rows
        totals["json"] += json_s
        totals["norm"] += norm_s
        totals["proj"] += pj + pn
        print(f"  {endpoint:<20} {rows:>7,}  {rows / json_s:>10,.0f}  {rows / norm_s:>10,.0f}  "
              f"{rows / (json_s + norm_s):>10,.0f}  {rows / (pj + pn):>13,.0f}")  # fmt: skip
    n = totals["rows"]
    print(f"  {'all':<20} {n:>7,}  {n / totals['json']:>10,.0f}  {n / totals['norm']:>10,.0f}  "
          f"{n / (totals['json'] + totals['norm']):>10,.0f}  {n / totals['proj']:>13,.0f}"
          "   target >= 200,000 rows/s")  # fmt: skip


def fake_server_benchmark() -> None:
    from benchmarking_assets.sources.client import EducationDataClient
    from benchmarking_assets.sources.district_year import FIELDS
    from benchmarking_assets.sources.normalize import parse_rows
    from benchmarking_assets_tests.fake_api import FakeApi

    rows = [
        {"leaid": f"06{i:05d}", "fips": 6, "lea_name": f"District {i}", "enrollment": 1000 + i,
         "spec_ed_students": 120, "english_language_learners": -3, "teachers_total_fte": "61.500",
         "urban_centric_locale": 41, "lowest_grade_offered": -1, "highest_grade_offered": 12}
        for i in range(60_000)
    ]  # fmt: skip
    path = "school-districts/ccd/directory/2015/"
    with FakeApi(page_size=PAGE) as api:
        api.add(path, rows)
        with EducationDataClient(api.base_url, pace_seconds=0) as client:
            client.fetch_all(path, {"fips": 6})  # warm up
            t0 = time.perf_counter()
            result = client.fetch_all(path, {"fips": 6})
            fetched = time.perf_counter() - t0
            parse_rows(result.results, FIELDS["district_directory"], endpoint="d", fips=6)
            total = time.perf_counter() - t0
    print(f"  fetch: {result.pages} pages, {result.count:,} rows in {fetched:.2f} s = "
          f"{result.pages / fetched:.1f} pages/s, {result.count / fetched:,.0f} rows/s "
          "(server, client and JSON share this process)")  # fmt: skip
    print(f"  fetch + parse: {result.count / total:,.0f} rows/s")


def sample_benchmark() -> None:
    from benchmarking_assets.core.geography import STATES
    from benchmarking_assets.sources.district_year import fetch_district_year
    from benchmarking_assets.sources.sample import SAMPLE_YEARS, sample_client

    wall0, cpu0 = time.perf_counter(), time.process_time()
    districts = set_aside = 0
    with sample_client(max_concurrency=1) as client:
        for year in SAMPLE_YEARS:
            for state in STATES:
                raw = fetch_district_year(client, state.code, year, source="sample")
                districts += raw.history.height
                set_aside += raw.set_aside.height
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    n = len(STATES) * len(SAMPLE_YEARS)
    print(f"  {n} state-years, {districts:,} district-years, {set_aside:,} rows set aside")
    print(f"  {wall:.2f} s wall ({wall / n * 1000:.1f} ms per state-year), {cpu:.2f} s CPU "
          "(target: well under 20 s)")  # fmt: skip


def warehouse_benchmark() -> None:
    """Every state × year of the sample into a fresh SQLite warehouse, as the raw asset does
    (fetch, derive, quarantine, atomic write of history + codes + issues), without Dagster."""
    import tempfile

    from benchmarking_assets.core.geography import STATES
    from benchmarking_assets.defs.raw.assets import load_partition
    from benchmarking_assets.defs.resources import EducationDataSource
    from benchmarking_assets.sources.sample import SAMPLE_YEARS
    from benchmarking_assets.store import WarehouseStore

    with tempfile.TemporaryDirectory() as tmp:
        store = WarehouseStore(f"sqlite:///{tmp}/warehouse.sqlite")
        store.migrate()
        source = EducationDataSource(source="sample")
        wall0 = time.perf_counter()
        rows = 0
        for year in SAMPLE_YEARS:
            for state in STATES:
                rows += load_partition(source, store, f"{state.code}|{year}")[0].height
        wall = time.perf_counter() - wall0
    print(f"  {rows:,} rows in {wall:.2f} s ({rows / wall:,.0f} rows/s), one process "
          "(target: under 30 s)")  # fmt: skip


def main() -> None:
    if "--parse" in sys.argv:
        parse_benchmark()
        return
    print("1. parse + normalise API pages, one core (POLARS_MAX_THREADS=1):", flush=True)
    env = dict(os.environ, POLARS_MAX_THREADS="1")
    subprocess.run([sys.executable, *sys.argv, "--parse"], env=env, check=True)
    print("2. ingestion from a local fake API server (real HTTP on 127.0.0.1):", flush=True)
    fake_server_benchmark()
    print("3. fetch + derive every state × year of the offline sample:", flush=True)
    sample_benchmark()
    print("4. the same into a SQLite warehouse (what the raw asset does, minus Dagster):")
    warehouse_benchmark()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"(machine: {os.cpu_count()} cores, load average {load:.2f} at the end)")


if __name__ == "__main__":
    main()
