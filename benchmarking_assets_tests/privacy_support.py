"""Shared set-up of the privacy tests: a small warehouse of districts, settings from the
environment (as in a deployment), submission files, Dagster materializations, a draw counter."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest

from benchmarking_assets.core.schemas import DISTRICT_DATA_HISTORY
from benchmarking_assets.defs.resources import Warehouse, build_privacy_settings
from benchmarking_assets.store import WarehouseStore
from benchmarking_assets_tests.definitions_support import assets_of

YEARS = (2019, 2020)
STATES = ("CA", "OR", "NY", "TX")
YEAR_ASSETS = ["peer_cohorts", "cohort_benchmarks", "participant_percentiles",
               "private_cohort_benchmarks"]  # fmt: skip
PUBLISHED = {  # table → its n column
    "peer_cohorts": "cohort_size",
    "cohort_benchmarks": "n",
    "private_cohort_benchmarks": "n",
    "participant_private_benchmarks": "n",
    "participant_percentiles": "cohort_n",
}
PRIVACY_ENV = {
    "k": "MIN_COHORT_SIZE",
    "epsilon": "DIFFERENTIAL_PRIVACY_EPSILON",
    "budget": "PRIVACY_BUDGET_PER_DISTRICT",
    "share": "DP_MAX_MARGIN_SHARE",
    "inbox": "SUBMISSIONS_INBOX_DIR",
}


def _u(*parts: object) -> float:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8]) / 2**64


def leaid_of(state_index: int, i: int) -> str:
    return f"{state_index + 1:02d}{i:05d}"


def seed_districts(store: WarehouseStore, per_state: int = 40, states=STATES) -> None:  # type: ignore[no-untyped-def]
    rows, bench = [], []
    for s_i, state in enumerate(states):
        for i in range(per_state):
            leaid = leaid_of(s_i, i)
            for year in YEARS:
                enr = int(300 + 60_000 * _u(leaid, "enr") ** 3)
                rows.append({
                    "leaid": leaid, "year": year, "state_code": state, "fips": s_i + 1,
                    "lea_name": f"District {leaid}", "enrollment": enr,
                    "frl_students": int(enr * _u(leaid, "frl")),
                    "urban_centric_locale": [11, 21, 32, 41, 42, 43][i % 6],
                    "lowest_grade": 0 if i % 5 else 9, "highest_grade": 12 if i % 7 else 8,
                    "source": "sample",
                })  # fmt: skip
                bench.append({
                    "leaid": leaid, "year": year, "state_code": state,
                    "graduation": None if i % 7 == 0 else 70 + 25 * _u(leaid, year, "g"),
                    "math_proficiency": 20 + 60 * _u(leaid, year, "m"),
                    "expenditure_pp": 9000 + 9000 * _u(leaid, year, "e"),
                })  # fmt: skip
    store.append_rows("district_data_history", pl.DataFrame(rows).cast(
        {c: t for c, t in DISTRICT_DATA_HISTORY.items() if c in rows[0]}))  # fmt: skip
    store.append_rows("district_benchmarks", pl.DataFrame(bench))


def set_privacy_env(monkeypatch: pytest.MonkeyPatch, **settings: Any) -> None:
    """Privacy settings as environment variables (``k``, ``epsilon``, ``budget``, ``share``,
    ``inbox``): the way a deployment sets them."""
    for key, value in settings.items():
        monkeypatch.setenv(PRIVACY_ENV[key], str(value))


def resources(store: WarehouseStore) -> dict[str, Any]:
    return {"warehouse": Warehouse(database_url=store.url), "privacy": build_privacy_settings()}


def materialize(
    res: dict,
    keys: list[str],
    partition: str | None = None,
    config: dict | None = None,
    instance: dg.DagsterInstance | None = None,
    checks_pass: bool = True,
) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        assets_of(keys=keys), resources=res, partition_key=partition, run_config=config or {},
        instance=instance or dg.DagsterInstance.ephemeral(),
    )  # fmt: skip
    assert result.success
    if checks_pass:
        checks = result.get_asset_check_evaluations()
        assert all(c.passed for c in checks), [c.check_name for c in checks if not c.passed]
    return result


def write_submission(
    inbox: Path, name: str, rows: Iterable[tuple[str, int, str, str, float]]
) -> Path:
    """A CSV submission file ``leaid,year,category,metric,value`` in the inbox."""
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / name
    lines = ["leaid,year,category,metric,value"]
    lines += [f"{leaid},{year},{category},{metric},{value}" for leaid, year, category, metric,
              value in rows]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class DrawCounter:
    """Counts noise draws: every draw builds one OpenDP measurement (``dp.mean_measurement``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import benchmarking_assets.core.dp as dp

        self.calls = 0
        real = dp.mean_measurement

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(dp, "mean_measurement", counted)


def small_cells(store: WarehouseStore, k: int) -> dict[str, int]:
    return {
        t: store.scalar(f"SELECT COUNT(*) FROM {t} WHERE {c} < :k", {"k": k})
        for t, c in PUBLISHED.items()
    }
