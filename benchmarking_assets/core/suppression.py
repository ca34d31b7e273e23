"""Public cohort statistics with primary and complementary suppression; percentile ranks.

Statistics per (cohort, metric), over the cohort's districts with a value of the metric:
``n, mean, median, p25, p75, p90, std`` — percentiles by linear interpolation (Hyndman–Fan
type 7, PostgreSQL ``percentile_cont``; Polars' default, "nearest", would differ), ``std`` the
sample standard deviation (ddof = 1). A national total row per metric (cohort ``ALL``) is
published too, which is what makes complementary suppression necessary:

* **primary suppression**: a cell with n < k is not published;
* **complementary suppression** (per year and metric, the table's only margin is the national
  total): if the suppressed cells together hold between 1 and k − 1 districts, the total minus
  the published cells would reveal their sum and count, so the smallest published cells (ties by
  cohort id) are suppressed too until the suppressed cells hold ≥ k districts. Anything derivable
  by subtraction is then an aggregate over ≥ k districts. The total itself is published only when
  it has ≥ k districts.

Suppressed cells are simply absent from the output: no row, no n.

**Percentile rank** (public metrics only — a rank on a private metric would leak peers' private
values): mid-rank definition, 100 × (#cohort values below x + ½ · #values equal to x) / n, over
the published cell the participant belongs to (so a participant in a suppressed cell gets no
rank). It is 50 for a value equal to everyone's and runs from 50/n to 100 − 50/n.
"""

from __future__ import annotations

import polars as pl

TOTAL_COHORT = "ALL"

STAT_SCHEMA: dict[str, pl.DataType] = {
    "cohort_id": pl.String(),
    "metric": pl.String(),
    "n": pl.Int64(),
    "mean": pl.Float64(),
    "median": pl.Float64(),
    "p25": pl.Float64(),
    "p75": pl.Float64(),
    "p90": pl.Float64(),
    "std": pl.Float64(),
}


def _aggregates() -> list[pl.Expr]:
    v = pl.col("value")
    return [
        pl.len().cast(pl.Int64).alias("n"),
        v.mean().alias("mean"),
        v.quantile(0.5, interpolation="linear").alias("median"),
        v.quantile(0.25, interpolation="linear").alias("p25"),
        v.quantile(0.75, interpolation="linear").alias("p75"),
        v.quantile(0.9, interpolation="linear").alias("p90"),
        v.std(ddof=1).alias("std"),
    ]


def suppression_plan(cells: pl.DataFrame, k: int) -> pl.DataFrame:
    """Which (cohort_id, metric) cells to publish: columns + ``published`` and ``reason``.

    ``cells`` has ``cohort_id, metric, n`` (the cohorts of one year, disjoint). ``reason`` is
    ``published``, ``primary`` (n < k) or ``complementary``.
    """
    out: list[pl.DataFrame] = []
    for _, group in cells.sort("n", "cohort_id").group_by("metric", maintain_order=True):
        reasons = ["primary" if n < k else "published" for n in group["n"]]
        hidden = sum(n for n, r in zip(group["n"], reasons, strict=True) if r != "published")
        for i, n in enumerate(group["n"]):  # ascending n: the smallest published cells first
            if not 0 < hidden < k:
                break
            if reasons[i] == "published":
                reasons[i] = "complementary"
                hidden += n
        out.append(
            group.select("cohort_id", "metric", "n").with_columns(
                pl.Series("reason", reasons, pl.String)
            )
        )
    if not out:
        return cells.select("cohort_id", "metric", "n").with_columns(
            published=pl.lit(False), reason=pl.lit(None, pl.String)
        )
    plan = pl.concat(out)
    return plan.with_columns(published=pl.col("reason") == "published")


def cohort_statistics(values: pl.DataFrame, k: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Published statistics and the suppression plan, from ``leaid, cohort_id, metric, value``.

    Returns ``(published, plan)``: ``published`` has :data:`STAT_SCHEMA` (cohort rows and the
    ``ALL`` total rows, every one with n ≥ k); ``plan`` says why each cohort cell is or is not
    there (it stays inside the warehouse: it holds the n of suppressed cells).
    """
    values = values.filter(pl.col("value").is_not_null() & pl.col("value").is_not_nan())
    cells = values.group_by("cohort_id", "metric").agg(_aggregates())
    totals = (
        values.group_by("metric").agg(_aggregates()).with_columns(cohort_id=pl.lit(TOTAL_COHORT))
    )
    plan = suppression_plan(cells.select("cohort_id", "metric", "n"), k)
    keep = plan.filter("published").select("cohort_id", "metric")
    published = pl.concat(
        [
            cells.join(keep, on=["cohort_id", "metric"], how="semi").select(list(STAT_SCHEMA)),
            totals.filter(pl.col("n") >= k).select(list(STAT_SCHEMA)),
        ]
    ).cast(STAT_SCHEMA)
    return published.sort("metric", "cohort_id"), plan


def percentile_ranks(
    values: pl.DataFrame, participants: pl.Series, published: pl.DataFrame
) -> pl.DataFrame:
    """Mid-rank percentile of each participant's value within its published cohort cell.

    ``values``: ``leaid, cohort_id, metric, value`` of every district; ``published``: the
    output of :func:`cohort_statistics`. Returns ``leaid, cohort_id, metric, value,
    percentile_rank, cohort_n``.
    """
    values = values.filter(pl.col("value").is_not_null() & pl.col("value").is_not_nan())
    cells = published.filter(pl.col("cohort_id") != TOTAL_COHORT).select(
        "cohort_id", "metric", pl.col("n").alias("cohort_n")
    )
    mine = values.filter(pl.col("leaid").is_in(participants.implode())).join(
        cells, on=["cohort_id", "metric"], how="inner"
    )
    peers = values.select("cohort_id", "metric", pl.col("value").alias("peer_value"))
    ranked = (
        mine.join(peers, on=["cohort_id", "metric"], how="inner")
        .group_by("leaid", "cohort_id", "metric", "value", "cohort_n")
        .agg(
            below=(pl.col("peer_value") < pl.col("value")).sum(),
            equal=(pl.col("peer_value") == pl.col("value")).sum(),
        )
        .with_columns(
            percentile_rank=100.0 * (pl.col("below") + 0.5 * pl.col("equal")) / pl.col("cohort_n")
        )
    )
    return ranked.select(
        "leaid",
        "cohort_id",
        "metric",
        "value",
        "percentile_rank",
        pl.col("cohort_n").cast(pl.Int64),
    ).sort("leaid", "metric")
