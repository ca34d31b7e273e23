"""The Kubernetes example (deploy/k8s/) against dagster-k8s's own schema, and consistent.

No cluster runs here, so the check is of the files: deploy/k8s/dagster.yaml (the instance the
Helm values render, written out) must be an instance Dagster accepts with a K8sRunLauncher
config that dagster-k8s accepts, and must say what deploy/k8s/values.yaml says; the per-job
resources tag documented in docs/operations.md must parse as dagster-k8s reads it.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from dagster._config import validate_config
from dagster._core.instance.config import dagster_instance_config_schema
from dagster_k8s import K8sRunLauncher
from dagster_k8s.job import USER_DEFINED_K8S_CONFIG_KEY, get_user_defined_k8s_config

from benchmarking_assets_tests.dagster_services import REPO

K8S = REPO / "deploy" / "k8s"


def _yaml(name: str) -> dict[str, Any]:
    return yaml.safe_load((K8S / name).read_text())


def test_instance_and_launcher_config_pass_dagsters_schemas() -> None:
    instance = _yaml("dagster.yaml")
    checked = validate_config(dagster_instance_config_schema(), instance)
    assert checked.success, [e.message for e in checked.errors or []]
    launcher = instance["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    checked = validate_config(K8sRunLauncher.config_type(), launcher["config"])
    assert checked.success, [e.message for e in checked.errors or []]


def test_a_misspelt_launcher_key_is_refused() -> None:
    config = dict(_yaml("dagster.yaml")["run_launcher"]["config"], job_namspace="dagster")
    checked = validate_config(K8sRunLauncher.config_type(), config)
    assert not checked.success
    assert any("job_namspace" in e.message for e in checked.errors)


def test_values_and_instance_say_the_same() -> None:
    values, instance = _yaml("values.yaml"), _yaml("dagster.yaml")
    launcher = instance["run_launcher"]["config"]
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert [s["name"] for s in k8s["envSecrets"]] == launcher["env_secrets"]
    assert k8s["runK8sConfig"]["containerConfig"] == launcher["run_k8s_config"]["container_config"]
    assert k8s["imagePullPolicy"] == launcher["image_pull_policy"]
    assert k8s["failPodOnRunFailure"] == launcher["fail_pod_on_run_failure"]
    assert k8s["loadInclusterConfig"] == launcher["load_incluster_config"]

    pg, storage = values["postgresql"], instance["storage"]["postgres"]["postgres_db"]
    assert pg["enabled"] is False  # an external, managed PostgreSQL
    assert (pg["postgresqlHost"], pg["postgresqlUsername"], pg["postgresqlDatabase"]) == (
        storage["hostname"], storage["username"], storage["db_name"],
    )  # fmt: skip
    assert pg["service"]["port"] == storage["port"]
    assert pg["postgresqlScheme"] == storage["scheme"] == "postgresql+psycopg2"

    runs, limits = values["concurrency"]["runs"], instance["concurrency"]["runs"]
    assert runs["maxConcurrentRuns"] == limits["max_concurrent_runs"]
    assert [(t["key"], t["limit"]) for t in runs["tagConcurrencyLimits"]] == [
        (t["key"], t["limit"]) for t in limits["tag_concurrency_limits"]
    ]
    assert values["concurrency"]["pools"]["defaultLimit"] == (
        instance["concurrency"]["pools"]["default_limit"]
    )
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert queued["dequeueIntervalSeconds"] == (
        instance["run_coordinator"]["config"]["dequeue_interval_seconds"]
    )


def test_the_user_code_deployment_serves_this_code_location() -> None:
    (deployment,) = _yaml("values.yaml")["dagster-user-deployments"]["deployments"]
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    module = workspace["load_from"][0]["python_module"]["module_name"]
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", module]


def test_the_documented_per_run_resources_tag_parses() -> None:
    tag = {
        "container_config": {
            "resources": {"requests": {"cpu": "2", "memory": "6Gi"}, "limits": {"memory": "8Gi"}}
        },
        "job_spec_config": {"ttl_seconds_after_finished": 7200},
    }
    parsed = get_user_defined_k8s_config(
        {USER_DEFINED_K8S_CONFIG_KEY: json.dumps(tag)}  # run tags are strings
    )
    assert parsed.container_config["resources"]["limits"] == {"memory": "8Gi"}
    assert parsed.job_spec_config == {"ttl_seconds_after_finished": 7200}
