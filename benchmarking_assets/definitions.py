"""The code location: every definition under ``defs/``, loaded the way ``dg`` projects do.

raw (state × year) → benchmarks (year) → privacy (year) → reports (participant × year) →
retention; resources in ``defs/resources.py``, partitions in ``defs/partitions.py``, jobs,
schedules and sensors in ``defs/automation/``.

``dg.load_from_defs_folder`` finds the defs module through the checkout's ``pyproject.toml``,
which a wheel install (a Docker image, a Kubernetes deployment) does not have; the component
tree it builds is therefore made from the defs module directly, the same loader either way.
"""

from pathlib import Path

import dagster as dg

from benchmarking_assets import defs as defs_module


@dg.definitions
def defs() -> dg.Definitions:
    tree = dg.ComponentTree.from_module(
        defs_module=defs_module, project_root=Path(__file__).resolve().parent.parent
    )
    # One process per run: the multiprocess executor's process per step costs more here than
    # the steps themselves (see README, "Performance").
    return dg.Definitions.merge(tree.build_defs(), dg.Definitions(executor=dg.in_process_executor))
