"""Peer cohorts and their statistics in the warehouse (no Dagster).

:func:`compute_peer_cohorts` reads a year's districts and assigns disjoint cohorts
(:mod:`benchmarking_assets.core.peer_groups`); :func:`public_values` reads the public metric
values by cohort; :func:`release_year` groups private contributors, plans the releases
(:mod:`benchmarking_assets.core.releases`) and writes the published rows, the stored draws, the
append-only ledger, the budget charges and an audit entry in one transaction under the
participation lock; :func:`rows_below_k` and :func:`margin_violations` are what the checks
count.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from benchmarking_assets.core.catalog import PUBLIC_NAMES
from benchmarking_assets.core.peer_groups import (
    KEY_COLUMNS,
    PeerCriteria,
    assign_cohorts,
    district_keys,
    frl_cut_points,
    ladder,
    plan_private_groups,
    private_ladder,
)
from benchmarking_assets.core.privacy_rules import PrivacyPolicy
from benchmarking_assets.core.releases import (
    DRAW_SCHEMA,
    GROUPED_SCHEMA,
    MAPPING_SCHEMA,
    PUBLISHED_SCHEMA,
    plan_releases,
)
from benchmarking_assets.store import audit
from benchmarking_assets.store.privacy_keys import INPUT_DIGEST_KEY, private_key
from benchmarking_assets.store.submissions import consented_contributions
from benchmarking_assets.store.warehouse import WarehouseStore, utc_now

PEER_COHORTS_SCHEMA: dict[str, pl.DataType] = {
    "year": pl.Int32(),
    "leaid": pl.String(),
    "cohort_id": pl.String(),
    "cohort_size": pl.Int32(),
    "ladder_level": pl.Int32(),
    "ladder_step": pl.String(),
    "merged_leftover": pl.Int32(),
    **{c: pl.String() for c in KEY_COLUMNS},
}
_DISTRICT_COLUMNS = {
    "leaid": pl.String(),
    "state_code": pl.String(),
    "enrollment": pl.Int64(),
    "frl_students": pl.Int64(),
    "urban_centric_locale": pl.Int32(),
    "lowest_grade": pl.Int32(),
    "highest_grade": pl.Int32(),
}


def compute_peer_cohorts(
    store: WarehouseStore, year: int, k: int, criteria: PeerCriteria
) -> tuple[pl.DataFrame, tuple[float, float, float] | None]:
    districts = store.read_table(
        "district_data_history", _DISTRICT_COLUMNS, where={"year": year}, order_by=("leaid",)
    )
    keys = district_keys(districts)
    assigned, _suppressed = assign_cohorts(keys, k, ladder(criteria))
    cohorts = (
        assigned.join(keys, on="leaid")
        .with_columns(
            year=pl.lit(year, pl.Int32),
            cohort_size=pl.len().over("cohort_id").cast(pl.Int32),
        )
        .select(list(PEER_COHORTS_SCHEMA))
    )
    return cohorts, frl_cut_points(districts)


def public_values(store: WarehouseStore, year: int) -> pl.DataFrame:
    """``leaid, cohort_id, metric, value`` of the year's public metrics, by peer cohort."""
    columns = ", ".join(f"b.{m}" for m in PUBLIC_NAMES)
    wide = store.read_df(
        f"SELECT p.leaid, p.cohort_id, {columns} FROM district_benchmarks b "
        "JOIN peer_cohorts p ON p.leaid = b.leaid AND p.year = b.year WHERE b.year = :y",
        {"y": year},
        schema={"leaid": pl.String(), "cohort_id": pl.String()}
        | {m: pl.Float64() for m in PUBLIC_NAMES},
    )
    return wide.unpivot(
        index=["leaid", "cohort_id"], on=list(PUBLIC_NAMES), variable_name="metric"
    ).drop_nulls("value")


def release_year(
    store: WarehouseStore, year: int, policy: PrivacyPolicy, criteria: PeerCriteria
) -> dict[str, Any]:
    """Group the year's contributors, plan the releases (stored draws reused, new draws
    charged, over-budget metrics refused) and write everything in one transaction.

    All of it runs under the participation lock, reads included: a withdrawal either commits
    before (and this run never sees the district) or waits for this run and then deletes what
    it wrote — it can never be undone by a run that read the registry before it.
    """
    with store.participation_lock() as conn:
        contributions = consented_contributions(store, year, conn=conn)
        keys = store.read_table(
            "peer_cohorts", {"leaid": pl.String(), **{c: pl.String() for c in KEY_COLUMNS}},
            where={"year": year}, conn=conn,
        )  # fmt: skip
        groups = plan_private_groups(
            contributions.select("leaid", "metric"), keys, policy.n_min, private_ladder(criteria)
        )
        grouped = groups.join(contributions, on=["leaid", "metric"]).select(list(GROUPED_SCHEMA))
        where = {"year": year}
        plan = plan_releases(
            year,
            grouped,
            stored=store.read_table("dp_noise_draws", DRAW_SCHEMA, where=where, conn=conn),
            spent=store.read_df(
                "SELECT leaid, category, epsilon_spent FROM privacy_budget_spent WHERE year = :y",
                {"y": year},
                {"leaid": pl.String(), "category": pl.String(), "epsilon_spent": pl.Float64()},
                conn=conn,
            ),
            previous=store.read_table(
                "private_cohort_benchmarks", PUBLISHED_SCHEMA, where=where, conn=conn
            ),
            previous_mapping=store.read_table(
                "participant_private_benchmarks", MAPPING_SCHEMA, where=where, conn=conn
            ),
            policy=policy,
            key=private_key(store, INPUT_DIGEST_KEY, conn=conn),
            now=utc_now(),
        )
        contributed = set(contributions["metric"].unique().to_list())
        details = {
            "year": year,
            "published_groups": plan.published.height,
            "new_draws": plan.drawn,
            "reused_draws": plan.reused,
            "epsilon_per_draw": policy.epsilon,
            "metrics_refused_for_budget": [r["metric"] for r in plan.refused],
            "metrics_below_n_min": sorted(contributed - set(grouped["metric"].unique())),
            "n_min": policy.n_min,
        }
        store.write_many(
            conn,
            [
                ("private_cohort_benchmarks", plan.published, where),
                ("participant_private_benchmarks", plan.mapping, where),
                ("dp_noise_draws", plan.new_draws, None),
                ("privacy_noise_ledger", plan.ledger, None),
                ("privacy_budget_charges", plan.charges, None),
                audit.audit_write("private_benchmarks.release", details, actor="dagster"),
            ],
        )
    return {**details, "refused": plan.refused, "table": plan.published}


def write_percentiles(store: WarehouseStore, year: int, ranks: pl.DataFrame) -> pl.DataFrame:
    """Replace the year's ``participant_percentiles`` with ``ranks``, keeping only districts
    that are participants when the write commits (a withdrawal during the run wins)."""
    with store.participation_lock() as conn:
        active = store.read_table("benchmark_participants", {"leaid": pl.String()}, conn=conn)
        kept = ranks.join(active, on="leaid", how="semi")
        store.write_many(conn, [("participant_percentiles", kept, {"year": year})])
    return kept


def margin_violations(store: WarehouseStore, max_share: float) -> int:
    """Published private rows whose 90 % margin exceeds ``max_share`` of the metric's range."""
    return int(
        store.scalar(
            "SELECT COUNT(*) FROM private_cohort_benchmarks "
            "WHERE margin_90 > :s * (upper_bound - lower_bound) * (1 + 1e-9)",
            {"s": max_share},
        )
    )


def rows_below_k(store: WarehouseStore, table: str, column: str, k: int) -> int:
    """Rows of ``table`` whose ``column`` < k (and, for peer_cohorts, real groups below k)."""
    small = store.scalar(f"SELECT COUNT(*) FROM {table} WHERE {column} < :k", {"k": k})
    if table == "peer_cohorts":
        small += store.scalar(
            "SELECT COUNT(*) FROM (SELECT year, cohort_id FROM peer_cohorts "
            "GROUP BY year, cohort_id HAVING COUNT(*) < :k) AS g",
            {"k": k},
        )
    return int(small)
