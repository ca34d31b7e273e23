"""Shared by the orchestration tests: the code location with test resources and our objects."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from benchmarking_assets.defs.resources import EducationDataSource, Warehouse
from benchmarking_assets_tests.definitions_support import definitions_with


class FixedYearsSource(EducationDataSource):
    """The sample source, claiming to have exactly ``years`` (e.g. a newly published one)."""

    years: list[int] = Field(default_factory=list)

    def available_years(self) -> list[int]:
        return list(self.years)


def test_definitions(
    database_url: str, source: EducationDataSource | None = None
) -> dg.Definitions:
    """``defs`` plus the orchestration objects, on this warehouse and source."""
    return definitions_with(
        warehouse=Warehouse(database_url=database_url),
        education_data=source or EducationDataSource(),
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
