"""The metric catalog: every private metric a participant may submit, with its public bounds.

Each metric belongs to one data category of the benchmarking service (seed ``000_…``:
academic, engagement, ai_tutor, operational). Its ``lower``/``upper`` bounds are **public and
fixed before any data is seen**: submissions outside them are refused at ingestion, and the
differential-privacy release clamps to them again (defence in depth), so the sensitivity of a
cohort mean is ``(upper − lower) / n`` whatever the data. ``direction`` says which way is
better, for reports; it does not change any statistic.

Public metrics (from ``district_benchmarks``) are listed in :data:`PUBLIC_METRICS`; they are
already public, so they are benchmarked without noise (k-anonymity still applies).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from benchmarking_assets.benchmarks.metrics import VALUE_COLUMNS

Direction = Literal["higher_is_better", "lower_is_better"]

CATEGORIES: tuple[str, ...] = ("academic", "engagement", "ai_tutor", "operational")


@dataclass(frozen=True)
class Metric:
    name: str
    category: str
    unit: str
    lower: float
    upper: float
    direction: Direction
    description: str

    @property
    def bounds(self) -> tuple[float, float]:
        return (self.lower, self.upper)


_METRICS: tuple[Metric, ...] = (
    Metric("formative_assessment_pct", "academic", "%", 0.0, 100.0, "higher_is_better",
           "share of students completing the platform's formative assessments"),
    Metric("growth_percentile", "academic", "percentile", 0.0, 100.0, "higher_is_better",
           "median student growth percentile on the platform's assessments"),
    Metric("weekly_active_students_pct", "engagement", "%", 0.0, 100.0, "higher_is_better",
           "share of enrolled students active at least once a week"),
    Metric("avg_session_minutes", "engagement", "minutes", 0.0, 240.0, "higher_is_better",
           "mean length of a student session"),
    Metric("course_completion_pct", "engagement", "%", 0.0, 100.0, "higher_is_better",
           "share of assigned courses completed"),
    Metric("mastery_rate_pct", "ai_tutor", "%", 0.0, 100.0, "higher_is_better",
           "share of tutored skills mastered"),
    Metric("learning_gain_pts", "ai_tutor", "points", -50.0, 50.0, "higher_is_better",
           "mean pre/post learning gain after tutoring"),
    Metric("intervention_success_pct", "ai_tutor", "%", 0.0, 100.0, "higher_is_better",
           "share of tutor interventions followed by a correct answer"),
    Metric("teacher_adoption_pct", "operational", "%", 0.0, 100.0, "higher_is_better",
           "share of teachers using the platform monthly"),
    Metric("cost_per_student_usd", "operational", "USD", 0.0, 5000.0, "lower_is_better",
           "platform and support cost per enrolled student"),
)  # fmt: skip

METRICS: dict[str, Metric] = {m.name: m for m in _METRICS}

# Public metrics benchmarked per cohort: the value columns of ``district_benchmarks``.
PUBLIC_METRICS: tuple[str, ...] = VALUE_COLUMNS


def metrics_of(category: str) -> list[Metric]:
    return [m for m in _METRICS if m.category == category]


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
