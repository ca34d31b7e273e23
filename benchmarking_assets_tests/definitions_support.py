"""The code location as tests use it: its objects by name or group, its resources replaced."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import dagster as dg


@functools.cache
def code_location() -> dg.Definitions:
    """``benchmarking_assets.definitions.defs``, loaded once per test session."""
    from benchmarking_assets.definitions import defs

    return defs()


def _unique(objects: Iterable[Any] | None) -> list[Any]:
    """The loader collects an object once per module that names it: keep one of each."""
    seen: dict[int, Any] = {}
    for o in objects or []:
        seen.setdefault(id(o), o)
    return list(seen.values())


def assets_of(*, groups: Iterable[str] = (), keys: Iterable[str] = ()) -> list[dg.AssetsDefinition]:
    """The code location's asset definitions in ``groups`` or producing one of ``keys``."""
    groups, keys = set(groups), set(keys)
    chosen = []
    for a in _unique(code_location().assets):
        names = {k.to_user_string() for k in a.keys}
        in_group = any(a.group_names_by_key.get(k) in groups for k in a.keys)
        if in_group or names & keys:
            chosen.append(a)
    return chosen


def definitions_with(**resources: Any) -> dg.Definitions:
    """Every object of the code location, with some resources replaced."""
    loc = code_location()
    return dg.Definitions(
        assets=_unique(loc.assets),
        asset_checks=_unique(loc.asset_checks),
        jobs=_unique(loc.jobs),
        schedules=_unique(loc.schedules),
        sensors=_unique(loc.sensors),
        resources={**(loc.resources or {}), **resources},
        executor=dg.in_process_executor,
    )
