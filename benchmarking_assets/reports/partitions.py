"""Partitions of the reports layer: participant (dynamic) × year (SPEC §3).

Participant keys are leaids. They are added when a district enrolls and removed when it
withdraws (by the participation sensor, and by ``benchmarking demo`` for its sample
participants); keys read ``0601234|2019`` (Dagster orders dimensions by name).
"""

from __future__ import annotations

import dagster as dg

from benchmarking_assets.raw.partitions import year_partitions

participant_partitions = dg.DynamicPartitionsDefinition(name="participants")

report_partitions = dg.MultiPartitionsDefinition(
    {"participant": participant_partitions, "year": year_partitions}
)


def report_key(leaid: str, year: int) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"participant": leaid, "year": str(year)})
