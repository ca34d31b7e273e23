"""Checks of the benchmark tables, as pure evaluations over the frames just computed.

Each ``check_*`` function takes the frames of the years just written and returns a
:class:`CheckOutcome` naming the offending rows; the Dagster definitions turn it into an asset
check result shown beside each materialization.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from benchmarking_assets.core.benchmarks import METRICS, district_values


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    offenders: pl.DataFrame  # the offending rows (empty when passed)
    counts: dict[str, int] = field(default_factory=dict)  # what was examined

STATE_CHECKS = {
    "every_state_and_us_present": "a row for every state that has districts that year, and US",
    "averages_within_district_range": (
        "each weighted average lies between the smallest and largest value of the districts "
        "it averages (enrollment > 0, value present)"
    ),
}
DISTRICT_CHECKS = {
    "quartiles_ordered": (
        "within a state, year and metric a higher value never carries a lower quartile label"
    ),
    "quartiles_balanced": (
        "where a state has at least 8 districts with a value, all distinct, each label holds "
        "15–35 % of them"
    ),
    "no_delta_without_state_average": "no M_vs_state where the state average of M is NULL",
}
_LABEL_ORDER = {"well_below": 0, "below": 1, "above": 2, "well_above": 3}
_TOLERANCE = 1e-9


def check_every_state_and_us_present(
    history: pl.LazyFrame, states: pl.DataFrame, years: list[int]
) -> CheckOutcome:
    """Every (year, state) with a district in ``history`` has a row, and so does US."""
    present = history.filter(pl.col("year").is_in(years)).select("year", "state_code").unique()
    expected = pl.concat(
        [present, present.select("year").unique().with_columns(state_code=pl.lit("US"))]
    ).collect()
    missing = expected.join(
        states.select("year", "state_code"), on=["year", "state_code"], how="anti"
    ).sort("year", "state_code")
    return CheckOutcome(missing.height == 0, missing, {"expected_rows": expected.height})


def check_averages_within_district_range(
    history: pl.LazyFrame, states: pl.DataFrame
) -> CheckOutcome:
    """min ≤ average ≤ max of the contributing districts, per state and for the nation."""
    offenders: list[pl.DataFrame] = []
    for year in states["year"].unique().sort().to_list():
        values = district_values(history, year).filter(pl.col("enrollment") > 0)
        nation = values.with_columns(state_code=pl.lit("US"))
        for m in [("avg_enrollment", "enrollment"), *[(m.state_column, m.name) for m in METRICS]]:
            avg_column, value = m
            bounds = (
                pl.concat([values, nation])
                .group_by("state_code")
                .agg(pl.col(value).min().alias("lo"), pl.col(value).max().alias("hi"))
            )
            bad = (
                states.lazy()
                .filter(pl.col("year") == year)
                .join(bounds, on="state_code", how="left")
                .filter(
                    (pl.col(avg_column) < pl.col("lo") - _TOLERANCE * pl.col("lo").abs())
                    | (pl.col(avg_column) > pl.col("hi") + _TOLERANCE * pl.col("hi").abs())
                    | (pl.col(avg_column).is_null() != pl.col("lo").is_null())
                )
                .select(
                    "year",
                    "state_code",
                    pl.lit(avg_column).alias("column"),
                    pl.col(avg_column).cast(pl.Float64).alias("average"),
                    pl.col("lo").cast(pl.Float64),
                    pl.col("hi").cast(pl.Float64),
                )
                .collect()
            )
            offenders.append(bad)
    bad = pl.concat(offenders) if offenders else pl.DataFrame()
    return CheckOutcome(bad.height == 0, bad)


def _quartile_long(districts: pl.DataFrame) -> pl.DataFrame:
    """year, state_code, metric, value, rank of the label (0 = well_below), rows with a label."""
    frames = [
        districts.select(
            "year",
            "state_code",
            "leaid",
            pl.lit(m.name).alias("metric"),
            pl.col(m.name).alias("value"),
            pl.col(f"{m.name}_quartile_state")
            .replace_strict(_LABEL_ORDER, default=None, return_dtype=pl.Int8)
            .alias("label"),
        ).filter(pl.col("label").is_not_null())
        for m in METRICS
    ]
    return pl.concat(frames)


def check_quartiles_ordered(districts: pl.DataFrame) -> CheckOutcome:
    """Sorted by value, labels never step down (ties may share a label only)."""
    group = ["year", "state_code", "metric"]
    long = _quartile_long(districts).sort([*group, "value", "label"])
    bad = long.filter(
        (pl.col("label") < pl.col("label").shift(1).over(group))
        | (
            (pl.col("value") == pl.col("value").shift(1).over(group))
            & (pl.col("label") != pl.col("label").shift(1).over(group))
        )
    )
    return CheckOutcome(bad.height == 0, bad)


def check_quartiles_balanced(districts: pl.DataFrame) -> CheckOutcome:
    group = ["year", "state_code", "metric"]
    long = _quartile_long(districts)
    eligible = (
        long.group_by(group)
        .agg(pl.len().alias("n"), pl.col("value").n_unique().alias("distinct"))
        .filter((pl.col("n") >= 8) & (pl.col("n") == pl.col("distinct")))
    )
    shares = (
        long.join(eligible, on=group)
        .group_by([*group, "n"])
        .agg(
            [
                ((pl.col("label") == rank).sum() / pl.col("n").first()).alias(label)
                for label, rank in _LABEL_ORDER.items()
            ]
        )
    )
    bad = shares.filter(
        pl.any_horizontal([(pl.col(c) < 0.15) | (pl.col(c) > 0.35) for c in _LABEL_ORDER])
    ).sort(group)
    return CheckOutcome(bad.height == 0, bad, {"groups_checked": eligible.height})


def check_no_delta_without_state_average(
    districts: pl.DataFrame, states: pl.DataFrame
) -> CheckOutcome:
    joined = districts.join(
        states.filter(pl.col("state_code") != "US"), on=["year", "state_code"], how="left"
    )
    bad = pl.concat(
        [
            joined.filter(
                pl.col(m.state_column).is_null() & pl.col(f"{m.name}_vs_state").is_not_null()
            ).select("year", "state_code", "leaid", pl.lit(m.name).alias("metric"))
            for m in METRICS
        ]
    )
    return CheckOutcome(bad.height == 0, bad)
