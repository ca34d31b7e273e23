"""What the CRDC chronic-absenteeism rows with null ``leaid``/``fips`` cost, and what the
recovery by ``crdc_id`` gets back (figures printed, not asserted; docs/data-sources.md).

Run with two saved first pages of the real API (2013, one race × sex slice each)::

    python perf/measure_crdc_unlocated.py CHRONIC_PAGE.json ENROLLMENT_PAGE.json

1. On the chronic-absenteeism page: how many rows have no district, by state (from
   ``crdc_id[:2]``), and how many chronically absent students they hold.
2. For each state both pages cover completely, the pages are served over real HTTP
   (``FakeApi``, the slice standing in for the total rows) and the state-year is fetched and
   derived twice, as the raw asset does: without the recovery (what ``?fips=F`` alone gives)
   and with it. Printed: districts with a rate, schools set aside, students counted.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for benchmarking_assets_tests.fake_api

CHRONIC = "schools/crdc/chronic-absenteeism/2013/race/sex/"
ENROLLMENT = "schools/crdc/enrollment/2013/race/sex/"


def as_totals(rows: list[dict]) -> list[dict]:
    """The slice's rows relabelled as total rows (race = sex = 99), so the derivation uses them."""
    return [{**r, "race": 99, "sex": 99} for r in rows]


def main(chronic_path: str, enrollment_path: str) -> None:
    import polars as pl

    from benchmarking_assets.sources.client import EducationDataClient
    from benchmarking_assets.sources.district_year import fetch_district_year
    from benchmarking_assets_tests.fake_api import FakeApi

    chronic = json.loads(Path(chronic_path).read_text())["results"]
    enrolled = json.loads(Path(enrollment_path).read_text())["results"]
    absent = "students_chronically_absent"
    unlocated = [r for r in chronic if r["leaid"] is None and r["fips"] is None]
    print("1. the chronic-absenteeism page (one race × sex slice, 2013, first page)")
    print(f"  rows {len(chronic):,}; leaid and fips null: {len(unlocated):,} "
          f"({len(unlocated) / len(chronic):.1%})")  # fmt: skip
    counted = sum(r[absent] for r in unlocated if r[absent] >= 0)
    coded = Counter(r[absent] for r in unlocated if r[absent] < 0)
    print(f"  their chronically absent students (>= 0): {counted:,}; coded: {dict(coded)}")
    by_state = Counter(r["crdc_id"][:2] for r in unlocated)
    print(f"  states (crdc_id[:2]): {len(by_state)}; most: {by_state.most_common(8)}")
    districts = {r["ncessch"][:7] for r in unlocated}
    print(f"  districts (ncessch[:7]) they belong to: {len(districts):,}")
    ids = {r["crdc_id"] for r in enrolled}
    on_page = [r for r in unlocated if r["crdc_id"] in ids]
    same = sum(
        next(e for e in enrolled if e["crdc_id"] == r["crdc_id"])["leaid"] == r["ncessch"][:7]
        for r in on_page
    )
    print(f"  found on the enrollment page by crdc_id: {len(on_page)} (its leaid = ncessch[:7] "
          f"for {same})")  # fmt: skip

    located = Counter(r["fips"] for r in chronic if r["fips"] is not None)
    last_chronic = max(located)
    last_enrolled = max(r["fips"] for r in enrolled if isinstance(r["fips"], int))
    complete = [f for f in sorted(located) if f < min(last_chronic, last_enrolled)]
    print("\n2. per state, fetched and derived over HTTP, without and with the recovery")
    print(f"  {'state':>5} {'schools':>7} {'unlocated':>9} {'with rate: without':>19} "
          f"{'with':>5} {'absent counted: without':>24} {'with':>7} {'set aside: without':>19} "
          f"{'with':>5} {'requests':>8}")  # fmt: skip
    codes = {1: "AL", 2: "AK", 4: "AZ", 5: "AR", 6: "CA"}
    for fips in complete:
        state = codes.get(fips)
        if state is None:
            continue
        rows_c = as_totals([r for r in chronic if r["fips"] in (fips, None)])
        rows_e = as_totals([r for r in enrolled if r["fips"] == fips])
        leaids = sorted({r["leaid"] for r in rows_e if r["leaid"]})
        with FakeApi(page_size=10_000) as api:
            api.add(CHRONIC, rows_c)
            api.add(ENROLLMENT, rows_e)
            api.add(
                "school-districts/ccd/directory/2013/",
                [{"leaid": leaid, "fips": fips} for leaid in leaids],
            )
            for path in ("schools/ccd/directory/2013/", "school-districts/ccd/finance/2013/",
                         "school-districts/edfacts/assessments/2013/grade-99/",
                         "school-districts/edfacts/grad-rates/2013/"):  # fmt: skip
                api.add(path, [])
            results = {}
            with EducationDataClient(api.base_url, pace_seconds=0, max_retries=0) as client:
                for recover in (False, True):
                    before = len(api.requests)
                    raw = fetch_district_year(
                        client, state, 2013, source="api", recover_crdc=recover
                    )
                    rate = raw.history["chronic_absenteeism_rate"]
                    crdc_aside = raw.set_aside.filter(pl.col("endpoint").str.starts_with("crdc"))
                    results[recover] = (rate.count(), crdc_aside.height, len(api.requests) - before)
        lost = [r for r in unlocated if r["crdc_id"][:2] == f"{fips:02d}"]
        wanted = {r["crdc_id"] for r in rows_e}
        served = sum(1 for r in rows_c if r["fips"] == fips)
        kept = {True: 0, False: 0}
        for recover in (False, True):
            pool = [
                r
                for r in rows_c
                if r["crdc_id"] in wanted and (r["fips"] == fips or (recover and r["fips"] is None))
            ]
            kept[recover] = sum(r[absent] for r in pool if r[absent] >= 0)
        (w0, a0, _), (w1, a1, n1) = results[False], results[True]
        print(f"  {state:>5} {served:>7,} {len(lost):>9} {w0:>19} {w1:>5} {kept[False]:>24,} "
              f"{kept[True]:>7,} {a0:>19} {a1:>5} {n1:>8}")  # fmt: skip
    print("  (schools: rows ?fips= returns; unlocated: rows it cannot return; absent counted:")
    print("  students in rows of schools with an enrollment row; requests: the state-year's")
    print("  requests with the recovery, one per endpoint plus the crdc_id query)")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
