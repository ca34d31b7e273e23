"""Finding 4: a privacy setting outside its hard limits is refused once, at load, naming the
variable; run config that sets one field keeps the others from the environment; a bad run
config value fails the run before any step."""

from __future__ import annotations

import math
from pathlib import Path

import dagster as dg
import pytest

from benchmarking_assets.core import privacy_rules
from benchmarking_assets.defs.resources import PrivacySettings, build_privacy_settings
from benchmarking_assets.store import WarehouseStore
from benchmarking_assets_tests.privacy_support import (
    materialize,
    resources,
    seed_districts,
    set_privacy_env,
)

REFUSED = [
    ("DIFFERENTIAL_PRIVACY_EPSILON", v) for v in ("inf", "nan", "0", "-1", "2.0001", "1000", "x")
] + [("MIN_COHORT_SIZE", v) for v in ("-3", "0", "1", "2", "4", "4.5", "100000")] + [
    ("PRIVACY_BUDGET_PER_DISTRICT", v) for v in ("inf", "0", "2.9", "12.5")
] + [("DP_MAX_MARGIN_SHARE", v) for v in ("0", "0.26", "-0.1")] + [
    ("DATA_RETENTION_DAYS", v) for v in ("0", "-5", "100000")
]  # fmt: skip


@pytest.mark.parametrize(("variable", "value"), REFUSED)
def test_weakening_settings_are_refused_at_load(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=variable):
        build_privacy_settings()


def test_budget_must_allow_one_release_of_the_largest_category(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # engagement and ai_tutor have 3 metrics: at ε = 2 a budget below 6 releases nothing
    assert privacy_rules.LARGEST_CATEGORY == 3
    monkeypatch.setenv("DIFFERENTIAL_PRIVACY_EPSILON", "2")
    monkeypatch.setenv("PRIVACY_BUDGET_PER_DISTRICT", "5.5")
    with pytest.raises(ValueError, match=r"PRIVACY_BUDGET_PER_DISTRICT.*3 × ε = 6"):
        build_privacy_settings()
    monkeypatch.setenv("PRIVACY_BUDGET_PER_DISTRICT", "6")
    assert build_privacy_settings().policy().budget == 6.0


def test_limits_and_defaults_load(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in privacy_rules.ENV.values():
        monkeypatch.delenv(variable, raising=False)
    policy = build_privacy_settings().policy()
    assert (policy.k, policy.epsilon, policy.budget, policy.max_margin_share) == (5, 1.0, 9.0, 0.15)
    assert policy.n_min == 16 == math.ceil(math.log(10) / 0.15)
    # the most permissive settings the limits allow: n_min never undercuts k = 5
    loosest = {"MIN_COHORT_SIZE": "5", "DIFFERENTIAL_PRIVACY_EPSILON": "2",
               "PRIVACY_BUDGET_PER_DISTRICT": "12", "DP_MAX_MARGIN_SHARE": "0.25"}  # fmt: skip
    for name, value in loosest.items():
        monkeypatch.setenv(name, value)
    assert build_privacy_settings().policy().n_min == 5


def test_the_resource_refuses_a_bad_value_however_it_is_given() -> None:
    with pytest.raises(ValueError, match="MIN_COHORT_SIZE"):
        PrivacySettings(min_cohort_size=1)
    with pytest.raises(ValueError, match="DIFFERENTIAL_PRIVACY_EPSILON"):
        PrivacySettings(epsilon=float("inf"))
    from benchmarking_assets.core.dp import mean_measurement

    with pytest.raises(ValueError, match="finite"):
        mean_measurement(5, (0.0, 100.0), float("inf"))  # defence in depth: no scale 0


def test_partial_run_config_keeps_the_environment_settings(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = WarehouseStore(sqlite_url)
    store.migrate()
    seed_districts(store, per_state=40)
    set_privacy_env(monkeypatch, k=20, inbox=tmp_path / "inbox")
    res = resources(store)
    partial = {"resources": {"privacy": {"config": {"epsilon": 2.0}}}}
    result = materialize(res, ["peer_cohorts"], partition="2020", config=partial)
    meta = result.asset_materializations_for_node("peer_cohorts")[0].metadata
    assert meta["k"].value == 20  # not the code default 5
    assert store.scalar("SELECT MIN(cohort_size) FROM peer_cohorts") >= 20
    # a run config value outside the limits fails the run before any step, naming it
    bad = {"resources": {"privacy": {"config": {"min_cohort_size": 1}}}}
    failed = dg.materialize(
        _assets(["peer_cohorts"]), resources=res, partition_key="2019",
        run_config=bad, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
    )  # fmt: skip
    assert not failed.success
    messages = " ".join(
        str(e.event_specific_data) for e in failed.all_events if e.is_failure or e.is_run_failure
    )
    assert "MIN_COHORT_SIZE" in messages
    assert store.scalar("SELECT COUNT(*) FROM peer_cohorts WHERE year = 2019") == 0


def _assets(keys: list[str]) -> list[dg.AssetsDefinition]:
    from benchmarking_assets_tests.definitions_support import assets_of

    return assets_of(keys=keys)
