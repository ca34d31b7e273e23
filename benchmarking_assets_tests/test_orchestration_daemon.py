"""The production stack for real: ``dagster-webserver`` + ``dagster-daemon`` on PostgreSQL.

One module-scoped stack (``deploy/dagster.yaml`` on a fresh PostgreSQL database, a temporary
SQLite warehouse, the sample source) serves three tests: the asset graph over GraphQL, a
partition backfill launched over GraphQL and run by the daemon, and the asset graph in
headless Chromium. Everything is torn down (processes stopped, database dropped).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from benchmarking_assets.store import WarehouseStore
from benchmarking_assets_tests.dagster_services import REPO, DagsterStack
from benchmarking_assets_tests.definitions_support import code_location
from benchmarking_assets_tests.system_tools import require_debian_program

BACKFILL_KEYS = ["HI|2015", "DE|2015", "RI|2015"]
GROUPS = ("raw", "benchmarks", "privacy", "reports", "retention")
ASSET_NODES = """
{ assetNodes { assetKey { path } groupName isPartitioned
               partitionKeysByDimension { name partitionKeys } } }"""


@pytest.fixture(scope="module")
def stack(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterStack]:
    workdir = tmp_path_factory.mktemp("dagster_stack")
    warehouse = f"sqlite:///{workdir / 'warehouse.sqlite'}"
    env = {"DATABASE_URL": warehouse, "EDUCATION_DATA_SOURCE": "sample"}
    running = DagsterStack(postgres_url, workdir, env)
    try:
        yield running.start()
    finally:
        running.stop()


def _expected_dimensions(partitions_def: dg.PartitionsDefinition) -> dict[str, list[str]]:
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        return {
            d.name: list(d.partitions_def.get_partition_keys(dynamic_partitions_store=None))
            if not isinstance(d.partitions_def, dg.DynamicPartitionsDefinition)
            else []
            for d in partitions_def.partitions_defs
        }
    if isinstance(partitions_def, dg.DynamicPartitionsDefinition):
        return {"default": []}
    return {"default": list(partitions_def.get_partition_keys())}


def test_graphql_serves_every_asset_and_its_partitions(stack: DagsterStack) -> None:
    nodes = stack.graphql(ASSET_NODES)["data"]["assetNodes"]
    served = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    graph = code_location().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = served.get(key.to_user_string())
        assert node is not None, f"{key.to_user_string()} missing from the served graph"
        asset = graph.get(key)
        assert node["groupName"] == asset.group_name
        assert node["isPartitioned"] == (asset.partitions_def is not None)
        if asset.partitions_def is None:
            continue
        got = {d["name"]: d["partitionKeys"] for d in node["partitionKeysByDimension"]}
        assert got == _expected_dimensions(asset.partitions_def), key.to_user_string()
    raw = served["district_data_history"]["partitionKeysByDimension"]
    sizes = {d["name"]: len(d["partitionKeys"]) for d in raw}
    years = datetime.now(UTC).year - 2010  # 2010 … last complete calendar year
    assert sizes == {"state": 51, "year": years}  # 51 × years raw partitions


def test_partition_backfill_over_graphql_runs_through_the_daemon(stack: DagsterStack) -> None:
    backfill_id = stack.launch_backfill(
        {"assetSelection": [{"path": ["district_data_history"]}], "partitionNames": BACKFILL_KEYS}
    )
    assert stack.wait_backfill(backfill_id, timeout=240) == "COMPLETED_SUCCESS", stack.logs()
    runs = stack.backfill_runs(backfill_id)
    assert runs and all(r["status"] == "SUCCESS" for r in runs)
    assert len(runs) <= len(BACKFILL_KEYS)  # the single-run policy: never more than one per key
    store = WarehouseStore(stack.env["DATABASE_URL"])
    loaded = store.read_df(
        "SELECT state_code, year, COUNT(*) AS n FROM district_data_history "
        "GROUP BY state_code, year ORDER BY state_code"
    )
    assert {(r["state_code"], r["year"]) for r in loaded.iter_rows(named=True)} == {
        (k.split("|")[0], 2015) for k in BACKFILL_KEYS
    }
    assert all(n > 0 for n in loaded["n"])


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # as root in CI containers
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1800,1100",
    "--virtual-time-budget=20000",
]
NODE_LABEL = re.compile(r'class="AssetNode_assetName[^"]*"[^>]*>([^<]+)<')


def _chromium() -> str:
    return require_debian_program("chromium", "chromium-browser", apt_package="chromium")


def _label_matches(label: str, name: str) -> bool:
    """The graph shows long names shortened around an ellipsis: ``district_…_history``."""
    if "…" not in label:
        return label == name
    head, tail = label.split("…", 1)
    return name.startswith(head) and name.endswith(tail) and len(name) > len(head + tail)


def test_browser_shows_the_whole_lineage(stack: DagsterStack, tmp_path: Path) -> None:
    chromium = _chromium()
    graph = code_location().resolve_asset_graph()
    groups = sorted({graph.get(k).group_name for k in graph.get_all_asset_keys()})
    expanded = ",".join(f"global@global:{g}" for g in groups)  # the global graph's group ids
    url = f"{stack.url}/asset-groups?expanded={expanded}"
    args = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    shot = tmp_path / "asset-graph.png"
    subprocess.run([*args, f"--screenshot={shot}", url], capture_output=True, timeout=180)
    assert shot.exists() and shot.stat().st_size > 20_000, "no screenshot"
    if os.environ.get("SAVE_UI_SCREENSHOT"):
        shutil.copy(shot, REPO / "docs" / "asset-graph.png")

    dom = subprocess.run(
        [*args, "--dump-dom", url], capture_output=True, text=True, timeout=180
    ).stdout
    labels = NODE_LABEL.findall(dom)
    names = sorted(k.to_user_string() for k in graph.get_all_asset_keys())
    missing = [n for n in names if not any(_label_matches(label, n) for label in labels)]
    assert not missing, f"not on the page: {missing}; labels {labels}"
    assert len(labels) == len(names)
    for group in groups:
        assert f">{group}<" in dom, f"group {group} not shown"
