"""What a district's report holds, built from warehouse frames (pure).

``benchmarking_assets.store.reports.read_frames`` runs the few queries a batch of reports needs
(one year, many districts); :func:`build_report` turns those frames into one
:class:`ReportData`.

Privacy (``docs/privacy.md``): a report holds the district's own identity and values, and peer
aggregates that already passed the privacy rules — nothing else:

* peer statistics come only from ``cohort_benchmarks`` (cells with n ≥ k; a suppressed cell has
  no row, so the report says "suppressed" without any count);
* percentile ranks only from ``participant_percentiles`` (published cells);
* private (differentially private) means only for categories the district itself shares
  (reciprocity, ``benchmark_participants``), only of the group that holds the district
  (``participant_private_benchmarks``), only cells with n ≥ k, each with its 90 % noise margin
  and the group's truthful label and n; the district's own submitted value is shown beside them,
  and its own privacy spend (``privacy_budget_spent``);
* :class:`ReportFrames` ``peer_members`` holds cohort members' public values for the
  aggregate-only "what improving peers did" insight; renderers never receive it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from benchmarking_assets.core.catalog import (
    CATEGORIES,
    PRIVATE_BY_NAME,
    PUBLIC_METRICS,
    PUBLIC_NAMES,
    Metric,
)

STATE_COLUMN: dict[str, str] = {m.name: m.state_column for m in PUBLIC_METRICS}
TREND_COLUMN: dict[str, str] = {m.name: m.trend.column for m in PUBLIC_METRICS if m.trend}
NAMES = list(PUBLIC_NAMES)
MAX_LAG = 3  # a metric's latest value is shown if it is at most this many years old

CROSS_STATE_CAVEAT = (
    "States use different proficiency tests and cut scores, so proficiency compared across "
    "states (against the nation, or against peers outside the state) is indicative only."
)
RATIO_NOTE = (
    "State and national averages are enrollment-weighted means of district values; the "
    "students-per-teacher average is therefore not NCES's ratio of totals."
)


@dataclass(frozen=True)
class PeerStats:
    n: int
    mean: float | None
    median: float | None
    p25: float | None
    p75: float | None
    p90: float | None
    std: float | None


@dataclass(frozen=True)
class MetricRow:
    info: Metric
    data_year: int | None  # the report year, or the latest year ≤ it (within 3) with a value
    value: float | None
    state_avg: float | None
    national_avg: float | None
    vs_state: float | None
    vs_national: float | None
    quartile_state: str | None
    trend_3yr: float | None
    peer: PeerStats | None  # None: suppressed (n < k) or no value
    percentile_rank: float | None  # within the peer cohort (mid-rank), published cells only


@dataclass(frozen=True)
class Cohort:
    cohort_id: str
    size: int
    ladder_step: str
    in_state: bool
    description: str


MARGIN_NOTE = (
    "Peer values of platform metrics are differentially private: random noise is added so that "
    "no district's submission can be worked out from them. The ± margin is the 90 % range of "
    "that noise: in 9 cases out of 10 the true peer mean lies within the margin of the value "
    "shown. A difference smaller than the margin may be noise, not a real difference."
)


@dataclass(frozen=True)
class PrivateRow:
    """One private metric: the district's own value against its group's DP mean ± margin."""

    category: str
    metric: str
    label: str
    unit: str
    own_value: float | None
    dp_mean: float
    n: int
    epsilon: float
    margin_90: float = 0.0
    group_label: str = ""
    status: str = "current"  # or "stale": kept from an earlier run (budget), see status_reason
    status_reason: str | None = None
    released_at: str = ""

    @property
    def group_text(self) -> str:
        """The truthful description of who the value is compared with, with its n."""
        return f"{self.group_label} (n={self.n})"

    @property
    def comparison(self) -> str:
        """Above / below the peers only when the difference exceeds the margin."""
        if self.own_value is None:
            return "no value submitted"
        diff = self.own_value - self.dp_mean
        if abs(diff) <= self.margin_90:
            return "within the margin"
        return "above peers" if diff > 0 else "below peers"


@dataclass(frozen=True)
class BudgetRow:
    """What the district's data of one category and year has cost in privacy (ε)."""

    year: int
    category: str
    spent: float
    draws: int
    limit: float | None  # PRIVACY_BUDGET_PER_DISTRICT, when known


@dataclass(frozen=True)
class ReportData:
    leaid: str
    year: int
    lea_name: str
    state_code: str
    k: int
    cohort: Cohort | None
    metrics: list[MetricRow]
    trends: pl.DataFrame  # year, metric, series (district|state|nation|peer median), value
    private: list[PrivateRow]
    shared_categories: tuple[str, ...]
    generated_at: str
    insights: list = field(default_factory=list)  # filled by insights.derive_insights
    budget: tuple[BudgetRow, ...] = ()  # the district's own privacy spend (report year)

    @property
    def suppressed(self) -> list[str]:
        """Metrics with a district value but no published peer statistics."""
        return [m.info.name for m in self.metrics if m.value is not None and m.peer is None]

    @property
    def private_epsilons(self) -> list[float]:
        return sorted({p.epsilon for p in self.private})


@dataclass(frozen=True)
class ReportFrames:
    """Everything the reports of one year need, for a set of districts."""

    year: int
    k: int
    districts: pl.DataFrame  # district_benchmarks rows (years ≤ year) of the districts
    names: pl.DataFrame  # leaid, year, lea_name, state_code
    states: pl.DataFrame  # state_benchmarks rows (their states and US, years ≤ year)
    cohorts: pl.DataFrame  # peer_cohorts rows of the districts (years ≤ year)
    cohort_stats: pl.DataFrame  # cohort_benchmarks rows of those cohorts
    percentiles: pl.DataFrame  # participant_percentiles of the districts, the year
    private: pl.DataFrame  # published private cells each district may see, + own value
    participants: pl.DataFrame  # benchmark_participants rows
    peer_members: pl.DataFrame  # cohort_id, leaid + public values/trends of members, the year
    budget: pl.DataFrame | None = None  # leaid, year, category, epsilon_spent, draws
    budget_limit: float | None = None  # PRIVACY_BUDGET_PER_DISTRICT


def _cohort_text(row: dict) -> str:
    parts = [
        f"{row['size_band'].replace('_', ' ')} districts",
        row["locale"],
        f"FRL {row['frl_band']}",
        row["grade_span"],
    ]
    where = f"in {row['state_code']}" if "state_code=" in row["cohort_id"] else row["region"]
    return f"{', '.join(parts)}; {where} (match: {row['ladder_step']})"


def _one(frame: pl.DataFrame) -> dict | None:
    return frame.row(0, named=True) if frame.height else None


def build_report(frames: ReportFrames, leaid: str, generated_at: str) -> ReportData:
    """The report of one district for ``frames.year`` (pure)."""
    year = frames.year
    name_rows = frames.names.filter(pl.col("leaid") == leaid).sort("year")
    if name_rows.height == 0:
        raise ValueError(f"district {leaid} has no data up to {year}")
    ident = name_rows.row(-1, named=True)
    state = ident["state_code"]
    own = frames.districts.filter(pl.col("leaid") == leaid)
    mine = frames.cohorts.filter(pl.col("leaid") == leaid)
    crow = _one(mine.filter(pl.col("year") == year))
    cohort = None
    if crow:
        cohort = Cohort(
            crow["cohort_id"],
            crow["cohort_size"],
            crow["ladder_step"],
            "state_code=" in crow["cohort_id"],
            _cohort_text(crow),
        )
    stats = frames.cohort_stats.join(mine.select("year", "cohort_id"), on=["year", "cohort_id"])
    ranks = frames.percentiles.filter(pl.col("leaid") == leaid)
    rows = [_metric_row(frames, info, own, stats, ranks, state) for info in PUBLIC_METRICS]
    part = _one(frames.participants.filter(pl.col("leaid") == leaid)) or {}
    shared = tuple(c for c in CATEGORIES if part.get(f"shares_{c}"))
    private = private_rows(frames, leaid, shared)
    trends = _trends(frames, leaid, state, stats)
    name = ident["lea_name"] or leaid
    return ReportData(
        leaid, year, name, state, frames.k, cohort, rows, trends, private, shared, generated_at,
        budget=budget_rows(frames, leaid),
    )  # fmt: skip


def private_rows(frames: ReportFrames, leaid: str, shared: tuple[str, ...]) -> list[PrivateRow]:
    """The district's private metrics: only categories it shares itself (reciprocity), only
    published rows of its own group (n ≥ k), each with its margin and its group's label."""
    mine = frames.private.filter(
        (pl.col("leaid") == leaid)
        & pl.col("category").is_in(list(shared))
        & (pl.col("n") >= frames.k)
        & pl.col("metric").is_in(list(PRIVATE_BY_NAME))
    )
    order = {m: i for i, m in enumerate(PRIVATE_BY_NAME)}
    rows = sorted(mine.iter_rows(named=True), key=lambda r: (r["category"], order[r["metric"]]))
    return [
        PrivateRow(
            r["category"], r["metric"], PRIVATE_BY_NAME[r["metric"]].label, r["unit"],
            r["value"], r["dp_mean"], r["n"], r["epsilon"], r["margin_90"], r["group_label"],
            r["status"], r["status_reason"], r["released_at"],
        )
        for r in rows
    ]  # fmt: skip


def budget_rows(frames: ReportFrames, leaid: str) -> tuple[BudgetRow, ...]:
    if frames.budget is None:
        return ()
    mine = frames.budget.filter(pl.col("leaid") == leaid).sort("year", "category")
    return tuple(
        BudgetRow(r["year"], r["category"], r["epsilon_spent"], r["draws"], frames.budget_limit)
        for r in mine.iter_rows(named=True)
    )


def _metric_row(
    frames: ReportFrames,
    info: Metric,
    own: pl.DataFrame,
    stats: pl.DataFrame,
    ranks: pl.DataFrame,
    state: str,
) -> MetricRow:
    """One metric, from the newest year ≤ the report year (and ≥ year − 3) with a value.

    Sources end in different years (graduation rates lag the directory by two years), so a
    report shows the latest published value and says which year it is from.
    """
    m = info.name
    seen = own.filter(pl.col(m).is_not_null() & (pl.col("year") >= frames.year - MAX_LAG))
    b = seen.sort("year").row(-1, named=True) if seen.height else {}
    y = b.get("year", -1)
    st = _one(frames.states.filter((pl.col("state_code") == state) & (pl.col("year") == y)))
    us = _one(frames.states.filter((pl.col("state_code") == "US") & (pl.col("year") == y)))
    peer = _one(stats.filter((pl.col("year") == y) & (pl.col("metric") == m)))
    rank = _one(ranks.filter((pl.col("year") == y) & (pl.col("metric") == m)))
    return MetricRow(
        info,
        b.get("year"),
        b.get(m),
        (st or {}).get(STATE_COLUMN[m]),
        (us or {}).get(STATE_COLUMN[m]),
        b.get(f"{m}_vs_state"),
        b.get(f"{m}_vs_national"),
        b.get(f"{m}_quartile_state"),
        b.get(TREND_COLUMN[m]),
        PeerStats(*(peer[c] for c in ("n", "mean", "median", "p25", "p75", "p90", "std")))
        if peer
        else None,
        rank["percentile_rank"] if rank else None,
    )


def _trends(frames: ReportFrames, leaid: str, state: str, stats: pl.DataFrame) -> pl.DataFrame:
    own = frames.districts.filter(pl.col("leaid") == leaid).select(["year", *NAMES])
    own = own.unpivot(index="year", variable_name="metric").with_columns(series=pl.lit("district"))
    st = frames.states.filter(pl.col("state_code").is_in([state, "US"]))
    st = st.rename({v: k for k, v in STATE_COLUMN.items()}).select(["state_code", "year", *NAMES])
    is_us = pl.col("state_code") == "US"
    st = st.unpivot(index=["state_code", "year"], variable_name="metric").select(
        "year",
        "metric",
        "value",
        series=pl.when(is_us).then(pl.lit("nation")).otherwise(pl.lit("state")),
    )
    peers = stats.select(
        "year", "metric", pl.col("median").alias("value"), series=pl.lit("peer median")
    )
    frame = pl.concat([own.select("year", "metric", "value", "series"), st, peers])
    return frame.drop_nulls("value").cast({"year": pl.Int32}).sort("metric", "series", "year")
