"""Peer cohorts and their statistics in the warehouse (no Dagster).

:func:`compute_peer_cohorts` reads a year's districts and assigns disjoint cohorts
(:mod:`benchmarking_assets.core.peer_groups`); :func:`public_values` reads the public metric
values by cohort; :func:`release_year` pools private contributors, releases differentially
private means (:mod:`benchmarking_assets.core.dp`) and writes the outputs, the release store, the
budget ledger and an audit entry in one transaction; :func:`rows_below_k` is what the
``min_cohort_size`` checks count.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from benchmarking_assets.core.catalog import PRIVATE_BY_NAME, PUBLIC_NAMES
from benchmarking_assets.core.dp import RELEASE_SCHEMA, private_means
from benchmarking_assets.core.peer_groups import (
    KEY_COLUMNS,
    PeerCriteria,
    assign_cohorts,
    contributor_cohorts,
    district_keys,
    frl_cut_points,
    ladder,
)
from benchmarking_assets.store import audit
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
    store: WarehouseStore, year: int, k: int, epsilon: float, criteria: PeerCriteria
) -> dict[str, Any]:
    """Pool contributors, release DP means (reusing stored releases), write it all atomically."""
    contributions = consented_contributions(store, year)
    keys = store.read_table(
        "peer_cohorts", {"leaid": pl.String(), **{c: pl.String() for c in KEY_COLUMNS}},
        where={"year": year},
    )  # fmt: skip
    pooled = contributor_cohorts(contributions.select("leaid", "metric"), keys, k, ladder(criteria))
    members = pooled.join(contributions, on=["leaid", "metric"]).select(
        "leaid", "category", "metric", "cohort_id", "value"
    )
    stored = store.read_table("dp_releases", RELEASE_SCHEMA, where={"year": year})
    result = private_means(members, year, epsilon, stored, utc_now())
    releases = result.releases
    catalog = pl.DataFrame(
        {
            "metric": list(PRIVATE_BY_NAME),
            "category": [m.category for m in PRIVATE_BY_NAME.values()],
            "unit": [m.unit for m in PRIVATE_BY_NAME.values()],
            "lower_bound": [m.lower for m in PRIVATE_BY_NAME.values()],
            "upper_bound": [m.upper for m in PRIVATE_BY_NAME.values()],
        }
    )
    table = releases.join(catalog, on="metric").select(
        "year", "cohort_id", "category", "metric", "unit", "n", "dp_mean", "lower_bound",
        "upper_bound", "epsilon", "noise_scale", "mechanism", "release_id",
    )  # fmt: skip
    mapping = members.join(releases.select("metric", "cohort_id", "n"), on=["metric", "cohort_id"])
    mapping = mapping.select(
        pl.lit(year, pl.Int32).alias("year"), "leaid", "category", "metric", "cohort_id", "n"
    )
    details = {
        "year": year,
        "releases": releases.height,
        "new_releases": result.charges.height,
        "reused": result.reused,
        "epsilon_charged": float(result.charges["epsilon"].sum()),
    }
    where = {"year": year}
    store.replace_many(
        [
            ("private_cohort_benchmarks", table, where),
            ("participant_private_benchmarks", mapping, where),
            ("dp_releases", releases, where),
            (
                "privacy_budget_ledger",
                result.charges,
                {"release_id": result.charges["release_id"].to_list()},
            ),
            audit.audit_write("private_benchmarks.release", details, actor="dagster"),
        ]
    )
    return {**details, "table": table}


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
