"""Configuration defaults (SPEC §7): every setting works with no environment at all.

Values are read from the environment when a resource is built; Dagster resources receive
them as ``EnvVar`` when the variable is set, so the UI shows where a value came from.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg

DEFAULTS: dict[str, str] = {
    "EDUCATION_DATA_SOURCE": "sample",
    "EDUCATION_DATA_API_URL": "https://educationdata.urban.org/api/v1",
    "MIN_COHORT_SIZE": "5",
    "DIFFERENTIAL_PRIVACY_EPSILON": "1.0",
    "DATA_RETENTION_DAYS": "365",
}


def data_dir() -> Path:
    """Root folder for the default warehouse, inbox and reports: ``BENCHMARKING_DATA_DIR``."""
    return Path(os.environ.get("BENCHMARKING_DATA_DIR", "data")).resolve()


def default_database_url() -> str:
    return os.environ.get("DATABASE_URL") or f"sqlite:///{data_dir() / 'warehouse.sqlite'}"


def default_inbox_dir() -> str:
    return os.environ.get("SUBMISSIONS_INBOX_DIR") or str(data_dir() / "inbox")


def default_reports_dir() -> str:
    return os.environ.get("REPORTS_DIR") or str(data_dir() / "reports")


def env_or(name: str, default: Any) -> Any:
    """``EnvVar(name)`` when the variable is set, else the default (Dagster's EnvVar has none).

    An integer default gives ``EnvVar.int``, so integer fields take integer variables.
    """
    if not os.environ.get(name):
        return default
    return dg.EnvVar.int(name) if isinstance(default, int) else dg.EnvVar(name)
