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

import math
from dataclasses import dataclass, field

import polars as pl

from benchmarking_assets.core.catalog import (
    CATEGORIES,
    PRIVATE_BY_NAME,
    PUBLIC_METRICS,
    PUBLIC_NAMES,
    TREND_YEARS,
    Metric,
)
from benchmarking_assets.core.geography import STATE_BY_CODE
from benchmarking_assets.core.peer_groups import SIZE_LIMITS

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
QUARTER_NOTE = (
    "Position among the state's districts ranks the raw value among the state's districts, each "
    "counted once, whatever is better for students; the state average weights districts by "
    "enrollment, so a district can be above the state average and still in a lower quarter."
)
QUARTER_TEXT = {
    "well_below": "lowest 25%",
    "below": "25-50%",
    "above": "50-75%",
    "well_above": "highest 25%",
}
"""Where a raw value sits among the state's districts (``district_benchmarks`` quartiles)."""
PEER_LIST_NOTE = (
    "The peer group is built only from public NCES data (size, locale, FRL share, grades, "
    "geography) and lists every district of the group, taking part in benchmarking or not; it "
    "says nothing about who shares private platform data."
)

# What a peer-group criterion value means, for a reader (docs/reports.md).
_SIZE_TEXT = {
    "small": f"fewer than {SIZE_LIMITS[0]:,} students",
    "medium": f"{SIZE_LIMITS[0]:,} to {SIZE_LIMITS[1] - 1:,} students",
    "large": f"{SIZE_LIMITS[1]:,} to {SIZE_LIMITS[2] - 1:,} students",
    "very_large": f"{SIZE_LIMITS[2]:,} students or more",
    "unknown": "no reported enrollment",
}
_LOCALE_TEXT = {
    "city": "in a city",
    "suburb": "in a suburb",
    "town": "in a town",
    "rural": "in a rural area",
    "unknown": "with no reported locale",
}
_FRL_TEXT = {
    "q1": "the lowest national quarter",
    "q2": "the second national quarter",
    "q3": "the third national quarter",
    "q4": "the highest national quarter",
}
_GRADE_TEXT = {
    "elementary": "teaching elementary grades only (up to grade 8)",
    "secondary": "teaching secondary grades only (from grade 6 or later)",
    "unified": "teaching elementary through high school",
    "unknown": "with no reported grade span",
}
_CRITERION_NAME = {
    "state_code": "state",
    "region": "census region",
    "size_band": "size",
    "locale": "locale",
    "frl_band": "FRL share",
    "grade_span": "grade span",
}
LOCALE_CODES = {
    11: "City: large", 12: "City: midsize", 13: "City: small",
    21: "Suburb: large", 22: "Suburb: midsize", 23: "Suburb: small",
    31: "Town: fringe", 32: "Town: distant", 33: "Town: remote",
    41: "Rural: fringe", 42: "Rural: distant", 43: "Rural: remote",
}  # fmt: skip
SOURCE_CODE_TEXT = {
    -1: "missing in the source",
    -2: "reported by the source as not applicable",
    -3: "suppressed by the source (too few students to publish)",
}
_INPUT_TEXT = {
    "enrollment": "enrollment",
    "teachers_fte": "teacher count",
    "spec_ed_students": "count of students with disabilities",
    "ell_students": "count of English learners",
}
SCHOOLS_NOT_AVAILABLE = "not in this data set (the pipeline loads district totals only)"


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
class Cohort:
    """A district's public peer group of one year, described by what was actually matched."""

    cohort_id: str
    size: int
    ladder_step: str
    in_state: bool
    description: str  # "85 districts: those in California with …" (see describe_group)
    year: int = 0
    matched: tuple[str, ...] = ()  # the criteria this group shares, as a reader reads them
    not_matched: tuple[str, ...] = ()  # criteria dropped to reach k districts
    merged_leftover: bool = False  # the district was added to a group it does not fully match


@dataclass(frozen=True)
class MetricRow:
    info: Metric
    # The year of the value: the newest year ≤ the report year (within MAX_LAG) with a district
    # value, else with a state average (then ``value`` is None and ``missing_reason`` says why).
    data_year: int | None
    value: float | None
    state_avg: float | None
    national_avg: float | None
    vs_state: float | None
    vs_national: float | None
    quartile_state: str | None
    trend_3yr: float | None
    peer: PeerStats | None  # None: suppressed (n < k) or no value
    percentile_rank: float | None  # within the peer cohort (mid-rank), published cells only
    peer_group: Cohort | None = None  # the peer group of data_year (its stats are compared)
    missing_reason: str | None = None  # why the district has no value, when it has none
    change_years: tuple[int, int] | None = None  # the two years the 3-year change compares


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
class DistrictProfile:
    """What NCES district profiles open with, from ``district_data_history`` (public)."""

    year: int
    enrollment: int | None
    teachers_fte: float | None
    frl_pct: float | None
    locale: str  # "Rural: distant", or "not reported"
    grades: str  # "PK–12", or "not reported"
    schools: str = SCHOOLS_NOT_AVAILABLE


@dataclass(frozen=True)
class PeerDistrict:
    leaid: str
    name: str
    state_code: str
    enrollment: int | None


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
    profile: DistrictProfile | None = None
    peer_districts: tuple[PeerDistrict, ...] = ()  # the report year's public peer group

    @property
    def suppressed(self) -> list[str]:
        """Metrics with a district value but no published peer statistics."""
        return [m.info.name for m in self.metrics if m.value is not None and m.peer is None]

    @property
    def private_epsilons(self) -> list[float]:
        return sorted({p.epsilon for p in self.private})

    @property
    def other_groups(self) -> list[Cohort]:
        """The peer groups of other years that some comparison uses, oldest first."""
        own = self.cohort.year if self.cohort else None
        found = {
            m.peer_group.year: m.peer_group
            for m in self.metrics
            if m.peer_group is not None and m.peer_group.year != own
        }
        return [found[y] for y in sorted(found)]


@dataclass(frozen=True)
class ReportFrames:
    """Everything the reports of one year need, for a set of districts."""

    year: int
    k: int
    districts: pl.DataFrame  # district_benchmarks rows (years ≤ year) of the districts
    names: pl.DataFrame  # leaid, year, lea_name, state_code (+ profile columns, when read)
    states: pl.DataFrame  # state_benchmarks rows (their states and US, years ≤ year)
    cohorts: pl.DataFrame  # peer_cohorts rows of the districts (years ≤ year)
    cohort_stats: pl.DataFrame  # cohort_benchmarks rows of those cohorts
    percentiles: pl.DataFrame  # participant_percentiles of the districts, the year
    private: pl.DataFrame  # published private cells each district may see, + own value
    participants: pl.DataFrame  # benchmark_participants rows
    peer_members: pl.DataFrame  # cohort_id, leaid + public values/trends of members, the year
    budget: pl.DataFrame | None = None  # leaid, year, category, epsilon_spent, draws
    budget_limit: float | None = None  # PRIVACY_BUDGET_PER_DISTRICT
    # leaid, year, column_name, code: why a value is NULL (district_data_codes), last years
    codes: pl.DataFrame = field(default_factory=pl.DataFrame)
    # cohort_id, leaid, lea_name, state_code, enrollment: the report year's public peer groups
    peer_directory: pl.DataFrame = field(default_factory=pl.DataFrame)


def _region_text(region: str) -> str:
    return "an unknown census region" if region == "unknown" else f"the {region} census region"


def describe_group(
    cohort_id: str, size: int, year: int, ladder_step: str = "", merged: bool = False
) -> Cohort:
    """A peer group as a reader reads it, from what its id says was matched.

    ``L3:region=West|size_band=small|locale=rural`` (the ladder step and the matched key of
    :mod:`benchmarking_assets.core.peer_groups`) → "85 districts: those in the West census
    region with fewer than 2,500 students, in a rural area, not placed in a narrower group".
    A district's own traits that were not matched are listed as not matched, never described
    as shared.
    """
    _, _, body = cohort_id.partition(":")
    keys: dict[str, str] = {}
    if body and body != "national":
        for part in body.split("|"):
            name, _, value = part.partition("=")
            keys[name] = value
    matched: list[str] = []
    where = ""
    if "state_code" in keys:
        state = STATE_BY_CODE.get(keys["state_code"])
        where = f"in {state.name if state else keys['state_code']}"
    elif "region" in keys:
        where = f"in {_region_text(keys['region'])}"
    if where:
        matched.append(where)
    if "size_band" in keys:
        matched.append(f"with {_SIZE_TEXT.get(keys['size_band'], keys['size_band'])}")
    if "locale" in keys:
        matched.append(_LOCALE_TEXT.get(keys["locale"], keys["locale"]))
    if "frl_band" in keys:
        band = keys["frl_band"]
        matched.append(
            "with a share of students eligible for free or reduced-price lunch (FRL) in "
            + _FRL_TEXT[band]
            if band in _FRL_TEXT
            else "with no reported FRL share"
        )
    if "grade_span" in keys:
        matched.append(_GRADE_TEXT.get(keys["grade_span"], keys["grade_span"]))
    not_matched = [
        _CRITERION_NAME[c]
        for c in ("state_code", "size_band", "locale", "frl_band", "grade_span")
        if c not in keys and not (c == "state_code" and "region" in keys)
    ]
    if "region" in keys:
        not_matched.insert(0, "state (widened to the census region)")
    finer = not cohort_id.startswith("L0:")  # later steps take what finer steps left
    text = f"{size:,} districts: " + (
        "those " + ", ".join(matched) if matched else "districts from the whole nation"
    )
    if finer:
        text += ", not placed in a narrower group"
    text += "."
    if not_matched:
        text += " Not matched (widened to reach the minimum group size): "
        text += ", ".join(not_matched) + "."
    if merged:
        text += (
            " Your district was added to this group because too few districts like it were "
            "left for a group of their own, so it does not share every criterion above."
        )
    return Cohort(
        cohort_id,
        size,
        ladder_step,
        "state_code" in keys,
        text,
        year,
        tuple(matched),
        tuple(not_matched),
        merged,
    )


def _cohort_of(row: dict) -> Cohort:
    return describe_group(
        row["cohort_id"],
        row["cohort_size"],
        row["year"],
        row["ladder_step"],
        bool(row.get("merged_leftover") or 0),
    )


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


def grade_text(low: int | None, high: int | None) -> str:
    """``PK–12``, ``K–8``, ``9–12`` (−1 = pre-kindergarten, 0 = kindergarten)."""
    if low is None or high is None:
        return "not reported"

    def one(g: int) -> str:
        return "PK" if g < 0 else "K" if g == 0 else str(g)

    return one(low) if low == high else f"{one(low)}–{one(high)}"


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
    groups = {row["year"]: _cohort_of(row) for row in mine.iter_rows(named=True)}
    cohort = groups.get(year)
    stats = frames.cohort_stats.join(mine.select("year", "cohort_id"), on=["year", "cohort_id"])
    ranks = frames.percentiles.filter(pl.col("leaid") == leaid)
    trends = _trends(frames, leaid, state, stats)
    codes = frames.codes.filter(pl.col("leaid") == leaid) if frames.codes.height else frames.codes
    rows = [
        _metric_row(frames, info, own, stats, ranks, state, groups, name_rows, codes, trends)
        for info in PUBLIC_METRICS
    ]
    part = _one(frames.participants.filter(pl.col("leaid") == leaid)) or {}
    shared = tuple(c for c in CATEGORIES if part.get(f"shares_{c}"))
    private = private_rows(frames, leaid, shared)
    name = ident["lea_name"] or leaid
    return ReportData(
        leaid,
        year,
        name,
        state,
        frames.k,
        cohort,
        rows,
        trends,
        private,
        shared,
        generated_at,
        budget=budget_rows(frames, leaid),
        profile=_profile(name_rows),
        peer_districts=_peer_districts(frames, cohort),
    )


def private_rows(frames: ReportFrames, leaid: str, shared: tuple[str, ...]) -> list[PrivateRow]:
    """The district's private metrics: only categories it shares itself (reciprocity), only
    published rows of its own group (n ≥ k), each with its margin and its group's label; label
    and unit from the catalog."""
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
            r["category"], r["metric"], PRIVATE_BY_NAME[r["metric"]].label,
            PRIVATE_BY_NAME[r["metric"]].unit, r["value"], r["dp_mean"], r["n"], r["epsilon"],
            r["margin_90"], r["group_label"], r["status"], r["status_reason"], r["released_at"],
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


def _profile(name_rows: pl.DataFrame) -> DistrictProfile | None:
    """The district's newest directory row (enrollment, FRL %, locale, grades)."""
    if "enrollment" not in name_rows.columns:
        return None
    row = name_rows.row(-1, named=True)
    enrollment, frl = row.get("enrollment"), row.get("frl_students")
    frl_pct = frl / enrollment * 100 if frl is not None and enrollment else None
    locale = LOCALE_CODES.get(row.get("urban_centric_locale") or 0, "not reported")
    return DistrictProfile(
        row["year"],
        enrollment,
        row.get("teachers_fte"),
        frl_pct,
        locale,
        grade_text(row.get("lowest_grade"), row.get("highest_grade")),
    )


def _peer_districts(frames: ReportFrames, cohort: Cohort | None) -> tuple[PeerDistrict, ...]:
    if cohort is None or frames.peer_directory.height == 0:
        return ()
    members = frames.peer_directory.filter(pl.col("cohort_id") == cohort.cohort_id)
    return tuple(
        PeerDistrict(r["leaid"], r["lea_name"] or r["leaid"], r["state_code"], r["enrollment"])
        for r in members.sort("state_code", "lea_name", "leaid", nulls_last=True).iter_rows(
            named=True
        )
    )


def _missing_reason(info: Metric, year: int, history: pl.DataFrame, codes: pl.DataFrame) -> str:
    """Why the district has no value of ``info`` in ``year``: its grades, or the source's
    missing-data code (``district_data_codes``), or no row at all."""
    row = _one(history.filter(pl.col("year") == year))
    if row is None:
        return f"your district is not in the {year} data"
    high = row.get("highest_grade")
    if info.name == "graduation" and high is not None and high < 12:
        grades = grade_text(row.get("lowest_grade"), high)
        return f"no graduating class: your district teaches grades {grades}"
    if codes.height:
        found = codes.filter(
            (pl.col("year") == year) & pl.col("column_name").is_in(list(info.history_columns))
        ).sort("column_name")
        if found.height:
            hit = found.row(0, named=True)
            text = SOURCE_CODE_TEXT.get(hit["code"], f"coded {hit['code']} by the source")
            if len(info.history_columns) > 1:  # say which input is missing
                return f"its {_INPUT_TEXT.get(hit['column_name'], 'input')} is {text} in {year}"
            return f"{text} in {year}"
    if "enrollment" in info.history_columns and row.get("enrollment") == 0:
        return f"your district reported no students in {year}"
    return f"not reported for your district in {year}"


def _change_years(
    info: Metric, data_year: int | None, trends: pl.DataFrame
) -> tuple[int, int] | None:
    """The two years a 3-year change compares (absenteeism: its latest two observations)."""
    if data_year is None or info.trend is None:
        return None
    if info.trend.kind != "latest_two_observations":
        return (data_year - TREND_YEARS, data_year)
    seen = trends.filter(
        (pl.col("metric") == info.name)
        & (pl.col("series") == "district")
        & (pl.col("year") < data_year)
    )
    return (int(seen["year"].max()), data_year) if seen.height else None


def _metric_row(
    frames: ReportFrames,
    info: Metric,
    own: pl.DataFrame,
    stats: pl.DataFrame,
    ranks: pl.DataFrame,
    state: str,
    groups: dict[int, Cohort] | None = None,
    history: pl.DataFrame | None = None,
    codes: pl.DataFrame | None = None,
    trends: pl.DataFrame | None = None,
) -> MetricRow:
    """One metric, from the newest year ≤ the report year (and ≥ year − 3) with a value.

    Sources end in different years (graduation rates lag the directory by two years), so a
    report shows the latest published value and says which year it is from. A district
    without a value still gets its state and nation of the newest year that has them, and the
    reason it has none.
    """
    m = info.name
    seen = own.filter(pl.col(m).is_not_null() & (pl.col("year") >= frames.year - MAX_LAG))
    b = seen.sort("year").row(-1, named=True) if seen.height else {}
    y = b.get("year")
    reason = None
    if y is None:
        col = STATE_COLUMN[m]
        has_state = frames.states.filter(
            (pl.col("state_code") == state)
            & pl.col(col).is_not_null()
            & (pl.col("year") >= frames.year - MAX_LAG)
        )
        y = int(has_state["year"].max()) if has_state.height else None
        if y is None:
            reason = f"no published data for {frames.year - MAX_LAG}–{frames.year}"
        elif history is not None:
            reason = _missing_reason(
                info, y, history, codes if codes is not None else pl.DataFrame()
            )
        older = own.filter(pl.col(m).is_not_null()).sort("year")
        if older.height:
            last = older.row(-1, named=True)
            reason = (reason + "; " if reason else "") + (
                f"the newest value, {fmt(last[m], info)} in {last['year']}, is older than "
                f"the report's window ({frames.year - MAX_LAG}–{frames.year})"
            )
    st = _one(frames.states.filter((pl.col("state_code") == state) & (pl.col("year") == y)))
    us = _one(frames.states.filter((pl.col("state_code") == "US") & (pl.col("year") == y)))
    peer = _one(stats.filter((pl.col("year") == y) & (pl.col("metric") == m)))
    rank = _one(ranks.filter((pl.col("year") == y) & (pl.col("metric") == m)))
    return MetricRow(
        info,
        y,
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
        rank["percentile_rank"] if rank and b else None,
        (groups or {}).get(y) if y is not None else None,
        reason,
        _change_years(info, y, trends)
        if b.get(TREND_COLUMN[m]) is not None and trends is not None
        else None,
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
