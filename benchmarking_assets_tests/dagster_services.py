"""Start the real production stack for tests and benchmarks: PostgreSQL-backed instance,
``dagster-webserver`` and ``dagster-daemon`` on 127.0.0.1, driven over GraphQL.

The instance is ``deploy/dagster.yaml`` itself (PostgreSQL run, event-log and schedule
storage, queued run coordinator, concurrency pools), pointed at a fresh database through its
``DAGSTER_PG_*`` variables; the database is dropped on ``stop()``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

LAUNCH_BACKFILL = """
mutation LaunchBackfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on PartitionKeysNotFoundError { message }
    ... on UnauthorizedError { message }
  }
}"""
BACKFILL_STATUS = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status numPartitions }
    ... on PythonError { message }
  }
}"""
BACKFILL_RUNS = """
query Runs($id: String!) {
  runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
    ... on Runs { results { runId status } }
  }
}"""
TERMINAL = {"COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED", "COMPLETED"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DagsterStack:
    """A temporary ``DAGSTER_HOME`` on a new PostgreSQL database, webserver and daemon."""

    def __init__(
        self,
        base_pg_url: str,
        workdir: Path,
        env: dict[str, str] | None = None,
        instance_yaml: Path = REPO / "deploy" / "dagster.yaml",
    ):
        self.workdir = workdir
        self.home = workdir / "dagster_home"
        self.home.mkdir(parents=True, exist_ok=True)
        shutil.copy(instance_yaml, self.home / "dagster.yaml")
        url = sa.engine.make_url(base_pg_url)
        self.db_name = f"dagster_test_{uuid.uuid4().hex[:10]}"
        self._admin_url = url.set(drivername="postgresql+psycopg", database="postgres")
        self._create_database()
        self.port = free_port()
        self.env = {
            **os.environ,
            "DAGSTER_HOME": str(self.home),
            "DAGSTER_PG_HOST": url.host or "127.0.0.1",
            "DAGSTER_PG_PORT": str(url.port or 5432),
            "DAGSTER_PG_USERNAME": url.username or "postgres",
            "DAGSTER_PG_PASSWORD": url.password or "",
            "DAGSTER_PG_DB": self.db_name,
            "BENCHMARKING_DATA_DIR": str(workdir / "data"),
            **(env or {}),
        }
        self.procs: list[subprocess.Popen[bytes]] = []

    # ------------------------------------------------------------------ lifecycle
    def _admin(self) -> sa.Engine:
        return sa.create_engine(self._admin_url, isolation_level="AUTOCOMMIT")

    def _create_database(self) -> None:
        engine = self._admin()
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{self.db_name}"'))
        engine.dispose()

    def _spawn(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        handle = (self.workdir / log).open("wb")
        proc = subprocess.Popen(
            args,
            cwd=REPO,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: code servers die with it
        )
        self.procs.append(proc)
        return proc

    def start(self, daemon: bool = True, timeout: float = 120) -> DagsterStack:
        self._spawn(
            [
                str(BIN / "dagster-webserver"),
                *("-h", "127.0.0.1", "-p", str(self.port), "-w", "workspace.yaml"),
            ],
            "webserver.log",
        )
        if daemon:
            self._spawn([str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], "daemon.log")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"a Dagster process exited early:\n{self.logs()}")
            try:
                nodes = self.graphql("{ assetNodes { id } }")["data"]["assetNodes"]
                if nodes:
                    return self
            except (OSError, KeyError, TypeError):
                pass
            time.sleep(1)
        raise TimeoutError(f"webserver never served the asset graph:\n{self.logs()}")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        engine = self._admin()
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
        engine.dispose()

    def logs(self, tail: int = 4000) -> str:
        parts = []
        for name in ("webserver.log", "daemon.log"):
            path = self.workdir / name
            if path.exists():
                parts.append(f"--- {name}\n{path.read_text(errors='replace')[-tail:]}")
        return "\n".join(parts)

    # ------------------------------------------------------------------ GraphQL
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:  # GraphQL errors come back as HTTP 4xx/5xx
            raise RuntimeError(
                f"GraphQL {exc.code}: {exc.read().decode(errors='replace')}"
            ) from exc

    def launch_backfill(self, params: dict[str, Any]) -> str:
        data = self.graphql(LAUNCH_BACKFILL, {"params": params})
        result = data["data"]["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise RuntimeError(f"backfill not launched: {result}")
        return result["backfillId"]

    def wait_backfill(self, backfill_id: str, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        status = "UNKNOWN"
        while time.monotonic() < deadline:
            data = self.graphql(BACKFILL_STATUS, {"id": backfill_id})
            status = data["data"]["partitionBackfillOrError"].get("status", "UNKNOWN")
            if status in TERMINAL:
                return status
            time.sleep(2)
        raise TimeoutError(
            f"backfill {backfill_id} still {status} after {timeout} s\n{self.logs()}"
        )

    def backfill_runs(self, backfill_id: str) -> list[dict[str, str]]:
        data = self.graphql(BACKFILL_RUNS, {"id": backfill_id})
        return data["data"]["runsOrError"]["results"]
