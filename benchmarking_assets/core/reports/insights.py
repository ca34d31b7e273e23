"""Deterministic, explainable insights for one district's report (pure; no Dagster, no AI).

Every insight carries a ``severity`` (``high``, ``medium``, ``low``, ``info``) and the numbers
behind it, so a reader can check it by hand. The rules:

* **gap** — for metrics with a direction (graduation, proficiency, absenteeism, students per
  teacher), an unfavourable difference from the peer median, standardised by the peer standard
  deviation: z = (value − median) / std. ``high`` when |z| ≥ 1, ``medium`` when ≥ 0.5, else
  ``low``; only gaps with |z| ≥ 0.25 are kept, largest first. The numbers include the percentile
  among peers, the state average and the difference from it.
* **strength** — the same test for a favourable difference, kept when the percentile among
  peers is ≥ 75 (favourable side).
* **improving** / **declining** — the 3-year trend of ``district_benchmarks`` against a
  materiality threshold per unit (:data:`MATERIAL`): ``high`` at 3×, ``medium`` at 1.5×.
* **peer_improvers** — among the district's own peer cohort, the half (of the members with a
  3-year change) whose change was most favourable against *every other member of the published
  cell*: the mean of a context metric in the two parts, reporting the one that differs most (in
  peer standard deviations). Both parts hold at least k districts, each context metric is split
  at most once per cohort, and the parts exactly partition the published cell, so no
  combination of published means isolates fewer than k districts
  (:func:`plan_improver_splits`). No other district is named.
* **projection** — for metrics with a direction, next year's value (report year + 1) from an
  ordinary least-squares line through the district's own last (up to 6) yearly values, when
  there are at least 4 and the newest is at most one year old, with an 80% prediction interval
  (Student t); marked as a projection, clamped to 0–100 for percentages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from benchmarking_assets.core.catalog import PUBLIC_BY_NAME, PUBLIC_METRICS, Metric
from benchmarking_assets.core.reports.content import TREND_COLUMN, MetricRow, ReportData

SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2, "info": 3}
MATERIAL = {"pts": 2.0, "change": 1.0, "% change": 5.0, "% change in count": 5.0}
MIN_PROJECTION_POINTS = 4
PROJECTION_WINDOW = 6
CONTEXT = ("expenditure_pp", "student_teacher_ratio", "absenteeism", "swd_pct", "ell_pct")
# two-sided 80% interval: t quantile 0.90 by degrees of freedom (beyond 30: normal 1.282)
T90 = {
    1: 3.078,
    2: 1.886,
    3: 1.638,
    4: 1.533,
    5: 1.476,
    6: 1.440,
    7: 1.415,
    8: 1.397,
    9: 1.383,
    10: 1.372,
    15: 1.341,
    20: 1.325,
    30: 1.310,
}


@dataclass(frozen=True)
class Insight:
    kind: str
    metric: str
    severity: str
    title: str
    detail: str
    numbers: dict[str, Any] = field(default_factory=dict)


def fmt(value: float | None, info: Metric | None = None, signed: bool = False) -> str:
    """A value as a superintendent reads it: ``$12,345``, ``45.2%``, ``18.3``; with ``signed``
    a difference: ``+$1,200``, ``−2.1 pts`` (points for percentages)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    unit = info.unit if info is not None else ""
    body = f"${abs(value):,.0f}" if unit == "$" else f"{abs(value):,.1f}"
    if unit == "%":
        body += " pts" if signed else "%"
    sign = "−" if value < 0 and round(abs(value), 1) > 0 else "+" if signed and value > 0 else ""
    return sign + body


def _favourable(info: Metric, diff: float) -> bool:
    return diff > 0 if info.direction == "higher_is_better" else diff < 0


def _severity(size: float, medium: float, high: float) -> str:
    return "high" if size >= high else "medium" if size >= medium else "low"


def _peer_insight(row: MetricRow) -> Insight | None:
    info, peer = row.info, row.peer
    if info.direction == "neutral" or row.value is None or peer is None:
        return None
    if peer.median is None or not peer.std:
        return None
    diff = row.value - peer.median
    z = diff / peer.std
    if abs(z) < 0.25:
        return None
    good = _favourable(info, diff)
    pct = row.percentile_rank
    fav_pct = None if pct is None else (pct if info.direction == "higher_is_better" else 100 - pct)
    if good and (fav_pct is None or fav_pct < 75):
        return None
    numbers = {
        "value": row.value,
        "peer_median": peer.median,
        "difference": diff,
        "z": z,
        "peer_n": peer.n,
        "percentile_among_peers": pct,
        "state_average": row.state_avg,
        "vs_state": row.vs_state,
        "quartile_in_state": row.quartile_state,
        "data_year": row.data_year,
    }
    where = "above" if diff > 0 else "below"
    pct_text = f", percentile {pct:.0f} among {peer.n} peers" if pct is not None else ""
    detail = (
        f"{info.label} {fmt(row.value, info)} is {fmt(abs(diff), info, True)[1:]} {where} "
        "the peer median "
        f"{fmt(peer.median, info)} ({abs(z):.1f} peer standard deviations{pct_text}); "
        f"state average {fmt(row.state_avg, info)}."
    )
    kind = "strength" if good else "gap"
    title = f"{'Strength' if good else 'Gap'}: {info.label.lower()} {where} peers"
    return Insight(kind, info.name, _severity(abs(z), 0.5, 1.0), title, detail, numbers)


def _trend_insight(row: MetricRow) -> Insight | None:
    info, change = row.info, row.trend_3yr
    if info.direction == "neutral" or change is None:
        return None
    threshold = MATERIAL[info.trend.unit]
    if abs(change) < threshold:
        return None
    good = _favourable(info, change)
    unit = " pts" if info.trend.unit == "pts" else "%" if "%" in info.trend.unit else ""
    detail = (
        f"{info.label} changed by {fmt(change, signed=True)}{unit} over 3 years to "
        f"{row.data_year} ({'an improvement' if good else 'a decline'}; materiality threshold "
        f"{threshold:g}{unit})."
    )
    numbers = {
        "change_3yr": change,
        "threshold": threshold,
        "value": row.value,
        "data_year": row.data_year,
    }
    severity = _severity(abs(change) / threshold, 1.5, 3.0)
    kind = "improving" if good else "declining"
    return Insight(kind, info.name, severity, f"{info.label} {kind}", detail, numbers)


@dataclass(frozen=True)
class ImproverSplit:
    """One published split of a cohort's cell on context metric ``context``: the members whose
    ``metric`` improved most (``top``) against all the cell's other members (``others``)."""

    metric: str  # the trend metric
    context: str
    top_n: int
    others_n: int
    others_without_trend: int
    top_change: float
    top_mean: float
    others_mean: float
    gap_sd: float
    top: frozenset[str] = frozenset()  # the members behind top_mean (never published)


def plan_improver_splits(
    members: pl.DataFrame, published_n: dict[str, int], k: int
) -> dict[str, ImproverSplit]:
    """The "what improving peers look like" splits of one cohort and year (finding 6).

    Computed once per cohort from the cohort alone, so every member's report shows the same.
    For context metric c the universe is exactly the member set behind the published
    ``cohort_benchmarks`` cell (the members with a value of c; ``published_n[c]`` must match,
    else c is not used): it is split into the first half of its members with a trend, ranked by
    how favourably the trend moved (ties by leaid), and *all* the others — members without a
    trend included. Both parts must hold ≥ k districts, and each c is split at most once (trend
    metrics claim context metrics in report order). So the published aggregates on c are the
    cell, one part and its complement: every linear combination of them covers a union of
    parts, never fewer than k districts. The trend's mean is published over ``top`` only.
    """
    splits: dict[str, ImproverSplit] = {}
    claimed: set[str] = set()
    for info in PUBLIC_METRICS:
        trend = TREND_COLUMN[info.name]
        if info.direction == "neutral" or trend not in members.columns:
            continue
        best: ImproverSplit | None = None
        for c in CONTEXT:
            if c == info.name or c in claimed or c not in members.columns:
                continue
            cell = members.filter(pl.col(c).is_not_null())
            if cell.height != published_n.get(c, -1) or cell.height < 2 * k:
                continue
            ranked = cell.filter(pl.col(trend).is_not_null()).sort(
                [trend, "leaid"], descending=[info.direction == "higher_is_better", False]
            )
            top = ranked.head(ranked.height // 2)
            others = cell.join(top.select("leaid"), on="leaid", how="anti")
            sd = cell[c].std()
            if top.height < k or others.height < k or not sd:
                continue
            gap = abs(top[c].mean() - others[c].mean()) / sd  # type: ignore[operator]
            if best is None or gap > best.gap_sd:
                best = ImproverSplit(
                    info.name, c, top.height, others.height,
                    int(others[trend].null_count()), float(top[trend].mean()),  # type: ignore[arg-type]
                    float(top[c].mean()), float(others[c].mean()), gap,  # type: ignore[arg-type]
                    frozenset(top["leaid"].to_list()),
                )  # fmt: skip
        if best is not None and best.gap_sd >= 0.2:
            splits[info.name] = best
            claimed.add(best.context)
    return splits


def _improvers(row: MetricRow, split: ImproverSplit | None) -> Insight | None:
    """How the peers whose metric improved most differ, in aggregate (see
    :func:`plan_improver_splits`)."""
    if split is None:
        return None
    info, ctx = row.info, PUBLIC_BY_NAME[split.context]
    without = (
        f" ({split.others_without_trend} of them without a 3-year value)"
        if split.others_without_trend
        else ""
    )
    detail = (
        f"In your peer group, the {split.top_n} districts whose {info.label.lower()} improved "
        f"most (mean 3-year change {fmt(split.top_change, signed=True)}) averaged "
        f"{fmt(split.top_mean, ctx)} for {ctx.label}, against {fmt(split.others_mean, ctx)} for "
        f"the other {split.others_n}{without}. Aggregates only; an association, not a cause."
    )
    numbers = {
        "improvers_n": split.top_n,
        "others_n": split.others_n,
        "improvers_mean_change": split.top_change,
        "context_metric": split.context,
        "improvers_mean": split.top_mean,
        "others_mean": split.others_mean,
        "difference_in_sd": split.gap_sd,
    }
    title = f"What improving peers look like: {info.label.lower()}"
    return Insight("peer_improvers", info.name, "info", title, detail, numbers)


def _t90(df: int) -> float:
    keys = [d for d in T90 if d <= df]
    return T90[max(keys)] if df <= 30 else 1.282


def project(years: list[int], values: list[float], target: int) -> dict[str, float] | None:
    """OLS line through (year, value); prediction at ``target`` with an 80% interval."""
    n = len(years)
    if n < MIN_PROJECTION_POINTS:
        return None
    mx, my = sum(years) / n, sum(values) / n
    sxx = sum((x - mx) ** 2 for x in years)
    if sxx == 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(years, values, strict=True)) / sxx
    intercept = my - slope * mx
    resid = [y - (intercept + slope * x) for x, y in zip(years, values, strict=True)]
    s = math.sqrt(sum(r * r for r in resid) / (n - 2))
    se = s * math.sqrt(1 + 1 / n + (target - mx) ** 2 / sxx)
    point = intercept + slope * target
    half = _t90(n - 2) * se
    return {
        "point": point,
        "lower": point - half,
        "upper": point + half,
        "slope": slope,
        "points": n,
        "residual_sd": s,
    }


def _projection(row: MetricRow, trends: pl.DataFrame, year: int) -> Insight | None:
    info = row.info
    own = trends.filter(
        (pl.col("metric") == info.name)
        & (pl.col("series") == "district")
        & (pl.col("year") <= year)
    ).sort("year")
    own = own.tail(PROJECTION_WINDOW)
    if info.direction == "neutral" or own.height < MIN_PROJECTION_POINTS:
        return None
    if row.data_year is None or row.data_year < year - 1:  # too stale to project next year
        return None
    target = year + 1
    p = project(own["year"].to_list(), own["value"].to_list(), target)
    if p is None:
        return None
    if info.unit == "%":
        p |= {k: min(100.0, max(0.0, p[k])) for k in ("point", "lower", "upper")}
    detail = (
        f"Projection, not a forecast of policy effects: if {info.label.lower()} follows its own "
        f"{p['points']}-year line, {target} would be about {fmt(p['point'], info)} "
        f"(80% prediction interval {fmt(p['lower'], info)} to {fmt(p['upper'], info)})."
    )
    numbers = {"projected_year": target, **p}
    title = f"Projection: {info.label.lower()} in {target}"
    return Insight("projection", info.name, "info", title, detail, numbers)


def derive_insights(
    report: ReportData, peer_members: pl.DataFrame, cohort_stats: pl.DataFrame | None = None
) -> list[Insight]:
    """All insights of a report, most important first (deterministic order).

    ``cohort_stats`` (the published ``cohort_benchmarks`` cells) is what the peer-improver
    splits must match; without it there is no peer-improver insight.
    """
    out: list[Insight] = []
    splits: dict[str, ImproverSplit] = {}
    if report.cohort and cohort_stats is not None:
        cohort_id = report.cohort.cohort_id
        members = peer_members.filter(pl.col("cohort_id") == cohort_id)
        cells = cohort_stats.filter(
            (pl.col("cohort_id") == cohort_id) & (pl.col("year") == report.year)
        )
        published_n = dict(zip(cells["metric"], cells["n"], strict=True))
        splits = plan_improver_splits(members, published_n, report.k)
    for row in report.metrics:
        for found in (
            _peer_insight(row),
            _trend_insight(row),
            _improvers(row, splits.get(row.info.name)),
            _projection(row, report.trends, report.year),
        ):
            if found is not None:
                out.append(found)
    kinds = ("gap", "declining", "strength", "improving", "peer_improvers", "projection")
    order = {k: i for i, k in enumerate(kinds)}

    def key(i: Insight) -> tuple:
        size = abs(i.numbers.get("z") or 0) + abs(i.numbers.get("change_3yr") or 0) / 100
        return (SEVERITY_ORDER[i.severity], order[i.kind], -size, i.metric)

    return sorted(out, key=key)
