"""The differential-privacy mechanism: one noisy clamped mean per draw (OpenDP), its 90 %
margin, and the keyed digest that lets identical inputs get their stored draw back.

**Privacy unit** (``docs/privacy.md``): everything one district submits in one data category
for one year — every metric of the category, every version it sends. **Neighbours**: any of
those values replaced by any other value within the catalog's public bounds; the group size n
is public.

**Mechanism** (OpenDP 0.16, ``contrib``): sized vector domain (n) → ``then_clamp(bounds)`` →
``then_mean()`` → ``then_laplace(b)``, the Laplace mechanism on the clamped mean, whose
sensitivity is (U − L)/n; b = (U − L)/(n·ε), enlarged by a relative 1e-9 for OpenDP's
floating-point slack. OpenDP's own privacy map is checked to be ≤ ε for one changed record
(``d_in = 2``) and that map is what each draw is charged. Samples come from OpenDP's sampler
(never numpy), which resists the floating-point attacks on textbook Laplace sampling. The
published mean is then clamped to the bounds (post-processing, costs nothing).

**Margin**: the noise is within ±b·ln 10 of zero with probability 90 %
(``laplacian_scale_to_accuracy(b, 0.10)``); clamping can only move the published mean towards
the true one, so the interval published ± margin covers the true mean at least 90 % of the time.
Its share of the range is ln 10/(n·ε) whatever the metric.

**Digest**: :func:`input_digest` is an HMAC-SHA256, with a private key, of everything a draw
depends on. It is stored only in the private table ``dp_noise_draws``: without the key nobody
can test a guessed value against it (an unkeyed hash over values on a 0.01 grid is recovered
by brute force in seconds). Published ids are random (``uuid4``), never derived from inputs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from benchmarking_assets.core.catalog import PRIVATE_BY_NAME as METRICS

MECHANISM = "opendp-0.16 laplace on clamped mean, public n, v2"
MARGIN_LEVEL = 0.90
_SCALE_SLACK = 1.0 + 1e-9


@cache
def _opendp() -> Any:
    import opendp.prelude as dp

    dp.enable_features("contrib")
    return dp


def mean_scale(n: int, bounds: tuple[float, float], epsilon: float) -> float:
    """The Laplace scale of the clamped mean of n values at this ε (sensitivity (U−L)/n)."""
    if n < 1:
        raise ValueError(f"a mean needs at least one value, got n={n}")
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"ε must be a finite number > 0, got {epsilon}")
    lower, upper = bounds
    return (upper - lower) / (n * epsilon) * _SCALE_SLACK


def margin_90(scale: float) -> float:
    """Half-width of the 90 % interval of Laplace(scale) noise: scale · ln 10."""
    return scale * math.log(1.0 / (1.0 - MARGIN_LEVEL))


def margin_share(n: int, epsilon: float) -> float:
    """The 90 % margin of a group of n as a share of the metric's range (any metric)."""
    return margin_90(mean_scale(n, (0.0, 1.0), epsilon))


def mean_measurement(n: int, bounds: tuple[float, float], epsilon: float) -> tuple[Any, float]:
    """The OpenDP measurement releasing a noisy clamped mean of exactly n values, and its scale.

    Raises if OpenDP's own privacy map says one changed record costs more than ``epsilon``, or
    if the scale is not a positive finite number (ε = ∞ would publish the exact mean).
    """
    dp = _opendp()
    scale = mean_scale(n, bounds, epsilon)
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"noise scale {scale} for n={n}, ε={epsilon}: refusing to release")
    space = dp.vector_domain(dp.atom_domain(T=float, nan=False), size=n), dp.symmetric_distance()
    measurement = (
        space
        >> dp.t.then_clamp((float(bounds[0]), float(bounds[1])))
        >> dp.t.then_mean()
        >> dp.m.then_laplace(scale)
    )
    spent = measurement.map(2)  # one record replaced = symmetric distance 2
    if not 0 < spent <= epsilon:
        raise RuntimeError(f"OpenDP charges ε={spent} (allowed {epsilon}) for n={n}, {bounds}")
    return measurement, scale


@dataclass(frozen=True)
class Draw:
    """One noise draw: the published (clamped) noisy mean, its scale and the ε it cost."""

    dp_mean: float
    noise_scale: float
    epsilon: float  # OpenDP's privacy map for one changed record, ≤ the policy's ε

    @property
    def margin_90(self) -> float:
        return margin_90(self.noise_scale)


def draw(metric: str, values: Sequence[float], epsilon: float) -> Draw:
    """Draw the noisy mean of ``values`` (already clamped) of ``metric``: the only place that
    samples noise, so counting its calls counts the draws."""
    bounds = METRICS[metric].bounds
    measurement, scale = mean_measurement(len(values), bounds, epsilon)
    noisy = float(measurement([float(v) for v in values]))
    return Draw(min(max(noisy, bounds[0]), bounds[1]), scale, float(measurement.map(2)))


def clamp(metric: str, value: float) -> float:
    lower, upper = METRICS[metric].bounds
    return min(max(float(value), lower), upper)


def input_digest(
    key: bytes, year: int, metric: str, members: Sequence[tuple[str, float]], epsilon: float
) -> str:
    """HMAC-SHA256 (private ``key``) of everything a draw depends on: mechanism, year, metric,
    bounds, ε and the sorted members with their clamped values. The group's label is left out,
    so relabelling a group costs no draw."""
    if len(key) < 16:
        raise ValueError("the digest key must be at least 16 bytes")
    rows = sorted((leaid, repr(clamp(metric, v))) for leaid, v in members)
    payload = json.dumps(
        [MECHANISM, year, metric, list(METRICS[metric].bounds), repr(float(epsilon)), rows],
        separators=(",", ":"),
    )
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def keyed_digest(key: bytes, *parts: object) -> str:
    """HMAC-SHA256 of ``parts`` for identifiers that must not be testable (run keys, cursors)."""
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode()
        mac.update(len(data).to_bytes(8, "big"))
        mac.update(data)
    return mac.hexdigest()
