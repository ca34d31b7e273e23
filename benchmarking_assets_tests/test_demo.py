"""``benchmarking demo`` end to end, on a slice of the sample to keep the suite quick."""

from __future__ import annotations

import csv
import io
import itertools
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from benchmarking_assets.core.benchmarks import (
    DISTRICT_BENCHMARKS_SCHEMA,
    DISTRICT_OUTLIERS_SCHEMA,
    STATE_BENCHMARKS_SCHEMA,
)
from benchmarking_assets.store import WarehouseStore
from benchmarking_assets_tests.pdf_support import extract_text
from benchmarking_assets_tests.reference_sql import assert_frames_agree, sql_outputs

REPO = Path(__file__).resolve().parents[1]
SPEC_TABLES = {"district_data_history", "state_benchmarks", "district_benchmarks"}


def test_demo_builds_the_graph_and_records_runs_in_dagster_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "DATABASE_URL")}
    env["BENCHMARKING_DATA_DIR"] = str(tmp_path / "data")
    run = subprocess.run(
        [str(Path(sys.executable).parent / "benchmarking"), "demo",
         "--states", "CA,NV", "--years", "2016-2021"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "Demo finished" in run.stdout

    store = WarehouseStore(f"sqlite:///{tmp_path / 'data' / 'warehouse.sqlite'}")
    assert set(store.table_names()) >= SPEC_TABLES
    loaded = store.read_df(
        "SELECT state_code, year, COUNT(*) AS n FROM district_data_history "
        "GROUP BY state_code, year ORDER BY state_code, year"
    )
    assert [(s, y) for s, y, _ in loaded.rows()] == [
        (s, y) for s in ("CA", "NV") for y in range(2016, 2022)
    ]
    assert all(n > 0 for _, _, n in loaded.rows())
    us = store.read_df(
        "SELECT year, district_count FROM state_benchmarks WHERE state_code = 'US' ORDER BY year"
    )
    # The US row counts every district of the loaded states that year.
    for year, count in us.rows():
        assert count == store.scalar(
            "SELECT COUNT(*) FROM district_data_history WHERE year = :y", {"y": year}
        )
    assert store.scalar("SELECT COUNT(*) FROM district_benchmarks") == loaded["n"].sum()
    # What the demo stored equals an independent SQL recomputation from district_data_history.
    for year in range(2016, 2022):
        stored = [
            store.read_table(t, schema, where={"year": year})
            for t, schema in (
                ("state_benchmarks", STATE_BENCHMARKS_SCHEMA),
                ("district_benchmarks", DISTRICT_BENCHMARKS_SCHEMA),
                ("district_outliers", DISTRICT_OUTLIERS_SCHEMA),
            )
        ]
        recomputed = sql_outputs(store, year)
        assert stored[0].height == 3  # CA, NV and US
        assert_frames_agree(stored[0], recomputed[0], ["state_code"])
        assert_frames_agree(stored[1], recomputed[1], ["leaid"])
        assert_frames_agree(stored[2], recomputed[2], ["leaid", "metric"])

    # Reports: a PDF, an XLSX, a long and a wide CSV per sample participant for the newest
    # year, on disk, and their paths printed.
    reports = store.read_df("SELECT leaid, year, format, path FROM benchmark_reports")
    participants = store.scalar("SELECT COUNT(*) FROM benchmark_participants")
    assert participants > 0
    assert sorted(set(reports["format"])) == ["csv", "csv_wide", "pdf", "xlsx"]
    assert reports.height == 4 * participants and set(reports["year"]) == {2021}
    for path in reports["path"]:
        assert Path(path).is_file() and Path(path).stat().st_size > 0
        assert path in run.stdout
    # Every private value is shown with its 90 % margin and the group it comes from (with n),
    # exactly as published.
    published = store.read_df(
        "SELECT m.leaid, m.metric, b.dp_mean, b.margin_90, b.group_label, b.n "
        "FROM participant_private_benchmarks m JOIN private_cohort_benchmarks b "
        "ON b.year = m.year AND b.metric = m.metric AND b.group_id = m.group_id "
        "WHERE m.year = 2021"
    )
    assert published.height > 0 and published["margin_90"].min() > 0
    for path in reports.filter(pl.col("format") == "csv")["path"]:
        rows = list(csv.DictReader(io.StringIO(Path(path).read_text(encoding="utf-8"))))
        got = {(r["metric"], r["measure"]): r for r in rows if r["section"] == "private"}
        leaid = rows[0]["leaid"]
        for r in published.filter(pl.col("leaid") == leaid).iter_rows(named=True):
            assert float(got[(r["metric"], "peer_dp_mean")]["value"]) == r["dp_mean"]
            assert float(got[(r["metric"], "peer_dp_margin_90")]["value"]) == r["margin_90"]
            assert got[(r["metric"], "peer_group")]["text"] == r["group_label"]
    first = published.row(0, named=True)
    pdf = reports.filter((pl.col("leaid") == first["leaid"]) & (pl.col("format") == "pdf"))
    text = " ".join(extract_text(Path(pdf["path"][0])).split())
    assert f"{first['group_label']} (n={first['n']})" in text and "±" in text
    assert "in 9 cases out of 10 the true peer mean" in text

    # The runs went to the default DAGSTER_HOME, where the UI will find them.
    home = tmp_path / "data" / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert runs and all(r.is_success for r in runs)
        assert {r.job_name for r in runs} >= {"raw_history_job", "benchmarks_job", "cohorts_job"}


def test_full_demo_splits_raw_loading_into_year_slices_one_per_core() -> None:
    from benchmarking_assets.cli.demo import DEMO_STAGES, _ranges
    from benchmarking_assets.core.geography import STATE_CODES

    raw = DEMO_STAGES[0]
    years = list(range(2010, 2022))
    ranges = _ranges(raw, list(STATE_CODES), years)
    cores = min(os.cpu_count() or 1, 2)
    assert len(ranges) == cores
    # Rectangles AL|first … WY|last whose year spans tile 2010–2021 without overlap.
    spans = [(int(a.split("|")[1]), int(b.split("|")[1])) for a, b in ranges]
    assert spans[0][0] == 2010 and spans[-1][1] == 2021
    assert all(nxt[0] == prev[1] + 1 for prev, nxt in itertools.pairwise(spans))
    assert all(a.startswith("AL|") and b.startswith("WY|") for a, b in ranges)
    # A subset of states runs one range per state.
    assert _ranges(raw, ["CA", "NV"], years) == [("CA|2010", "CA|2021"), ("NV|2010", "NV|2021")]
