"""The metric catalog: every metric the project benchmarks, public and private, defined once.

Every layer reads this module: the benchmark computation (how a district's value and trend are
derived from ``district_data_history``), submission validation and differential privacy (the
public bounds of private metrics), the reports (labels, units, which way is better), and the
Dagster definitions (column descriptions). ``docs/metrics.md`` explains each metric in words.

**Public metrics** come from the Education Data Portal; their district values, state and national
averages, deltas, quartiles and 3-year trends are the ``district_benchmarks`` columns named after
them. **Private metrics** are submitted by participating districts, one data category at a time
(academic, engagement, ai_tutor, operational). Their ``lower``/``upper`` bounds are **public and
fixed before any data is seen**: submissions outside them are refused, and the differential-privacy
release clamps to them again, so a cohort mean's sensitivity is ``(upper − lower) / n`` whatever
the data.

``direction`` says which way is better for students or the district; it changes no statistic (a
quartile label describes the raw value) and is what reports use to call a difference good or bad.
The order of :data:`PUBLIC_METRICS` is the reading order of a report: outcomes, then resources,
then the make-up of the student body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl

Direction = Literal["higher_is_better", "lower_is_better", "neutral"]
TrendKind = Literal["pct_change", "point_change", "latest_two_observations"]

PUBLIC = "public"
CATEGORIES: tuple[str, ...] = ("academic", "engagement", "ai_tutor", "operational")
CATEGORY_LABELS: dict[str, str] = {
    PUBLIC: "Public data",
    "academic": "Academic",
    "engagement": "Engagement",
    "ai_tutor": "AI tutor",
    "operational": "Operations",
}
"""What a reader sees for a data category (reports, exports, CLI)."""
DIRECTION_TEXT: dict[str, str] = {
    "higher_is_better": "higher is better for students",
    "lower_is_better": "lower is better for students",
    "neutral": "context: neither higher nor lower is better",
}

TREND_YEARS = 3
"""A 3-year trend compares the year with year − 3."""
ABSENTEEISM_MAX_AGE = 3
"""The newest absenteeism observation of a trend must be at or after year − 3 …"""
ABSENTEEISM_MAX_GAP = 4
"""… and the one before it at most 4 years older (CRDC is collected every other year)."""


def _ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """numerator / denominator, NULL when either is NULL or the denominator ≤ 0."""
    ok = numerator.is_not_null() & denominator.is_not_null() & (denominator > 0)
    return pl.when(ok).then(numerator.cast(pl.Float64) / denominator).otherwise(None)


ENROLLMENT = pl.col("enrollment")
_STUDENT_TEACHER_RATIO = (
    pl.when(ENROLLMENT > 0)
    .then(_ratio(ENROLLMENT, pl.col("teachers_fte")))
    .otherwise(None)  # a district with no students has no ratio
)


def _column(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.Float64)


@dataclass(frozen=True)
class Trend:
    """How a public metric's 3-year trend is computed and read."""

    column: str  # the district_benchmarks column
    kind: TrendKind
    base: pl.Expr  # what is compared across years (the student counts for SWD and ELL)
    unit: str  # how a change reads: "pts", "change", "% change", "% change in count"

    def suffix(self, metric_unit: str) -> str:
        """What follows a change's number on a page: ``+1.0 pts``, ``−0.3 students``,
        ``+6.2%`` (relative change of the value), ``+9.6% in count`` (relative change of the
        number of students, not of their share)."""
        return {
            "pts": " pts",
            "change": f" {metric_unit}",
            "% change": "%",
            "% change in count": "% in count",
        }[self.unit]


@dataclass(frozen=True)
class Metric:
    """One metric. Public metrics carry their derivation; private ones their category."""

    name: str
    label: str  # what a reader sees
    unit: str  # "%", "$", "students", "minutes", "points", "percentile", "USD"
    direction: Direction
    category: str  # PUBLIC, or the data category a participant shares
    description: str
    lower: float | None = None  # public bounds (mandatory for private metrics)
    upper: float | None = None
    axis_label: str = ""  # a chart's value axis
    # Public metrics only:
    value: pl.Expr | None = None  # the district's value, from one district_data_history row
    history_columns: tuple[str, ...] = ()  # the district_data_history columns it reads
    state_column: str = ""  # the state_benchmarks column with the weighted average
    trend: Trend | None = None
    cross_state_caveat: bool = False  # state tests differ: comparisons across states are loose

    @property
    def is_public(self) -> bool:
        return self.category == PUBLIC

    @property
    def bounds(self) -> tuple[float, float]:
        if self.lower is None or self.upper is None:
            raise ValueError(f"metric {self.name} has no public bounds")
        return (self.lower, self.upper)


PUBLIC_METRICS: tuple[Metric, ...] = (
    Metric(
        "graduation", "Graduation rate", "%", "higher_is_better", PUBLIC,
        "adjusted cohort graduation rate (EDFacts, midpoint of the reported range)",
        0.0, 100.0, "% of students graduating",
        value=_column("graduation_rate"),
        history_columns=("graduation_rate",),
        state_column="avg_graduation_rate",
        trend=Trend("graduation_trend_3yr", "point_change", _column("graduation_rate"), "pts"),
    ),
    Metric(
        "math_proficiency", "Math proficiency", "%", "higher_is_better", PUBLIC,
        "share of students proficient in mathematics on the state test (EDFacts midpoint)",
        0.0, 100.0, "% proficient in math",
        value=_column("math_proficiency"),
        history_columns=("math_proficiency",),
        state_column="avg_math_proficiency",
        trend=Trend(
            "math_proficiency_trend_3yr", "point_change", _column("math_proficiency"), "pts"
        ),
        cross_state_caveat=True,
    ),
    Metric(
        "read_proficiency", "Reading proficiency", "%", "higher_is_better", PUBLIC,
        "share of students proficient in reading on the state test (EDFacts midpoint)",
        0.0, 100.0, "% proficient in reading",
        value=_column("read_proficiency"),
        history_columns=("read_proficiency",),
        state_column="avg_read_proficiency",
        trend=Trend(
            "read_proficiency_trend_3yr", "point_change", _column("read_proficiency"), "pts"
        ),
        cross_state_caveat=True,
    ),
    Metric(
        "absenteeism", "Chronic absenteeism", "%", "lower_is_better", PUBLIC,
        "share of students chronically absent (CRDC, surveyed every other year)",
        0.0, 100.0, "% chronically absent",
        value=_column("chronic_absenteeism_rate"),
        history_columns=("chronic_absenteeism_rate",),
        state_column="avg_chronic_absenteeism_rate",
        trend=Trend(
            "absenteeism_trend_3yr",
            "latest_two_observations",
            _column("chronic_absenteeism_rate"),
            "pts",
        ),
    ),
    Metric(
        "student_teacher_ratio", "Students per teacher", "students", "lower_is_better", PUBLIC,
        "enrollment ÷ full-time-equivalent teachers (NULL for a district with no students)",
        axis_label="students per teacher (FTE)",
        value=_STUDENT_TEACHER_RATIO,
        history_columns=("enrollment", "teachers_fte"),
        state_column="avg_student_teacher_ratio",
        trend=Trend(
            "student_teacher_ratio_trend_3yr", "point_change", _STUDENT_TEACHER_RATIO, "change"
        ),
    ),
    Metric(
        "expenditure_pp", "Expenditure per pupil", "$", "neutral", PUBLIC,
        "current expenditure on elementary and secondary education per pupil (CCD finance)",
        lower=0.0, axis_label="$ per pupil",
        value=_column("expenditure_pp"),
        history_columns=("expenditure_pp",),
        state_column="avg_expenditure_per_pupil",
        trend=Trend(
            "expenditure_pp_trend_3yr", "pct_change", _column("expenditure_pp"), "% change"
        ),
    ),
    Metric(
        "swd_pct", "Students with disabilities", "%", "neutral", PUBLIC,
        "students with disabilities (IDEA) ÷ enrollment × 100",
        0.0, 100.0, "% of enrollment",
        value=_ratio(pl.col("spec_ed_students"), ENROLLMENT) * 100,
        history_columns=("spec_ed_students", "enrollment"),
        state_column="avg_swd_pct",
        trend=Trend(
            "swd_trend_3yr", "pct_change", _column("spec_ed_students"), "% change in count"
        ),
    ),
    Metric(
        "ell_pct", "English learners", "%", "neutral", PUBLIC,
        "English language learners ÷ enrollment × 100",
        0.0, 100.0, "% of enrollment",
        value=_ratio(pl.col("ell_students"), ENROLLMENT) * 100,
        history_columns=("ell_students", "enrollment"),
        state_column="avg_ell_pct",
        trend=Trend("ell_trend_3yr", "pct_change", _column("ell_students"), "% change in count"),
    ),
)  # fmt: skip

PRIVATE_METRICS: tuple[Metric, ...] = (
    Metric("formative_assessment_pct", "Formative assessment completion", "%", "higher_is_better",
           "academic", "share of students completing the platform's formative assessments",
           0.0, 100.0),
    Metric("growth_percentile", "Student growth percentile", "percentile", "higher_is_better",
           "academic", "median student growth percentile on the platform's assessments",
           0.0, 100.0),
    Metric("weekly_active_students_pct", "Weekly active students", "%", "higher_is_better",
           "engagement", "share of enrolled students active at least once a week", 0.0, 100.0),
    Metric("avg_session_minutes", "Average session length", "minutes", "higher_is_better",
           "engagement", "mean length of a student session", 0.0, 240.0),
    Metric("course_completion_pct", "Course completion", "%", "higher_is_better",
           "engagement", "share of assigned courses completed", 0.0, 100.0),
    Metric("mastery_rate_pct", "Skill mastery rate", "%", "higher_is_better",
           "ai_tutor", "share of tutored skills mastered", 0.0, 100.0),
    Metric("learning_gain_pts", "Learning gain", "points", "higher_is_better",
           "ai_tutor", "mean pre/post learning gain after tutoring", -50.0, 50.0),
    Metric("intervention_success_pct", "Intervention success", "%", "higher_is_better",
           "ai_tutor", "share of tutor interventions followed by a correct answer", 0.0, 100.0),
    Metric("teacher_adoption_pct", "Teacher adoption", "%", "higher_is_better",
           "operational", "share of teachers using the platform monthly", 0.0, 100.0),
    Metric("cost_per_student_usd", "Cost per student", "USD", "lower_is_better",
           "operational", "platform and support cost per enrolled student", 0.0, 5000.0),
)  # fmt: skip

METRICS: dict[str, Metric] = {m.name: m for m in (*PUBLIC_METRICS, *PRIVATE_METRICS)}
PUBLIC_BY_NAME: dict[str, Metric] = {m.name: m for m in PUBLIC_METRICS}
PRIVATE_BY_NAME: dict[str, Metric] = {m.name: m for m in PRIVATE_METRICS}
PUBLIC_NAMES: tuple[str, ...] = tuple(m.name for m in PUBLIC_METRICS)


def parse_categories(text: str) -> tuple[str, ...]:
    """``"engagement, ai_tutor"`` → ``("engagement", "ai_tutor")``; unknown names raise."""
    names = [c.strip().lower() for c in text.split(",") if c.strip()]
    if not names:
        raise ValueError(f"no category given; choose from {', '.join(CATEGORIES)}")
    unknown = [c for c in names if c not in CATEGORIES]
    if unknown:
        raise ValueError(
            f"unknown data categor{'y' if len(unknown) == 1 else 'ies'} "
            f"{', '.join(repr(c) for c in unknown)}; choose from {', '.join(CATEGORIES)}"
        )
    return tuple(c for c in CATEGORIES if c in names)
