"""Intervals across seeds and timing rounds, and what they let a sentence say.

A quantity measured on n seeds (x_1 .. x_n) is reported as its mean with the Student-t
95 % interval

    x̄ ± t_{0.975, n−1} · s / √n,        s² = Σ (x_i − x̄)² / (n − 1).

A comparison against the all-ReLU baseline is *paired*: d_i = acc(baseline, seed i)
− acc(run, seed i), the same seed and data split, and d̄ gets the same interval. One
value has no interval (low = high = None): a sentence from it says the data cannot tell.

A latency ratio comes from interleaved rounds, each timing the run and its baseline
back to back: r_i = t_i / b_i, and

    ratio = exp(mean log r),   interval exp(mean log r ± t_{0.975, n−1} · sd(log r) / √n).

"Within tolerance τ" needs the whole interval of the drop below τ (high ≤ τ); "beyond"
needs it above (low > τ); anything else cannot tell. The seeds that would tell are
the smallest n with d̄ + t_{0.975, n−1} · s / √n ≤ τ, from the observed mean and spread
(none when d̄ ≥ τ: more seeds would show the drop beyond tolerance instead).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as sps

LEVEL = 0.95

WITHIN, BEYOND, CANNOT_TELL = "within tolerance", "beyond tolerance", "cannot tell"
FASTER, SLOWER, NO_DIFFERENCE = "faster", "slower", "no measurable difference"
HIGHER, LOWER = "higher", "lower"


@dataclass(frozen=True)
class Interval:
    """A mean over n values with its two-sided interval (None for fewer than two values)."""

    mean: float
    low: float | None
    high: float | None
    n: int
    sd: float | None
    level: float = LEVEL
    test: str = "t"  # how the interval was made: "t" (Student-t) or "t on log" (ratios)

    @property
    def ratio(self) -> float:
        """The mean, named for ratio intervals (a geometric mean there)."""
        return self.mean

    @property
    def half(self) -> float | None:
        return None if self.low is None or self.high is None else (self.high - self.low) / 2

    def excludes(self, value: float) -> bool:
        """Whether the interval lies wholly on one side of `value` (False without one)."""
        return self.low is not None and (self.low > value or self.high < value)

    def as_dict(self) -> dict:
        return asdict(self)


def t_quantile(n: int, level: float = LEVEL) -> float:
    return float(sps.t.ppf(0.5 + level / 2, n - 1))


def mean_interval(values: Iterable[float], level: float = LEVEL) -> Interval:
    """x̄ ± t · s/√n over the finite values; one value: no interval; none: NaN mean."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    n = len(x)
    if n == 0:
        return Interval(math.nan, None, None, 0, None, level)
    mean = float(x.mean())
    if n == 1:
        return Interval(mean, None, None, 1, None, level)
    sd = float(x.std(ddof=1))
    half = t_quantile(n, level) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n, sd, level)


def ratio_interval(
    times: Iterable[float], baseline_times: Iterable[float], level: float = LEVEL
) -> Interval:
    """Geometric-mean ratio of paired rounds t_i / b_i with the t interval on log r."""
    t, b = np.asarray(list(times), dtype=float), np.asarray(list(baseline_times), dtype=float)
    if t.shape != b.shape:
        raise ValueError(f"{len(t)} rounds against {len(b)} baseline rounds: pair them by round")
    ok = (t > 0) & (b > 0) & np.isfinite(t) & np.isfinite(b)
    logs = mean_interval(np.log(t[ok] / b[ok]), level)
    low, high = (None, None) if logs.low is None else (math.exp(logs.low), math.exp(logs.high))
    return Interval(math.exp(logs.mean), low, high, logs.n, logs.sd, level, "t on log")


def tolerance_verdict(drop: Interval, tolerance: float) -> str:
    """Within tolerance only when the drop's whole interval is at most `tolerance`."""
    if drop.low is None:
        return CANNOT_TELL
    if drop.high <= tolerance:
        return WITHIN
    if drop.low > tolerance:
        return BEYOND
    return CANNOT_TELL


def speed_verdict(ratio: Interval) -> str:
    """Time ratio run / baseline: faster only when the interval lies below 1."""
    if ratio.low is None:
        return NO_DIFFERENCE
    if ratio.high < 1:
        return FASTER
    if ratio.low > 1:
        return SLOWER
    return NO_DIFFERENCE


def sign_verdict(diff: Interval) -> str:
    """A difference is higher or lower only when its interval excludes 0."""
    if diff.low is None or not diff.excludes(0.0):
        return NO_DIFFERENCE
    return HIGHER if diff.low > 0 else LOWER


def seeds_needed(drop: Interval, tolerance: float, level: float = LEVEL, cap: int = 1000):
    """Smallest n with d̄ + t_{n−1} · s/√n ≤ τ for the observed d̄ and s.

    None when it cannot be computed (fewer than two seeds, or d̄ ≥ τ: the drop itself is
    at or beyond tolerance) or exceeds `cap`.
    """
    if drop.sd is None or not drop.mean < tolerance:
        return None
    if drop.sd == 0:
        return max(drop.n, 2)
    for n in range(2, cap + 1):
        if drop.mean + t_quantile(n, level) * drop.sd / math.sqrt(n) <= tolerance:
            return n
    return None
