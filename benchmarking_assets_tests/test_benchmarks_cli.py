"""``dagster asset materialize --select 'group:benchmarks' --partition 2019`` from the shell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl

from benchmarking_assets.defs.raw.assets import district_data_history
from benchmarking_assets.defs.resources import EducationDataSource, Warehouse
from benchmarking_assets.store import WarehouseStore

REPO = Path(__file__).resolve().parents[1]
TABLES = ("state_benchmarks", "district_benchmarks", "district_outliers")


def snapshot(store: WarehouseStore) -> dict[str, pl.DataFrame]:
    return {t: store.read_df(f"SELECT * FROM {t} ORDER BY 1, 2, 3") for t in TABLES}


def test_cli_recomputes_one_year_and_a_repeat_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    resources = {"warehouse": Warehouse(database_url=url),
                 "education_data": EducationDataSource(source="sample")}  # fmt: skip
    for key in ("NV|2016", "NV|2019", "UT|2016", "UT|2019"):
        assert dg.materialize(
            [district_data_history], partition_key=key, resources=resources,
            instance=dg.DagsterInstance.ephemeral(),
        ).success  # fmt: skip
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home), "DATABASE_URL": url}
    dagster = str(Path(sys.executable).parent / "dagster")
    cmd = [dagster, "asset", "materialize", "-m", "benchmarking_assets.definitions",
           "--select", "group:benchmarks", "--partition", "2019"]  # fmt: skip
    store = WarehouseStore(url)
    snapshots = []
    for _ in range(2):
        run = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        snapshots.append(snapshot(store))
    for table in TABLES:
        assert snapshots[0][table].equals(snapshots[1][table]), table
    states = snapshots[0]["state_benchmarks"]
    # Only 2019 was computed: NV, UT and the US row.
    assert sorted(states.select("state_code", "year").rows()) == [
        ("NV", 2019), ("US", 2019), ("UT", 2019)
    ]  # fmt: skip
    districts = store.scalar("SELECT COUNT(*) FROM district_data_history WHERE year = 2019")
    assert snapshots[0]["district_benchmarks"].height == districts
    us = states.filter(pl.col("state_code") == "US").row(0, named=True)
    assert us["district_count"] == districts
    # Independent check of one average: enrollment-weighted graduation over both states.
    expected = store.scalar(
        "SELECT SUM(enrollment * graduation_rate) / SUM(enrollment) FROM district_data_history "
        "WHERE year = 2019 AND graduation_rate IS NOT NULL AND enrollment > 0"
    )
    assert abs(us["avg_graduation_rate"] - expected) < 1e-9
