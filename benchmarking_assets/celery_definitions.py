"""The code location with every step sent to Celery workers (``dagster-celery``).

The same assets, resources, jobs, schedules and sensors as ``benchmarking_assets.definitions``;
only the executor differs: ``celery_executor`` instead of the in-process one, so each step of a
run is a task on the broker, run by whichever worker takes it (docs/operations.md, "Scaling
out"). Point the webserver and daemon at this module (``deploy/celery/workspace.yaml``) and
install ``benchmarking-assets[celery]`` on every host.

Settings, validated here when the code location loads, in every process that loads it (the
webserver, the daemon, each run worker and each Celery worker); deploy/celery/celery.yaml
gives the workers the same two URLs:

``CELERY_BROKER_URL``   required, e.g. ``pyamqp://user:password@rabbitmq:5672//``
``CELERY_BACKEND_URL``  required: ``rpc://`` (results come back over the broker) or a
                        ``redis://…`` result backend
``CELERY_QUEUE``        the queue steps are sent to; start workers with ``-q`` on it.
                        Default ``dagster``
``CELERY_RESULT_EXPIRES_SECONDS``  how long a run keeps its steps' results; an ``rpc://``
                        run's (empty) reply queue disappears this long after the run. Default
                        3600 (Celery's own default is a day)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_celery import celery_executor

DEFAULT_QUEUE = "dagster"
# How long a step's result is kept (and an rpc:// reply queue lives): Celery's default is a day.
# deploy/celery/celery.yaml repeats it for the workers (it sets the TTL of redis:// results).
RESULT_EXPIRES_SECONDS = 3600
QUEUE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,200}")
SECONDS = re.compile(r"[0-9]{1,9}")  # ASCII digits only: int() would also take "५०"
BROKER_SCHEMES = ("amqp", "amqps", "pyamqp", "redis", "rediss", "sqs")
BACKEND_SCHEMES = ("rpc", "redis", "rediss", "db")


@dataclass(frozen=True)
class CelerySettings:
    queue: str
    result_expires_seconds: int = RESULT_EXPIRES_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CelerySettings:
        env = os.environ if env is None else env
        _require_url(env, "CELERY_BROKER_URL", BROKER_SCHEMES, "pyamqp://guest@127.0.0.1:5672//")
        _require_url(env, "CELERY_BACKEND_URL", BACKEND_SCHEMES, "rpc://")
        queue = env.get("CELERY_QUEUE", DEFAULT_QUEUE).strip()
        if not QUEUE_NAME.fullmatch(queue):
            raise ValueError(
                f"CELERY_QUEUE={queue!r} is not a queue name: use 1–200 letters, digits, "
                "'_', '.' or '-'"
            )
        raw_expires = env.get("CELERY_RESULT_EXPIRES_SECONDS", str(RESULT_EXPIRES_SECONDS))
        if not SECONDS.fullmatch(raw_expires.strip()) or not 1 <= int(raw_expires) <= 30 * 86400:
            raise ValueError(
                f"CELERY_RESULT_EXPIRES_SECONDS={raw_expires!r} must be a whole number of "
                "seconds from 1 to 2592000 (30 days)"
            )
        return cls(queue=queue, result_expires_seconds=int(raw_expires))

    def executor_config(self) -> dict[str, Any]:
        """``celery_executor`` config. The URLs stay ``{"env": …}`` references, resolved when a
        run starts, so a broker password is never stored in the job's snapshot or the UI."""
        return {
            "broker": {"env": "CELERY_BROKER_URL"},
            "backend": {"env": "CELERY_BACKEND_URL"},
            "config_source": {
                "task_default_queue": self.queue,  # where the run worker sends every step
                "result_expires": self.result_expires_seconds,
            },
        }


def _require_url(env: Mapping[str, str], name: str, schemes: tuple[str, ...], example: str) -> None:
    value = env.get(name, "").strip()
    if not value:
        raise ValueError(
            f"{name} is not set: the Celery code location needs it, e.g. {name}={example} "
            "(docs/operations.md, 'Scaling out')"
        )
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme.split("+")[0].lower() not in schemes:
        raise ValueError(
            f"{name} has scheme {scheme or '(none)'!r}; want one of {', '.join(schemes)} "
            f"(e.g. {example})"
        )


def celery_executor_from_env() -> dg.ExecutorDefinition:
    return celery_executor.configured(
        CelerySettings.from_env().executor_config(), name="celery_executor"
    )


@dg.definitions
def defs() -> dg.Definitions:
    # The same folder benchmarking_assets/definitions.py loads; only the executor differs.
    loaded = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    return dg.Definitions.merge(loaded, dg.Definitions(executor=celery_executor_from_env()))
