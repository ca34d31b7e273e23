"""Every partitions definition of the code location, their key formats and their mappings.

* ``year``: a yearly time window from the fall of 2010 (2019 = school year 2019-20, the API's
  convention). A time window, rather than a static list, lets Dagster's partition mappings
  express "this year and the seven before it" for trend assets, and lets schedules target the
  newest year; its newest partition is the last complete calendar year.
* ``state``: the 50 states and DC.
* ``state × year`` for raw history; keys read ``CA|2019`` (Dagster orders dimensions by name).
* ``participant × year`` for reports; participant keys are leaids, added when a district enrolls
  and removed when it withdraws; keys read ``0601234|2019``.

``docs/data.md`` describes them for users.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from benchmarking_assets.core.benchmarks import history_years_needed
from benchmarking_assets.core.geography import FIRST_YEAR, STATE_CODES
from benchmarking_assets.core.reports.exports import validate_key
from benchmarking_assets.store import WarehouseStore, participation
from benchmarking_assets.store.reports import delete_withdrawn_reports

# Tags that make one run cover a range of partitions (what a single-run backfill sets).
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"

year_partitions = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 1 1 *",
    start=str(FIRST_YEAR),
    fmt="%Y",
)

state_partitions = dg.StaticPartitionsDefinition(list(STATE_CODES))

state_year_partitions = dg.MultiPartitionsDefinition(
    {"state": state_partitions, "year": year_partitions}
)

participant_partitions = dg.DynamicPartitionsDefinition(name="participants")

report_partitions = dg.MultiPartitionsDefinition(
    {"participant": participant_partitions, "year": year_partitions}
)

# A year partition depends on every state partition of that year.
YEAR_OF_STATE_YEAR = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="year")
# A report (participant × year) depends on its year's partition of year-partitioned assets.
YEAR_OF_REPORT = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="year")
# Benchmarks of year Y read the history of Y − 7 … Y (the absenteeism trend's reach-back).
REACH_BACK_YEARS = len(history_years_needed(2000)) - 1
TREND_REACH_BACK = dg.TimeWindowPartitionMapping(
    start_offset=-REACH_BACK_YEARS, end_offset=0, allow_nonexistent_upstream_partitions=True
)


def parse_state_year(key: str | dg.MultiPartitionKey) -> tuple[str, int]:
    """``"CA|2019"`` → ``("CA", 2019)``."""
    dims = state_year_partitions.get_partition_key_from_str(str(key)).keys_by_dimension
    return dims["state"], int(dims["year"])


def parse_report_keys(keys: Sequence[str | dg.MultiPartitionKey]) -> dict[int, list[str]]:
    """``["0601234|2019", …]`` → ``{2019: ["0601234", …]}`` (validated)."""
    by_year: dict[int, list[str]] = {}
    for key in keys:
        parts = key.keys_by_dimension if isinstance(key, dg.MultiPartitionKey) else None
        leaid, year = (parts["participant"], parts["year"]) if parts else str(key).split("|")
        leaid, y = validate_key(leaid, year)
        by_year.setdefault(y, []).append(leaid)
    return {y: sorted(set(v)) for y, v in sorted(by_year.items())}


def report_key(leaid: str, year: int) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"participant": leaid, "year": str(year)})


def partition_years(context: dg.AssetExecutionContext) -> list[int]:
    """The years of a year-partitioned run (one key, or a range from a backfill), sorted."""
    return sorted(int(k) for k in context.partition_keys)


def all_states_tags(year: int) -> dict[str, str]:
    """Range tags for one run over every state of ``year`` (a rectangle: one column)."""
    return {RANGE_START: f"{STATE_CODES[0]}|{year}", RANGE_END: f"{STATE_CODES[-1]}|{year}"}


def participant_partition_requests(
    instance: dg.DagsterInstance, active: set[str]
) -> tuple[
    list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest], list[str], list[str]
]:
    """Requests that make the ``participants`` partitions equal ``active``, and the keys they
    add and remove."""
    name = participant_partitions.name
    assert name is not None
    existing = set(instance.get_dynamic_partitions(name))
    added, removed = sorted(active - existing), sorted(existing - active)
    requests: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = []
    if added:
        requests.append(participant_partitions.build_add_request(added))
    if removed:
        requests.append(participant_partitions.build_delete_request(removed))
    return requests, added, removed


def sync_participant_partitions(
    instance: dg.DagsterInstance, store: WarehouseStore, actor: str = "dagster"
) -> tuple[list[str], list[str]]:
    """Outside a sensor (the demo): make the ``participants`` partitions equal the enrolled
    districts now, as the participation sensor does, and delete the reports of districts that
    left. Returns the keys added and removed."""
    active = set(participation.list_participants(store)["leaid"].to_list())
    requests, added, removed = participant_partition_requests(instance, active)
    for request in requests:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            keys = list(request.partition_keys)
            instance.add_dynamic_partitions(request.partitions_def_name, keys)
        else:
            for key in request.partition_keys:
                instance.delete_dynamic_partition(request.partitions_def_name, key)
    delete_withdrawn_reports(store, actor=actor)
    return added, removed
