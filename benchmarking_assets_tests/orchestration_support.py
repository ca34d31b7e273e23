"""Shared by the orchestration tests: the code location with test resources and our objects."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from benchmarking_assets.definitions import defs
from benchmarking_assets.orchestration import (
    orchestration_jobs,
    orchestration_schedules,
    orchestration_sensors,
)
from benchmarking_assets.sources import EducationDataSource
from benchmarking_assets.warehouse import Warehouse


class FixedYearsSource(EducationDataSource):
    """The sample source, claiming to have exactly ``years`` (e.g. a newly published one)."""

    years: list[int] = Field(default_factory=list)

    def available_years(self) -> list[int]:
        return list(self.years)


def _by_name(objects: list, extra: list) -> list:
    names = {o.name for o in extra}
    return [o for o in objects if o.name not in names] + list(extra)


def test_definitions(
    database_url: str, source: EducationDataSource | None = None
) -> dg.Definitions:
    """``defs`` plus the orchestration objects, on this warehouse and source."""
    resources = {
        **defs.resources,
        "warehouse": Warehouse(database_url=database_url),
        "education_data": source or EducationDataSource(),
    }
    return dg.Definitions(
        assets=list(defs.assets or []),
        asset_checks=list(defs.asset_checks or []),
        jobs=_by_name(list(defs.jobs or []), orchestration_jobs),
        schedules=_by_name(list(defs.schedules or []), orchestration_schedules),
        sensors=_by_name(list(defs.sensors or []), orchestration_sensors),
        resources=resources,
        executor=dg.in_process_executor,
    )


test_definitions.__test__ = False  # type: ignore[attr-defined]


def run_request(
    definitions: dg.Definitions, instance: dg.DagsterInstance, request: dg.RunRequest
) -> dg.ExecuteInProcessResult:
    """Execute a sensor's or schedule's run request in process, as the daemon would launch it."""
    job = definitions.resolve_job_def(request.job_name)
    return job.execute_in_process(
        instance=instance,
        tags=dict(request.tags),
        partition_key=request.partition_key,
        raise_on_error=False,
    )
