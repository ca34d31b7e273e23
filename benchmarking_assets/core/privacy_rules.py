"""The privacy limits and the validated policy every private computation receives (pure).

An operator's typo must not weaken privacy silently (``docs/privacy.md``, "Settings and
limits"). Every privacy setting is therefore checked **once, when the code location loads**
(``defs.resources.build_privacy_settings``) and again whenever a run overrides it (the
``PrivacySettings`` resource's validators and ``setup_for_execution``), against the hard
limits below. A value outside them is refused with a :class:`PrivacyConfigError` that names
the environment variable, the value and the rule; nothing is clamped or defaulted instead.

The consumers (cohort assignment, suppression, the DP releases, reports) receive a
:class:`PrivacyPolicy`, never raw numbers, so there is no code path that uses an unchecked k or ε.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from benchmarking_assets.core.catalog import CATEGORIES, PRIVATE_METRICS
from benchmarking_assets.core.dp import margin_share

# --- hard limits -------------------------------------------------------------------------
K_FLOOR = 5
"""Smallest allowed ``MIN_COHORT_SIZE``. With k = 2 an exact statistic hands each member the
other's value; with k = 3 two colluders isolate the third; 5 takes four colluders, and is the
lowest minimum cell size in NCES's statistical standards (2011-603)."""
K_CEILING = 1_000
"""Largest allowed ``MIN_COHORT_SIZE``: not a privacy limit (a larger k is safer) but a typo
guard — k = 10000 would silently publish nothing."""
EPSILON_FLOOR = 0.01
"""Smallest allowed ε per noise draw: a typo guard (noise 100× the range publishes nothing)."""
EPSILON_CEILING = 2.0
"""Largest allowed ε per noise draw: e² ≈ 7.4 is the largest likelihood ratio per value we
still call protection at the group sizes this project has (docs/privacy.md)."""
BUDGET_CEILING = 12.0
"""Largest allowed ``PRIVACY_BUDGET_PER_DISTRICT`` (ε per district, year and category)."""
MARGIN_SHARE_CEILING = 0.25
"""Largest allowed ``DP_MAX_MARGIN_SHARE``: a 90 % margin wider than a quarter of the metric's
range tells a reader nothing."""
RETENTION_DAYS_FLOOR = 1
RETENTION_DAYS_CEILING = 3_650
"""``DATA_RETENTION_DAYS`` above ten years is a typo guard."""
LARGEST_CATEGORY = max(sum(1 for m in PRIVATE_METRICS if m.category == c) for c in CATEGORIES)
"""Metrics in the largest data category: the budget must allow one release of each."""

# --- defaults ----------------------------------------------------------------------------
DEFAULT_K = 5
DEFAULT_EPSILON = 1.0
DEFAULT_BUDGET = 9.0
DEFAULT_MARGIN_SHARE = 0.15
DEFAULT_RETENTION_DAYS = 365

ENV = {
    "k": "MIN_COHORT_SIZE",
    "epsilon": "DIFFERENTIAL_PRIVACY_EPSILON",
    "budget": "PRIVACY_BUDGET_PER_DISTRICT",
    "max_margin_share": "DP_MAX_MARGIN_SHARE",
    "retention_days": "DATA_RETENTION_DAYS",
}
DEFAULTS = {
    "k": DEFAULT_K,
    "epsilon": DEFAULT_EPSILON,
    "budget": DEFAULT_BUDGET,
    "max_margin_share": DEFAULT_MARGIN_SHARE,
    "retention_days": DEFAULT_RETENTION_DAYS,
}


class PrivacyConfigError(ValueError):
    """A privacy setting outside its hard limits; the message names the variable."""

    def __init__(self, variable: str, value: Any, rule: str) -> None:
        self.variable, self.value, self.rule = variable, value, rule
        super().__init__(f"{variable}={value!r} is refused: {rule}")


def _number(variable: str, raw: Any, integer: bool) -> float:
    """``raw`` (text from the environment, or a number) as a finite number, or the error."""
    if isinstance(raw, bool):
        raise PrivacyConfigError(variable, raw, "expected a number")
    try:
        value = float(raw.strip()) if isinstance(raw, str) else float(raw)
    except (TypeError, ValueError):
        kind = "a whole number" if integer else "a number"
        raise PrivacyConfigError(variable, raw, f"expected {kind}") from None
    if not math.isfinite(value):
        raise PrivacyConfigError(variable, raw, "must be a finite number")
    if integer and value != int(value):
        raise PrivacyConfigError(variable, raw, "expected a whole number")
    return value


def check_k(raw: Any) -> int:
    k = int(_number(ENV["k"], raw, integer=True))
    if not K_FLOOR <= k <= K_CEILING:
        raise PrivacyConfigError(
            ENV["k"], raw, f"the minimum cohort size must be between {K_FLOOR} and {K_CEILING}"
        )
    return k


def check_epsilon(raw: Any) -> float:
    eps = _number(ENV["epsilon"], raw, integer=False)
    if not EPSILON_FLOOR <= eps <= EPSILON_CEILING:
        raise PrivacyConfigError(
            ENV["epsilon"],
            raw,
            f"ε per noise draw must be between {EPSILON_FLOOR:g} and {EPSILON_CEILING:g}",
        )
    return eps


def check_budget(raw: Any) -> float:
    budget = _number(ENV["budget"], raw, integer=False)
    if not 0 < budget <= BUDGET_CEILING:
        raise PrivacyConfigError(
            ENV["budget"], raw, f"the budget must be > 0 and at most {BUDGET_CEILING:g}"
        )
    return budget


def check_margin_share(raw: Any) -> float:
    share = _number(ENV["max_margin_share"], raw, integer=False)
    if not 0 < share <= MARGIN_SHARE_CEILING:
        raise PrivacyConfigError(
            ENV["max_margin_share"],
            raw,
            f"the share of a metric's range must be > 0 and at most {MARGIN_SHARE_CEILING:g}",
        )
    return share


def check_retention_days(raw: Any) -> int:
    days = int(_number(ENV["retention_days"], raw, integer=True))
    if not RETENTION_DAYS_FLOOR <= days <= RETENTION_DAYS_CEILING:
        raise PrivacyConfigError(
            ENV["retention_days"],
            raw,
            f"must be between {RETENTION_DAYS_FLOOR} and {RETENTION_DAYS_CEILING} days",
        )
    return days


CHECKS = {
    "k": check_k,
    "epsilon": check_epsilon,
    "budget": check_budget,
    "max_margin_share": check_margin_share,
    "retention_days": check_retention_days,
}


def smallest_publishable_n(epsilon: float, max_margin_share: float) -> int:
    """The smallest n whose 90 % noise margin is at most ``max_margin_share`` of the range.

    The margin's share of the range, ln 10 / (n·ε), does not depend on the metric, so one n
    serves every metric: a group smaller than this is widened, never published.
    """
    n = max(1, math.ceil(math.log(10) / (max_margin_share * epsilon)))
    while margin_share(n, epsilon) > max_margin_share:  # the scale's float slack
        n += 1
    return n


@dataclass(frozen=True)
class PrivacyPolicy:
    """Validated privacy settings: build it with :meth:`from_values`, never directly."""

    k: int
    epsilon: float
    budget: float
    max_margin_share: float
    retention_days: int = DEFAULT_RETENTION_DAYS

    @classmethod
    def from_values(cls, **raw: Any) -> PrivacyPolicy:
        """Check every value against its limits and the budget against ε; raises
        :class:`PrivacyConfigError` naming the first variable that fails."""
        unknown = set(raw) - set(CHECKS)
        if unknown:
            raise TypeError(f"unknown privacy settings {sorted(unknown)}")
        values = {name: CHECKS[name](raw.get(name, DEFAULTS[name])) for name in CHECKS}
        floor = LARGEST_CATEGORY * values["epsilon"]
        if values["budget"] < floor - 1e-12:
            raise PrivacyConfigError(
                ENV["budget"],
                raw.get("budget", DEFAULTS["budget"]),
                f"the budget must allow one release of the largest category: at least "
                f"{LARGEST_CATEGORY} × ε = {floor:g} ({ENV['epsilon']}={values['epsilon']:g})",
            )
        return cls(**values)

    @property
    def n_min(self) -> int:
        """The smallest published private group: ≥ k and small enough a margin."""
        return max(self.k, smallest_publishable_n(self.epsilon, self.max_margin_share))
