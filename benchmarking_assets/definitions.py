"""The code location: every definition under ``defs/``, loaded the way ``dg`` projects do.

raw (state × year) → benchmarks (year) → privacy (year) → reports (participant × year) →
retention; resources in ``defs/resources.py``, partitions in ``defs/partitions.py``, jobs,
schedules and sensors in ``defs/automation/``.
"""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    loaded = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    # One process per run: the multiprocess executor's process per step costs more here than
    # the steps themselves (see README, "Performance").
    return dg.Definitions.merge(loaded, dg.Definitions(executor=dg.in_process_executor))
