"""Deterministic, explainable insights for one district's report (pure; no Dagster, no AI).

Every insight carries a ``severity`` (``high``, ``medium``, ``low``, ``info``: how large), a
``tone`` (``better`` or ``worse`` for students, by the metric's catalog ``direction``, or
``neutral``: which colour a page gives it) and the numbers behind it, so a reader can check it
by hand. The rules:

* **gap** — for metrics with a direction (graduation, proficiency, absenteeism, students per
  teacher), an unfavourable difference from the peer median, standardised by the peer standard
  deviation: z = (value − median) / std. ``high`` when |z| ≥ 1, ``medium`` when ≥ 0.5, else
  ``low``; only gaps with |z| ≥ 0.25 are kept, largest first. The numbers include the percentile
  among peers, the state average and the difference from it.
* **strength** — the same test for a favourable difference, kept when the percentile among
  peers is ≥ 75 (favourable side).
* **improving** / **declining** — the 3-year trend of ``district_benchmarks`` against a
  materiality threshold per unit (:data:`MATERIAL`): ``high`` at 3×, ``medium`` at 1.5×. The
  text names the two years compared and their values, with the change's unit.
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

**One story per metric** (:func:`metric_story`): the position against peers, the 3-year change
and the projection are read together. When the projection's line points the other way from the
3-year change (the line also weighs the years before the change's first year), both the trend
and the projection insight say so and why, with the earliest value on the line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from benchmarking_assets.core.catalog import PUBLIC_BY_NAME, PUBLIC_METRICS, Metric
from benchmarking_assets.core.reports.content import TREND_COLUMN, MetricRow, ReportData, fmt

Tone = str  # "better" | "worse" | "neutral"

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
    tone: Tone = "neutral"  # better or worse for students (catalog direction), else neutral


def change_text(value: float | None, info: Metric) -> str:
    """A 3-year change with its unit: ``+1.0 pts``, ``−0.3 students``, ``+6.2%``,
    ``+9.6% in count`` (the catalog's ``Trend.unit``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or info.trend is None:
        return "n/a"
    sign = "−" if value < 0 and round(abs(value), 1) > 0 else "+" if value > 0 else ""
    return f"{sign}{abs(value):,.1f}{info.trend.suffix(info.unit)}"


def _favourable(info: Metric, diff: float) -> bool:
    return diff > 0 if info.direction == "higher_is_better" else diff < 0


def tone_of(info: Metric, diff: float | None) -> Tone:
    """``better`` / ``worse`` for students when the metric has a direction, else ``neutral``."""
    if info.direction == "neutral" or diff is None or diff == 0:
        return "neutral"
    return "better" if _favourable(info, diff) else "worse"


def _severity(size: float, medium: float, high: float) -> str:
    return "high" if size >= high else "medium" if size >= medium else "low"


def _peers_phrase(row: MetricRow, report_year: int | None) -> str:
    """``among the 51 peer districts with a 2019 value`` (+ which year's group, if not the
    report's)."""
    peer = row.peer
    if peer is None:
        return ""
    text = f"among the {peer.n} peer districts with a value"
    if report_year is not None and row.data_year is not None and row.data_year != report_year:
        size = f", {row.peer_group.size:,} districts" if row.peer_group else ""
        text += f" in the {row.data_year} peer group{size}"
    return text


def _peer_insight(row: MetricRow, report_year: int | None = None) -> Insight | None:
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
        "peer_group_year": row.peer_group.year if row.peer_group else row.data_year,
        "peer_group_size": row.peer_group.size if row.peer_group else None,
    }
    where = "above" if diff > 0 else "below"
    pct_text = (
        f", percentile {pct:.0f} {_peers_phrase(row, report_year)}" if pct is not None else ""
    )
    detail = (
        f"{info.label} {fmt(row.value, info)} ({row.data_year}) is "
        f"{fmt(abs(diff), info, True)[1:]} {where} the peer median {fmt(peer.median, info)} "
        f"({abs(z):.1f} peer standard deviations{pct_text}); state average "
        f"{fmt(row.state_avg, info)}; {'better' if good else 'worse'} for students, as "
        f"{'higher' if info.direction == 'higher_is_better' else 'lower'} is better."
    )
    kind = "strength" if good else "gap"
    title = f"{'Strength' if good else 'Gap'}: {info.label.lower()} {where} peers"
    tone = "better" if good else "worse"
    return Insight(kind, info.name, _severity(abs(z), 0.5, 1.0), title, detail, numbers, tone)


def _district_value(trends: pl.DataFrame | None, metric: str, year: int) -> float | None:
    if trends is None or trends.height == 0:
        return None
    found = trends.filter(
        (pl.col("metric") == metric) & (pl.col("series") == "district") & (pl.col("year") == year)
    )
    return found["value"][0] if found.height else None


def _trend_insight(
    row: MetricRow, trends: pl.DataFrame | None = None, story: MetricStory | None = None
) -> Insight | None:
    info, change = row.info, row.trend_3yr
    if info.direction == "neutral" or change is None:
        return None
    threshold = MATERIAL[info.trend.unit]
    if abs(change) < threshold:
        return None
    good = _favourable(info, change)
    span = ""
    if row.change_years:
        y0, y1 = row.change_years
        v0 = _district_value(trends, info.name, y0)
        values = f" ({fmt(v0, info)} to {fmt(row.value, info)})" if v0 is not None else ""
        span = f" from {y0} to {y1}{values}"
    else:
        span = f" over 3 years to {row.data_year}"
    detail = (
        f"{info.label} changed by {change_text(change, info)}{span}: "
        f"{'an improvement' if good else 'a decline'} for students; materiality threshold "
        f"{threshold:g}{info.trend.suffix(info.unit)}."
    )
    if story is not None and story.disagreement:
        detail += " " + story.disagreement
    numbers = {
        "change_3yr": change,
        "threshold": threshold,
        "value": row.value,
        "data_year": row.data_year,
    }
    if row.change_years:
        numbers["change_from_year"] = row.change_years[0]
    severity = _severity(abs(change) / threshold, 1.5, 3.0)
    kind = "improving" if good else "declining"
    tone = "better" if good else "worse"
    return Insight(kind, info.name, severity, f"{info.label} {kind}", detail, numbers, tone)


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


def _fit(row: MetricRow, trends: pl.DataFrame, year: int) -> dict[str, Any] | None:
    """The projection of a metric with a direction to ``year + 1`` (see the module notes)."""
    info = row.info
    own = trends.filter(
        (pl.col("metric") == info.name)
        & (pl.col("series") == "district")
        & (pl.col("year") <= year)
    ).sort("year")
    own = own.tail(PROJECTION_WINDOW)
    if info.direction == "neutral" or own.height < MIN_PROJECTION_POINTS:
        return None
    if row.data_year is None or row.value is None or row.data_year < year - 1:
        return None  # too stale to project next year
    target = year + 1
    years, values = own["year"].to_list(), own["value"].to_list()
    p = project(years, values, target)
    if p is None:
        return None
    if info.unit == "%":
        p |= {k: min(100.0, max(0.0, p[k])) for k in ("point", "lower", "upper")}
    low, high = values.index(min(values)), values.index(max(values))
    return p | {
        "projected_year": target,
        "first_year": years[0],
        "first_value": values[0],
        "last_year": years[-1],
        "last_value": values[-1],
        "lowest_year": years[low],
        "lowest_value": values[low],
        "highest_year": years[high],
        "highest_value": values[high],
    }


@dataclass(frozen=True)
class MetricStory:
    """How one metric reads, in one place: position, change, projection, and whether they
    agree (a sentence explains it when they do not)."""

    metric: str
    position: str  # "better than the peer median", "context only", "no value"
    change: str  # "+5.0 pts from 2017 to 2020, an improvement", or ""
    projection: dict[str, Any] | None
    disagreement: str  # why the change and the projection point different ways, or ""
    verdict: str  # a short line for the summary table: "worse than peers; improving"
    tone: Tone  # better / worse / neutral for the position against peers


def metric_story(row: MetricRow, trends: pl.DataFrame, year: int) -> MetricStory:
    info = row.info
    peer = row.peer
    if row.value is None:
        position, tone = "no value for your district", "neutral"
    elif peer is None or peer.median is None:
        position, tone = "no published peer comparison", "neutral"
    elif info.direction == "neutral":
        where = "above" if row.value > peer.median else "below"
        position, tone = f"{where} the peer median (context: neither is better)", "neutral"
    else:
        diff = row.value - peer.median
        close = peer.std and abs(diff) / peer.std < 0.25
        tone = "neutral" if close or diff == 0 else tone_of(info, diff)
        position = {
            "neutral": "close to the peer median",
            "better": "better than the peer median",
            "worse": "worse than the peer median",
        }[tone]
    change = ""
    moving = ""
    if row.trend_3yr is not None and info.trend is not None:
        span = f" from {row.change_years[0]} to {row.change_years[1]}" if row.change_years else ""
        change = f"{change_text(row.trend_3yr, info)}{span}"
        if info.trend.kind == "latest_two_observations":
            change += " (its latest two surveys)"
        if info.direction != "neutral":
            material = abs(row.trend_3yr) >= MATERIAL[info.trend.unit]
            moving = (
                "little change"
                if not material
                else "improving"
                if _favourable(info, row.trend_3yr)
                else "declining"
            )
            change += f", {moving}" if material else ", little change"
    p = _fit(row, trends, year)
    material = moving not in ("", "little change")
    disagreement = _disagreement(row, p, trends) if p is not None and material else ""
    short = {
        "better than the peer median": "better than peers",
        "worse than the peer median": "worse than peers",
        "close to the peer median": "close to peers",
    }.get(position, "")
    if info.direction == "neutral":
        short = "context only"
    elif row.value is None:
        short = "no value"
    elif not short:
        short = "no peer comparison"
    verdict = "; ".join(x for x in (short, moving) if x)
    return MetricStory(info.name, position, change, p, disagreement, verdict, tone)


def per_year(value: float, unit: str) -> str:
    """A slope: ``+0.5 pts a year``, never ``-0.0``."""
    text = f"{value:+.1f}"
    return f"{'0.0' if text in ('+0.0', '-0.0') else text}{unit} a year"


def _disagreement(row: MetricRow, p: dict[str, Any], trends: pl.DataFrame | None = None) -> str:
    """Why a material 3-year change and the projection point different ways, or ""."""
    info, change = row.info, row.trend_3yr
    if change is None or info.trend is None:
        return ""
    ahead = p["point"] - p["last_value"]
    if abs(ahead) < MATERIAL[info.trend.unit] / 2 or (ahead > 0) == (change > 0):
        return ""
    since = row.change_years[0] if row.change_years else p["last_year"] - 3
    before = _district_value(trends, info.name, since)
    was = f" ({fmt(before, info)})" if before is not None else ""
    text = (
        f"The 3-year change and the projection point different ways. The change compares "
        f"{since}{was} with {p['last_year']} ({fmt(p['last_value'], info)}) only; the "
        f"projection follows the straight line fitted through all {p['points']} values from "
        f"{p['first_year']} to {p['last_year']} (lowest {fmt(p['lowest_value'], info)} in "
        f"{p['lowest_year']}, highest {fmt(p['highest_value'], info)} in {p['highest_year']}), "
        f"which moves {per_year(p['slope'], info.trend.suffix(info.unit))}"
    )
    if (p["slope"] > 0) == (change > 0):  # same slope sign: the newest value is off the line
        text += (
            f" and passes {'below' if ahead < 0 else 'above'} the newest value, so the "
            f"projected {p['projected_year']} value is {'lower' if ahead < 0 else 'higher'}"
        )
    return text + ". The change is the recent direction, the line the longer one."


def _projection(
    row: MetricRow, trends: pl.DataFrame, year: int, story: MetricStory | None = None
) -> Insight | None:
    info = row.info
    p = story.projection if story is not None else _fit(row, trends, year)
    if p is None:
        return None
    target = p["projected_year"]
    unit = info.trend.suffix(info.unit) if info.trend else ""
    ahead = target - p["last_year"]
    detail = (
        f"Projection, not a forecast of policy effects: if {info.label.lower()} follows the "
        f"straight line through its {p['points']} yearly values from {p['first_year']} to "
        f"{p['last_year']} ({per_year(p['slope'], unit)}), {target} would be about "
        f"{fmt(p['point'], info)} (80% prediction interval {fmt(p['lower'], info)} to "
        f"{fmt(p['upper'], info)})"
        + (
            f", {ahead} years after the newest value ({fmt(p['last_value'], info)})"
            if ahead > 1
            else ""
        )
        + "."
    )
    if story is not None and story.disagreement:
        detail += " " + story.disagreement
    numbers = {k: v for k, v in p.items()}
    title = f"Projection: {info.label.lower()} in {target}"
    return Insight("projection", info.name, "info", title, detail, numbers, "neutral")


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
        story = metric_story(row, report.trends, report.year)
        for found in (
            _peer_insight(row, report.year),
            _trend_insight(row, report.trends, story),
            _improvers(row, splits.get(row.info.name)),
            _projection(row, report.trends, report.year, story),
        ):
            if found is not None:
                out.append(found)
    kinds = ("gap", "declining", "strength", "improving", "peer_improvers", "projection")
    order = {k: i for i, k in enumerate(kinds)}

    def key(i: Insight) -> tuple:
        size = abs(i.numbers.get("z") or 0) + abs(i.numbers.get("change_3yr") or 0) / 100
        return (SEVERITY_ORDER[i.severity], order[i.kind], -size, i.metric)

    return sorted(out, key=key)
