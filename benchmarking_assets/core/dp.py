"""Differentially private cohort means of private metrics, with OpenDP, release ids and a ledger.

**Privacy unit**: one district's submitted value of one metric in one year. **Neighbouring
data sets**: one contributor's value replaced by any other value within the catalog's public
bounds (``n`` fixed). ``n`` — the number of contributors in the cohort — is treated as
**public**: cohort membership follows public criteria and the participation registry, and n
must be shown to prove k-anonymity. DP therefore protects the *values*, not the fact of
participation; the k rule and the registry govern the latter.

**Mechanism** (OpenDP 0.16, ``contrib``): sized vector domain (n) → ``then_clamp(bounds)`` →
``then_mean()`` → ``then_laplace(scale)``: the Laplace mechanism on the clamped mean, whose
sensitivity is ``(upper − lower) / n``; ``scale = (upper − lower) / (n · ε_stat)`` enlarged by
a relative 1e-9 to absorb OpenDP's floating-point slack, and the measurement's own privacy map
is checked to be ≤ ε_stat for one changed record (``d_in = 2``). Samples come from OpenDP's
sampler (never numpy): it resists the floating-point attacks on textbook Laplace sampling.
The published mean is then clamped to the bounds (post-processing, costs no privacy).

**Release and budget**: a *release* is the statistics of one (year, metric, cohort). It gets
``DIFFERENTIAL_PRIVACY_EPSILON``, split evenly over its statistics (basic composition);
currently one statistic, the mean. Cohorts of one (year, metric) are disjoint, so a district's
value is in one release per materialization (parallel composition across cohorts). Each new
release is charged to ``privacy_budget_ledger`` (release id, statistic, year, metric, cohort, n,
ε, mechanism, scale, created_at).

**No fresh noise**: ``release_id`` = SHA-256 of (year, metric, cohort id, the sorted
membership with each member's clamped value, bounds, ε, mechanism version). When a release
with that id is stored in ``dp_releases`` its noisy values are reused and nothing is charged;
any change of inputs (a new value, a withdrawal, a different ε) is a new release with fresh
noise and a new charge — which is exactly when the privacy loss grows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from typing import Any

import polars as pl

from benchmarking_assets.core.catalog import PRIVATE_BY_NAME as METRICS

MECHANISM = "opendp-0.16 laplace on clamped mean, public n"
STATISTICS: tuple[str, ...] = ("mean",)
_SCALE_SLACK = 1.0 + 1e-9

RELEASE_SCHEMA: dict[str, pl.DataType] = {
    "release_id": pl.String(),
    "year": pl.Int32(),
    "metric": pl.String(),
    "cohort_id": pl.String(),
    "n": pl.Int64(),
    "epsilon": pl.Float64(),
    "noise_scale": pl.Float64(),
    "mechanism": pl.String(),
    "dp_mean": pl.Float64(),
    "created_at": pl.String(),
}

LEDGER_SCHEMA: dict[str, pl.DataType] = {
    "release_id": pl.String(),
    "statistic": pl.String(),
    "year": pl.Int32(),
    "metric": pl.String(),
    "cohort_id": pl.String(),
    "n": pl.Int64(),
    "epsilon": pl.Float64(),
    "mechanism": pl.String(),
    "scale": pl.Float64(),
    "created_at": pl.String(),
}


@cache
def _opendp() -> Any:
    import opendp.prelude as dp

    dp.enable_features("contrib")
    return dp


def epsilon_per_statistic(epsilon: float) -> float:
    """Basic composition: the release's ε split evenly over its statistics."""
    if not epsilon > 0:
        raise ValueError(f"DIFFERENTIAL_PRIVACY_EPSILON must be > 0, got {epsilon}")
    return epsilon / len(STATISTICS)


def mean_scale(n: int, bounds: tuple[float, float], epsilon: float) -> float:
    """The Laplace scale of the clamped mean of n values at this ε (sensitivity (U−L)/n)."""
    lower, upper = bounds
    return (upper - lower) / (n * epsilon) * _SCALE_SLACK


def mean_measurement(n: int, bounds: tuple[float, float], epsilon: float) -> tuple[Any, float]:
    """The OpenDP measurement releasing a noisy clamped mean of exactly n values, and its scale.

    Raises if OpenDP's own privacy map says one changed record costs more than ``epsilon``.
    """
    dp = _opendp()
    scale = mean_scale(n, bounds, epsilon)
    space = dp.vector_domain(dp.atom_domain(T=float, nan=False), size=n), dp.symmetric_distance()
    measurement = (
        space
        >> dp.t.then_clamp((float(bounds[0]), float(bounds[1])))
        >> dp.t.then_mean()
        >> dp.m.then_laplace(scale)
    )
    spent = measurement.map(2)  # one record replaced = symmetric distance 2
    if spent > epsilon:
        raise RuntimeError(f"OpenDP charges ε={spent} > {epsilon} for n={n}, bounds={bounds}")
    return measurement, scale


def release_id(
    year: int, metric: str, cohort_id: str, members: pl.DataFrame, epsilon: float
) -> str:
    """Hash of everything the release depends on; ``members`` has ``leaid, value`` (clamped)."""
    m = METRICS[metric]
    rows = members.sort("leaid").select("leaid", "value").rows()
    payload = json.dumps(
        [MECHANISM, year, metric, cohort_id, m.bounds, repr(float(epsilon)), rows],
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class ReleaseResult:
    releases: pl.DataFrame  # RELEASE_SCHEMA, one per (metric, cohort) of the year, reused or new
    charges: pl.DataFrame  # LEDGER_SCHEMA, only the new releases
    reused: int


def private_means(
    contributions: pl.DataFrame,
    year: int,
    epsilon: float,
    stored: pl.DataFrame,
    now: str,
) -> ReleaseResult:
    """DP means per (metric, cohort) of ``contributions`` (``leaid, metric, cohort_id, value``).

    Every cohort in ``contributions`` must already have ≥ k members (the caller pooled them).
    ``stored`` holds earlier releases (RELEASE_SCHEMA) whose values are reused by release id.
    """
    eps = epsilon_per_statistic(epsilon)
    known = {r["release_id"]: r for r in stored.iter_rows(named=True)}
    clamped = clamp_to_bounds(contributions)
    releases: list[dict[str, Any]] = []
    charges: list[dict[str, Any]] = []
    reused = 0
    for (metric, cohort_id), members in clamped.group_by(
        "metric", "cohort_id", maintain_order=True
    ):
        rid = release_id(year, str(metric), str(cohort_id), members, epsilon)
        if rid in known:
            releases.append(known[rid])
            reused += 1
            continue
        bounds = METRICS[str(metric)].bounds
        n = members.height
        measurement, scale = mean_measurement(n, bounds, eps)
        noisy = float(measurement(members["value"].to_list()))
        row = {
            "release_id": rid,
            "year": year,
            "metric": metric,
            "cohort_id": cohort_id,
            "n": n,
            "epsilon": epsilon,
            "noise_scale": scale,
            "mechanism": MECHANISM,
            "dp_mean": min(max(noisy, bounds[0]), bounds[1]),  # post-processing
            "created_at": now,
        }
        releases.append(row)
        charges.append(
            {
                "release_id": rid,
                "statistic": "mean",
                "year": year,
                "metric": metric,
                "cohort_id": cohort_id,
                "n": n,
                "epsilon": eps,
                "mechanism": MECHANISM,
                "scale": scale,
                "created_at": now,
            }
        )
    return ReleaseResult(
        releases=pl.DataFrame(releases, schema=RELEASE_SCHEMA)
        if releases
        else pl.DataFrame(schema=RELEASE_SCHEMA),
        charges=pl.DataFrame(charges, schema=LEDGER_SCHEMA)
        if charges
        else pl.DataFrame(schema=LEDGER_SCHEMA),
        reused=reused,
    )


def clamp_to_bounds(contributions: pl.DataFrame) -> pl.DataFrame:
    """Clamp ``value`` to the catalog bounds of its ``metric`` (unknown metrics raise)."""
    unknown = set(contributions["metric"].unique().to_list()) - set(METRICS)
    if unknown:
        raise KeyError(f"metrics not in the catalog: {sorted(unknown)}")
    bounds = pl.DataFrame(
        {
            "metric": list(METRICS),
            "_lo": [m.lower for m in METRICS.values()],
            "_hi": [m.upper for m in METRICS.values()],
        }
    )
    return (
        contributions.join(bounds, on="metric", how="left", maintain_order="left")
        .with_columns(pl.col("value").cast(pl.Float64).clip(pl.col("_lo"), pl.col("_hi")))
        .drop("_lo", "_hi")
    )
