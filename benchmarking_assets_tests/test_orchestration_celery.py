"""Steps of this code location's jobs run on a real Celery worker over the RabbitMQ broker.

One module-scoped deployment, made of the files an operator uses (docs/operations.md,
"Scaling out"): the instance ``deploy/celery/dagster.yaml`` on a fresh PostgreSQL database,
a worker started as ``dagster-celery worker start -A dagster_celery.app -y
deploy/celery/celery.yaml -q <queue>``, and the code location of
``deploy/celery/workspace.yaml`` (``benchmarking_assets.celery_definitions``: the same assets
with the Celery executor instead of the in-process default). Runs are started as an operator
would, ``dagster job execute`` in a process of their own: two raw partitions of the offline
sample into a throwaway SQLite warehouse, then the benchmarks of those years (three steps, two
levels). Each run's steps must have run in the worker's pool processes, never in the run's own.

Isolation: a queue of its own per session (the worker's ``-q``, the steps' ``CELERY_QUEUE``),
deleted at the end; the worker is stopped with a warm shutdown and nothing of it may be left.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml

from benchmarking_assets.celery_definitions import RESULT_EXPIRES_SECONDS, CelerySettings
from benchmarking_assets.celery_definitions import defs as celery_defs
from benchmarking_assets.defs.resources import EducationDataSource
from benchmarking_assets.store import WarehouseStore
from benchmarking_assets_tests.dagster_services import BIN, REPO, DagsterStack
from benchmarking_assets_tests.definitions_support import code_location

BROKER = os.environ.get("TEST_CELERY_BROKER_URL", "pyamqp://guest@127.0.0.1:5672//")
STATE, YEARS = "HI", (2014, 2015)
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
WORKER_READY_SECONDS = 90
RUN_TIMEOUT_SECONDS = 300
STOP_SECONDS = 60
DEPLOY = REPO / "deploy" / "celery"


@dataclass
class CeleryDeployment:
    stack: DagsterStack
    env: dict[str, str]
    queue: str
    nodename: str
    wrapper: subprocess.Popen[bytes]
    worker_pid: int  # the celery MainProcess (the dagster-celery wrapper's only child)
    log: Path

    def pool_pids(self) -> set[int]:
        return set(_children(self.worker_pid))

    def execute(self, job: str, start: str, end: str) -> tuple[int, subprocess.CompletedProcess]:
        """``dagster job execute`` of ``job`` over ``start…end``: the run process's pid, result."""
        command = [
            str(BIN / "dagster"), "job", "execute",
            "-m", self.module, "-j", job,
            "--tags", json.dumps({RANGE_START: start, RANGE_END: end}),
        ]  # fmt: skip
        proc = subprocess.Popen(
            command, cwd=REPO, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            out, _ = proc.communicate(timeout=RUN_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            pytest.fail(f"{job} did not finish in {RUN_TIMEOUT_SECONDS} s:\n{out.decode()[-4000:]}")
        return proc.pid, subprocess.CompletedProcess(command, proc.returncode, out.decode(), "")

    @property
    def module(self) -> str:
        workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
        return workspace["load_from"][0]["python_module"]["module_name"]


# ---------------------------------------------------------------- processes and the broker
def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, process group) of ``pid``, or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), int(fields[2])
    except (OSError, IndexError, ValueError):
        return None


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _children(pid: int) -> list[int]:
    return [p for p in _pids() if (_proc_stat(p) or (None, None))[0] == pid]


def _group(pgid: int) -> list[int]:
    return [p for p in _pids() if (_proc_stat(p) or (None, None))[1] == pgid]


def _queue_depth(queue: str) -> int | None:
    from kombu import Connection

    with Connection(BROKER, connect_timeout=5) as conn, conn.channel() as channel:
        try:
            return channel.queue_declare(queue, passive=True).message_count
        except Exception:  # the queue does not exist (a 404 channel error)
            return None


def _delete_queue(queue: str) -> None:
    from kombu import Connection

    with (
        Connection(BROKER, connect_timeout=5) as conn,
        conn.channel() as channel,
        suppress(Exception),  # already gone: a 404 channel error
    ):
        channel.queue_delete(queue)


def _require_broker() -> None:
    from kombu import Connection

    try:
        with Connection(BROKER, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        pytest.fail(
            f"no RabbitMQ broker at {BROKER} ({exc}): start it (`rabbitmq-server -detached`; "
            "Debian: `apt-get install rabbitmq-server`) or set TEST_CELERY_BROKER_URL",
            pytrace=False,
        )


def _stop(wrapper: subprocess.Popen[bytes], worker_pid: int | None) -> list[int]:
    """Warm shutdown: SIGTERM to the celery MainProcess (signalling the dagster-celery wrapper
    would orphan it); SIGKILL whatever is left of the group after STOP_SECONDS."""
    with suppress(ProcessLookupError):
        os.kill(worker_pid or wrapper.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        wrapper.wait(timeout=STOP_SECONDS)
    leftovers = _group(wrapper.pid)
    if leftovers:
        os.killpg(wrapper.pid, signal.SIGKILL)
        wrapper.wait(timeout=10)
    return leftovers


# ---------------------------------------------------------------- the deployment
@pytest.fixture(scope="module")
def celery(postgres_url: str) -> Iterator[CeleryDeployment]:
    _require_broker()
    session = uuid.uuid4().hex[:10]
    queue = f"benchmarking_test_{session}"
    with tempfile.TemporaryDirectory(prefix="celery_test_") as tmp:
        workdir = Path(tmp)
        stack = DagsterStack(
            postgres_url,
            workdir,
            {
                "DATABASE_URL": f"sqlite:///{workdir / 'warehouse.sqlite'}",
                "EDUCATION_DATA_SOURCE": "sample",
                "CELERY_BROKER_URL": BROKER,
                "CELERY_BACKEND_URL": "rpc://",
                "CELERY_QUEUE": queue,
                # the runs' rpc:// reply queues (empty) expire a minute after the run
                "CELERY_RESULT_EXPIRES_SECONDS": "60",
                # the dagster-celery wrapper starts `celery` from PATH
                "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            },
            instance_yaml=DEPLOY / "dagster.yaml",
        )
        env = stack.env
        name = f"bench-{session}"
        nodename = f"{name}@{socket.gethostname()}"
        log = workdir / "worker.log"
        _delete_queue(queue)
        command = [
            str(BIN / "dagster-celery"), "worker", "start",
            "-A", "dagster_celery.app",
            "-y", str(DEPLOY / "celery.yaml"),
            "-q", queue, "-n", name, "-l", "INFO",
            "--", "--concurrency", "2", "--without-mingle", "--without-gossip",
            "--without-heartbeat",
        ]  # fmt: skip
        handle = log.open("wb")
        wrapper = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=handle, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        worker_pid = None
        try:
            deadline = time.monotonic() + WORKER_READY_SECONDS
            while f"{nodename} ready." not in log.read_text(errors="replace"):
                if wrapper.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the Celery worker did not start:\n{log.read_text()[-4000:]}")
                time.sleep(0.2)
            (worker_pid,) = _children(wrapper.pid)
            yield CeleryDeployment(stack, env, queue, nodename, wrapper, worker_pid, log)
        finally:
            leftovers = _stop(wrapper, worker_pid)
            handle.close()
            depth = _queue_depth(queue)
            _delete_queue(queue)
            stack.stop()
            assert not leftovers, f"worker processes left after the warm shutdown: {leftovers}"
            assert not depth, f"{depth} messages left on {queue}"


@contextmanager
def _instance(deployment: CeleryDeployment) -> Iterator[dg.DagsterInstance]:
    # deploy/celery/dagster.yaml names its database through DAGSTER_PG_*
    with pytest.MonkeyPatch.context() as patch:
        for key, value in deployment.env.items():
            if key.startswith("DAGSTER_PG_"):
                patch.setenv(key, value)
        with dg.DagsterInstance.from_config(str(deployment.stack.home)) as instance:
            yield instance


def _run_steps(deployment: CeleryDeployment, job: str, run_pid: int) -> dict[str, set[int]]:
    """The run's step keys and the pids their events came from; asserts they ran in the worker."""
    with _instance(deployment) as instance:
        (run,) = [r for r in instance.get_runs() if r.job_name == job]
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert run.tags[RANGE_START] and run.tags[RANGE_END]
        records = instance.get_records_for_run(run.run_id, limit=5000).records
    pool = deployment.pool_pids()
    where: dict[str, set[int]] = {}
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.step_key and event.event_type_value in (
            "STEP_START", "ASSET_MATERIALIZATION", "STEP_SUCCESS",
        ):  # fmt: skip
            where.setdefault(event.step_key, set()).add(event.pid)
    for step, pids in where.items():
        assert pids <= pool, f"{step} ran in {pids}, not in the worker's pool {pool}"
        assert run_pid not in pids and os.getpid() not in pids
    workers = {
        record.event_log_entry.dagster_event.engine_event_data.metadata["Celery worker"].value
        for record in records
        if record.event_log_entry.dagster_event is not None
        and record.event_log_entry.dagster_event.event_type_value == "ENGINE_EVENT"
        and "Celery worker" in record.event_log_entry.dagster_event.engine_event_data.metadata
    }
    assert workers == {deployment.nodename}
    return where


# ---------------------------------------------------------------- tests
def test_celery_code_location_is_the_default_one_with_the_celery_executor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CELERY_BROKER_URL", BROKER)
    monkeypatch.setenv("CELERY_BACKEND_URL", "rpc://")
    on_celery, default = celery_defs(), code_location()
    assert set(on_celery.resolve_all_asset_keys()) == set(default.resolve_all_asset_keys())
    names = sorted(j.name for j in default.resolve_all_job_defs())
    assert sorted(j.name for j in on_celery.resolve_all_job_defs()) == names
    for name in names:
        assert default.resolve_job_def(name).executor_def.name == "in_process"
        assert on_celery.resolve_job_def(name).executor_def.name == "celery_executor"
    worker = yaml.safe_load((DEPLOY / "celery.yaml").read_text())["execution"]["config"]
    assert worker["broker"] == {"env": "CELERY_BROKER_URL"}  # the variables the runs use
    assert worker["backend"] == {"env": "CELERY_BACKEND_URL"}
    assert worker["config_source"]["result_expires"] == RESULT_EXPIRES_SECONDS


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "CELERY_BROKER_URL is not set"),
        ({"CELERY_BROKER_URL": "http://rabbit:5672"}, "CELERY_BROKER_URL has scheme 'http'"),
        ({"CELERY_BROKER_URL": BROKER}, "CELERY_BACKEND_URL is not set"),
        (
            {"CELERY_BROKER_URL": BROKER, "CELERY_BACKEND_URL": "rpc://", "CELERY_QUEUE": "a b"},
            "CELERY_QUEUE='a b' is not a queue name",
        ),
        (
            {
                "CELERY_BROKER_URL": BROKER,
                "CELERY_BACKEND_URL": "rpc://",
                "CELERY_RESULT_EXPIRES_SECONDS": "0",
            },
            "CELERY_RESULT_EXPIRES_SECONDS='0' must be a whole number of seconds",
        ),
        (
            {
                "CELERY_BROKER_URL": BROKER,
                "CELERY_BACKEND_URL": "rpc://",
                "CELERY_RESULT_EXPIRES_SECONDS": "५०",
            },
            "CELERY_RESULT_EXPIRES_SECONDS='५०' must be a whole number of seconds",
        ),
    ],
)
def test_celery_settings_are_refused_at_load_naming_the_variable(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        CelerySettings.from_env(env)


def test_raw_and_benchmark_steps_run_in_the_celery_worker(celery: CeleryDeployment) -> None:
    raw_pid, raw = celery.execute("raw_history_job", f"{STATE}|{YEARS[0]}", f"{STATE}|{YEARS[-1]}")
    assert raw.returncode == 0, raw.stdout[-4000:]
    bench_pid, bench = celery.execute("benchmarks_job", str(YEARS[0]), str(YEARS[-1]))
    assert bench.returncode == 0, bench.stdout[-4000:]

    assert set(_run_steps(celery, "raw_history_job", raw_pid)) == {"district_data_history"}
    assert set(_run_steps(celery, "benchmarks_job", bench_pid)) == {
        "state_benchmarks", "district_benchmarks", "district_outliers",
    }  # fmt: skip

    # What the worker wrote is what the sample holds, and the benchmarks are its averages.
    store = WarehouseStore(celery.env["DATABASE_URL"])
    history = store.read_df("SELECT * FROM district_data_history")
    assert sorted(set(zip(history["state_code"], history["year"], strict=True))) == [
        (STATE, y) for y in YEARS
    ]
    sample = EducationDataSource(source="sample")
    for year in YEARS:
        expected = sample.fetch_district_year(STATE, year).history
        loaded = history.filter(pl.col("year") == year)
        assert sorted(loaded["leaid"]) == sorted(expected["leaid"])
        states = store.read_df(
            "SELECT * FROM state_benchmarks WHERE year = :y ORDER BY state_code", {"y": year}
        )
        assert states["state_code"].to_list() == [STATE, "US"]  # one state loaded: US = HI
        positive = loaded.filter(pl.col("enrollment") > 0)["enrollment"]
        for row in states.iter_rows(named=True):
            assert row["district_count"] == loaded.height
            assert row["avg_enrollment"] == pytest.approx(positive.sum() / positive.len())
        districts = store.read_df(
            "SELECT leaid FROM district_benchmarks WHERE year = :y", {"y": year}
        )
        assert districts.height == loaded.height
    assert _queue_depth(celery.queue) == 0  # every step was taken
