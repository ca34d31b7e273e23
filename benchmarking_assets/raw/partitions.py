"""Partitions of the raw layer, shared by everything downstream (SPEC §3).

The year dimension is a yearly time window starting in the fall of 2010 (2019 = school year
2019-20, the API's convention). A time window, rather than a static list, lets Dagster's
partition mappings express "this year and the seven before it" for trend assets, and lets
schedules target the newest year; its newest partition is the last complete calendar year.
"""

from __future__ import annotations

import dagster as dg

from benchmarking_assets.geography import FIRST_YEAR, STATE_CODES

# Tags that make one run cover a range of partitions (what a single-run backfill sets).
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"

year_partitions = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 1 1 *",
    start=str(FIRST_YEAR),
    fmt="%Y",
)

state_partitions = dg.StaticPartitionsDefinition(list(STATE_CODES))

# Dagster orders dimensions by name, so keys read "CA|2019".
state_year_partitions = dg.MultiPartitionsDefinition(
    {"state": state_partitions, "year": year_partitions}
)


def state_year_key(state_code: str, year: int) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"state": state_code, "year": str(year)})


def partition_years(context: dg.AssetExecutionContext) -> list[int]:
    """The years of a year-partitioned run (one key, or a range from a backfill), sorted."""
    return sorted(int(k) for k in context.partition_keys)
