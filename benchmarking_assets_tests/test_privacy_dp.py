"""Differential privacy: the noise has the Laplace scale it claims; releases are reused; the
ledger adds up.

Goodness of fit, pre-registered: N = 40,000 draws from the real OpenDP measurement on fixed
data, a one-sample Kolmogorov–Smirnov test of (release − true mean) against Laplace(0, b) at
α = 1e-6. The critical value uses the asymptotic bound P(√N·D > c) ≤ 2·exp(−2c²), so
c = √(ln(2/α)/2) = 2.693 and D must stay below c/√N = 0.01347. A false alarm happens about once
in a million runs. The control tests the *same* draws against a scale 10 % too large and 10 %
too small: the largest CDF gap between Laplace(b) and Laplace(1.1·b) is 0.0175 (at x ≈ 1.05·b),
well above the threshold, so a mechanism with the wrong scale would fail.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from benchmarking_assets.core.dp import (
    STATISTICS,
    mean_measurement,
    mean_scale,
    private_means,
)

ALPHA = 1e-6
DRAWS = 40_000


def laplace_cdf(x: np.ndarray, scale: float) -> np.ndarray:
    return np.where(x < 0, 0.5 * np.exp(x / scale), 1 - 0.5 * np.exp(-x / scale))


def ks_statistic(sample: np.ndarray, scale: float) -> float:
    xs = np.sort(sample)
    cdf = laplace_cdf(xs, scale)
    n = xs.size
    upper = np.arange(1, n + 1) / n - cdf
    lower = cdf - np.arange(0, n) / n
    return float(max(upper.max(), lower.max()))


def ks_critical(n: int, alpha: float = ALPHA) -> float:
    return math.sqrt(math.log(2 / alpha) / 2) / math.sqrt(n)


@pytest.fixture(scope="module")
def noise() -> tuple[np.ndarray, float]:
    values = [12.0, 35.5, 50.0, 61.0, 77.25, 80.0, 90.0, 99.0, 3.0, 41.0]  # n = 10 in [0, 100]
    measurement, scale = mean_measurement(len(values), (0.0, 100.0), 1.0)
    true_mean = sum(values) / len(values)
    draws = np.array([measurement(values) for _ in range(DRAWS)]) - true_mean
    return draws, scale


def test_scale_is_sensitivity_over_epsilon() -> None:
    # (U − L) / (n · ε) = 100 / (10 · 1) = 10, and 240 / (20 · 0.5) = 24 (plus 1e-9 slack)
    assert mean_scale(10, (0.0, 100.0), 1.0) == pytest.approx(10.0, rel=1e-8)
    assert mean_scale(20, (0.0, 240.0), 0.5) == pytest.approx(24.0, rel=1e-8)
    measurement, _ = mean_measurement(10, (0.0, 100.0), 1.0)
    assert measurement.map(2) <= 1.0  # one record replaced costs at most ε
    assert measurement.map(2) == pytest.approx(1.0, rel=1e-6)


def test_noise_is_laplace_with_the_claimed_scale(noise: tuple[np.ndarray, float]) -> None:
    draws, scale = noise
    assert ks_statistic(draws, scale) < ks_critical(DRAWS)
    assert draws.var() == pytest.approx(2 * scale**2, rel=0.05)  # Var = 2b²


@pytest.mark.parametrize("wrong", [0.9, 1.1])
def test_control_the_test_rejects_a_wrong_scale(
    noise: tuple[np.ndarray, float], wrong: float
) -> None:
    draws, scale = noise
    assert ks_statistic(draws, scale * wrong) > ks_critical(DRAWS)


def _contributions(values: list[float], metric: str = "mastery_rate_pct") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "leaid": [f"{i:07d}" for i in range(len(values))],
            "metric": [metric] * len(values),
            "cohort_id": ["L6:national"] * len(values),
            "value": values,
        }
    )


def test_same_inputs_reuse_the_release_and_charge_nothing() -> None:
    contributions = _contributions([float(v) for v in range(10, 60, 5)])
    first = private_means(contributions, 2020, 1.0, pl.DataFrame(), "2026-01-01T00:00:00Z")
    assert first.reused == 0 and first.charges.height == len(STATISTICS)
    again = private_means(contributions, 2020, 1.0, first.releases, "2026-01-02T00:00:00Z")
    assert again.reused == 1 and again.charges.height == 0
    assert again.releases.to_dicts() == first.releases.to_dicts()  # same noise, same timestamp
    changed = contributions.with_columns(pl.col("value").shift(1, fill_value=99.0))
    third = private_means(changed, 2020, 1.0, first.releases, "2026-01-03T00:00:00Z")
    assert third.charges.height == 1
    assert third.releases["release_id"][0] != first.releases["release_id"][0]


def test_ledger_adds_up_and_values_are_clamped_before_hashing() -> None:
    a = _contributions([10.0] * 5 + [20.0] * 5)
    b = _contributions([10.0] * 5 + [20.0] * 5, "learning_gain_pts").with_columns(
        cohort_id=pl.lit("L5:size_band=small")
    )
    result = private_means(pl.concat([a, b]), 2021, 0.8, pl.DataFrame(), "t")
    per_release = result.charges.group_by("release_id").agg(pl.col("epsilon").sum())
    assert per_release["epsilon"].to_list() == [pytest.approx(0.8)] * 2
    assert result.charges["scale"].to_list() == result.releases["noise_scale"].to_list()
    published = result.releases["dp_mean"]
    assert ((published >= -50) & (published <= 100)).all()  # post-processed into the bounds
    # learning_gain_pts is bounded to [-50, 50]: a value of 80 is clamped to 50 *before* the
    # release id is computed, so it is the same release as with 50 (reused, no charge)
    over = b.with_columns(pl.when(pl.col("value") == 20.0).then(80.0).otherwise("value"))
    at_bound = b.with_columns(pl.when(pl.col("value") == 20.0).then(50.0).otherwise("value"))
    first = private_means(over, 2021, 0.8, pl.DataFrame(), "t")
    second = private_means(at_bound, 2021, 0.8, first.releases, "t")
    assert (second.reused, second.charges.height) == (1, 0)
