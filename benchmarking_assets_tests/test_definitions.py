"""The code location loads, validates, boots in the webserver, and the demo covers it all."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg

from benchmarking_assets.cli.demo import DEMO_STAGES
from benchmarking_assets_tests.definitions_support import code_location

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
EXPECTED_GROUPS = {
    "district_data_history": "raw",
    "state_benchmarks": "benchmarks",
    "district_benchmarks": "benchmarks",
    "district_outliers": "benchmarks",
    "benchmark_metric_submissions": "privacy",
    "peer_cohorts": "privacy",
    "cohort_benchmarks": "privacy",
    "participant_percentiles": "privacy",
    "private_cohort_benchmarks": "privacy",
    "benchmark_reports": "reports",
    "benchmark_insights": "reports",
    "privacy_retention": "retention",
    "report_retention": "retention",
}


def _env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "BENCHMARKING_DATA_DIR": str(tmp_path / "data"),
    }


def test_assets_sit_in_their_groups() -> None:
    graph = code_location().resolve_asset_graph()
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    for asset, group in EXPECTED_GROUPS.items():
        assert groups[asset] == group


def test_demo_stages_cover_every_asset() -> None:
    defs = code_location()
    graph = defs.resolve_asset_graph()
    covered: set[dg.AssetKey] = set()
    for stage in DEMO_STAGES:
        job = defs.resolve_job_def(stage.job_name)
        covered |= set(job.asset_layer.executable_asset_keys)
    assert covered == set(graph.get_all_asset_keys())


def test_dagster_definitions_validate(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "dagster"), "definitions", "validate", "-m", "benchmarking_assets.definitions"],
        cwd=REPO,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_webserver_boots_and_serves_the_asset_graph(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [
            str(BIN / "dagster-webserver"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            "workspace.yaml",
        ],
        cwd=REPO,
        env=_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        nodes = None
        while time.monotonic() < deadline:
            time.sleep(1)
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                data = _graphql(port, "{ assetNodes { assetKey { path } groupName } }")
            except OSError:
                continue
            nodes = data.get("data", {}).get("assetNodes")
            if nodes:
                break
        assert nodes, "webserver never served the asset graph"
        groups = {"/".join(n["assetKey"]["path"]): n["groupName"] for n in nodes}
        for asset, group in EXPECTED_GROUPS.items():
            assert groups[asset] == group
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
