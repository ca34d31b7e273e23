"""The release planner: which private groups get a new noise draw, which get their stored draw
back, which are refused for budget, and what every participant is charged (pure).

Rules (``docs/privacy.md`` §6–7):

* **Identical inputs, identical output.** Each group's :func:`~benchmarking_assets.core.dp.
  input_digest` (keyed) is looked up among the stored draws: a match returns the stored noisy
  mean, costs nothing and adds no ledger row. Re-running, re-sending a file or reverting a
  value (a → b → a) therefore gives nothing new to average.
* **One ledger row per noise draw**, appended, holding n, ε, the scale and a random draw id —
  no leaid, no value, nothing derived from one.
* **Basic composition per (district, year, category).** A draw charges every member the ε that
  OpenDP's privacy map reports (≤ the policy's ε). Groups of one (year, metric) are disjoint, so
  one metric costs a member at most one draw's ε per version.
* **Budget refusal, all or nothing per metric.** Metrics are planned in catalog order with a
  running spend per (leaid, category). If any new draw of a metric would take any member above
  the budget, none of that metric's new draws happens: its last published rows stay, marked
  ``stale`` with the reason (no member is named), or the metric stays unpublished. Keeping the
  whole previous partition — rather than mixing old and new groups — keeps a metric's published
  groups disjoint, so no two of them can be subtracted.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from benchmarking_assets.core import dp
from benchmarking_assets.core.catalog import PRIVATE_BY_NAME, PRIVATE_METRICS
from benchmarking_assets.core.privacy_rules import PrivacyPolicy

CURRENT, STALE = "current", "stale"

PUBLISHED_SCHEMA: dict[str, pl.DataType] = {
    "year": pl.Int32(),
    "category": pl.String(),
    "metric": pl.String(),
    "group_id": pl.String(),
    "group_label": pl.String(),
    "ladder_level": pl.Int32(),
    "n": pl.Int64(),
    "dp_mean": pl.Float64(),
    "margin_90": pl.Float64(),
    "unit": pl.String(),
    "lower_bound": pl.Float64(),
    "upper_bound": pl.Float64(),
    "epsilon": pl.Float64(),
    "noise_scale": pl.Float64(),
    "mechanism": pl.String(),
    "draw_id": pl.String(),
    "released_at": pl.String(),
    "status": pl.String(),
    "status_reason": pl.String(),
}
MAPPING_SCHEMA: dict[str, pl.DataType] = {
    "year": pl.Int32(),
    "leaid": pl.String(),
    "category": pl.String(),
    "metric": pl.String(),
    "group_id": pl.String(),
    "n": pl.Int64(),
    "draw_id": pl.String(),
}
DRAW_SCHEMA: dict[str, pl.DataType] = {  # dp_noise_draws (private)
    "input_digest": pl.String(),
    "draw_id": pl.String(),
    "year": pl.Int32(),
    "metric": pl.String(),
    "n": pl.Int64(),
    "dp_mean": pl.Float64(),
    "epsilon": pl.Float64(),
    "noise_scale": pl.Float64(),
    "created_at": pl.String(),
}
LEDGER_SCHEMA: dict[str, pl.DataType] = {  # privacy_noise_ledger (append-only, no leaid)
    "draw_id": pl.String(),
    "drawn_at": pl.String(),
    "year": pl.Int32(),
    "category": pl.String(),
    "metric": pl.String(),
    "group_id": pl.String(),
    "n": pl.Int64(),
    "epsilon": pl.Float64(),
    "noise_scale": pl.Float64(),
    "mechanism": pl.String(),
}
CHARGE_SCHEMA: dict[str, pl.DataType] = {  # privacy_budget_charges (private)
    "draw_id": pl.String(),
    "leaid": pl.String(),
    "year": pl.Int32(),
    "category": pl.String(),
    "epsilon": pl.Float64(),
}
GROUPED_SCHEMA: dict[str, pl.DataType] = {  # the planner's input: one row per member
    "leaid": pl.String(),
    "category": pl.String(),
    "metric": pl.String(),
    "group_id": pl.String(),
    "group_label": pl.String(),
    "ladder_level": pl.Int32(),
    "value": pl.Float64(),
}
_TOLERANCE = 1e-9


def _frame(rows: list[dict[str, Any]], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)


@dataclass(frozen=True)
class ReleasePlan:
    published: pl.DataFrame  # PUBLISHED_SCHEMA: the year's rows after this run
    mapping: pl.DataFrame  # MAPPING_SCHEMA: who may see which published row (its members)
    new_draws: pl.DataFrame  # DRAW_SCHEMA
    ledger: pl.DataFrame  # LEDGER_SCHEMA, one row per new draw
    charges: pl.DataFrame  # CHARGE_SCHEMA, one row per member of each new draw
    refused: list[dict[str, Any]] = field(default_factory=list)  # per metric: counts, no leaid
    reused: int = 0

    @property
    def drawn(self) -> int:
        return self.ledger.height


def stale_reason(released_at: str, year: int, category: str, budget: float) -> str:
    return (
        f"not updated since {released_at}: a new release would exceed a group member's "
        f"{year} {category} privacy budget (ε {budget:g})"
    )


def plan_releases(
    year: int,
    grouped: pl.DataFrame,
    stored: pl.DataFrame,
    spent: pl.DataFrame,
    previous: pl.DataFrame,
    previous_mapping: pl.DataFrame,
    policy: PrivacyPolicy,
    key: bytes,
    now: str,
    draw: Callable[[str, list[float], float], dp.Draw] | None = None,
) -> ReleasePlan:
    """Plan the year's private releases (see the module docstring).

    ``grouped``: :data:`GROUPED_SCHEMA` (the groups of ``plan_private_groups`` with each
    member's consented value); ``stored``: the year's ``dp_noise_draws``; ``spent``:
    ``leaid, category, epsilon_spent`` of the year; ``previous`` / ``previous_mapping``: the
    year's published rows and their members before this run. ``draw`` defaults to
    :func:`benchmarking_assets.core.dp.draw` (looked up at call time, so it can be counted).
    """
    unknown = set(grouped["metric"].unique().to_list()) - set(PRIVATE_BY_NAME)
    if unknown:
        raise KeyError(f"metrics not in the catalog: {sorted(unknown)}")
    draw = draw or dp.draw
    known = {r["input_digest"]: r for r in stored.iter_rows(named=True)}
    running: dict[tuple[str, str], float] = {
        (r["leaid"], r["category"]): float(r["epsilon_spent"]) for r in spent.iter_rows(named=True)
    }
    published: list[dict[str, Any]] = []
    mapping: list[dict[str, Any]] = []
    new_draws: list[dict[str, Any]] = []
    ledger: list[dict[str, Any]] = []
    charges: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    reused = 0
    by_metric = grouped.partition_by("metric", as_dict=True) if grouped.height else {}
    for metric_info in PRIVATE_METRICS:  # catalog order: the refusal order is deterministic
        metric, category = metric_info.name, metric_info.category
        rows = by_metric.get((metric,))
        if rows is None:
            continue
        plans = []
        for (group_id,), members in (
            rows.sort("leaid").partition_by("group_id", as_dict=True, maintain_order=True).items()
        ):
            pairs = [
                (r["leaid"], dp.clamp(metric, r["value"])) for r in members.iter_rows(named=True)
            ]
            digest = dp.input_digest(key, year, metric, pairs, policy.epsilon)
            plans.append((group_id, members.row(0, named=True), pairs, digest))
        needing = {
            leaid for _, _, pairs, digest in plans if digest not in known for leaid, _ in pairs
        }
        over = [
            leaid for leaid in needing
            if running.get((leaid, category), 0.0) + policy.epsilon > policy.budget + _TOLERANCE
        ]  # fmt: skip
        if over:
            kept = previous.filter((pl.col("metric") == metric) & (pl.col("n") >= policy.n_min))
            for row in kept.iter_rows(named=True):
                reason = stale_reason(row["released_at"], year, category, policy.budget)
                published.append({**row, "status": STALE, "status_reason": reason})
            mapping += (
                previous_mapping.join(
                    kept.select("group_id", "draw_id"), on=["group_id", "draw_id"], how="semi"
                )
                .filter(pl.col("metric") == metric)
                .to_dicts()
            )
            refused.append(
                {"metric": metric, "category": category, "groups": len(plans),
                 "new_draws_refused": sum(d not in known for *_, d in plans),
                 "kept_stale": kept.height}
            )  # fmt: skip
            continue
        for group_id, first, pairs, digest in plans:
            if digest in known:
                stored_draw = known[digest]
                draw_id, result = (
                    stored_draw["draw_id"],
                    dp.Draw(
                        stored_draw["dp_mean"], stored_draw["noise_scale"], stored_draw["epsilon"]
                    ),
                )
                released_at = stored_draw["created_at"]
                reused += 1
            else:
                result = draw(metric, [v for _, v in pairs], policy.epsilon)
                draw_id, released_at = uuid.uuid4().hex, now
                new_draws.append(
                    {"input_digest": digest, "draw_id": draw_id, "year": year, "metric": metric,
                     "n": len(pairs), "dp_mean": result.dp_mean, "epsilon": result.epsilon,
                     "noise_scale": result.noise_scale, "created_at": now}
                )  # fmt: skip
                ledger.append(
                    {"draw_id": draw_id, "drawn_at": now, "year": year, "category": category,
                     "metric": metric, "group_id": group_id, "n": len(pairs),
                     "epsilon": result.epsilon, "noise_scale": result.noise_scale,
                     "mechanism": dp.MECHANISM}
                )  # fmt: skip
                for leaid, _ in pairs:
                    charges.append(
                        {"draw_id": draw_id, "leaid": leaid, "year": year, "category": category,
                         "epsilon": result.epsilon}
                    )  # fmt: skip
                    running[(leaid, category)] = (
                        running.get((leaid, category), 0.0) + result.epsilon
                    )
            published.append(
                {"year": year, "category": category, "metric": metric, "group_id": group_id,
                 "group_label": first["group_label"], "ladder_level": first["ladder_level"],
                 "n": len(pairs), "dp_mean": result.dp_mean, "margin_90": result.margin_90,
                 "unit": metric_info.unit, "lower_bound": metric_info.lower,
                 "upper_bound": metric_info.upper, "epsilon": result.epsilon,
                 "noise_scale": result.noise_scale, "mechanism": dp.MECHANISM,
                 "draw_id": draw_id, "released_at": released_at, "status": CURRENT,
                 "status_reason": None}
            )  # fmt: skip
            mapping += [
                {"year": year, "leaid": leaid, "category": category, "metric": metric,
                 "group_id": group_id, "n": len(pairs), "draw_id": draw_id}
                for leaid, _ in pairs
            ]  # fmt: skip
    return ReleasePlan(
        _frame(published, PUBLISHED_SCHEMA),
        _frame(mapping, MAPPING_SCHEMA),
        _frame(new_draws, DRAW_SCHEMA),
        _frame(ledger, LEDGER_SCHEMA),
        _frame(charges, CHARGE_SCHEMA),
        refused,
        reused,
    )
