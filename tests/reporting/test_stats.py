"""Intervals and verdicts: exact values against scipy and hand computation."""

import math

import pytest
from scipy import stats as sps

from nonlinearity.reporting import stats


def test_mean_interval_is_the_student_t_interval():
    x = [0.95, 0.97, 0.96]
    iv = stats.mean_interval(x)
    low, high = sps.t.interval(0.95, 2, loc=0.96, scale=sps.sem(x))
    assert iv.mean == pytest.approx(0.96)
    assert (iv.low, iv.high) == pytest.approx((low, high))
    assert iv.n == 3 and iv.sd == pytest.approx(0.01)


def test_one_value_has_no_interval_and_cannot_tell():
    iv = stats.mean_interval([0.002])
    assert (iv.low, iv.high, iv.sd) == (None, None, None)
    assert stats.tolerance_verdict(iv, 0.01) == stats.CANNOT_TELL
    assert stats.seeds_needed(iv, 0.01) is None
    assert math.isnan(stats.mean_interval([float("nan"), None]).mean)


def test_tolerance_verdicts_need_the_whole_interval():
    assert (
        stats.tolerance_verdict(stats.mean_interval([0.001, 0.002, 0.003]), 0.01)
        == "within tolerance"
    )
    assert (
        stats.tolerance_verdict(stats.mean_interval([0.05, 0.06, 0.07]), 0.01) == "beyond tolerance"
    )
    # mean inside the tolerance, but the interval reaches past it
    wide = stats.mean_interval([-0.02, 0.0, 0.03])
    assert wide.mean < 0.01 < wide.high
    assert stats.tolerance_verdict(wide, 0.01) == "cannot tell"


def test_seeds_needed_is_the_smallest_n_that_tells():
    drop = stats.mean_interval([-0.02, 0.0, 0.03])
    n = stats.seeds_needed(drop, 0.01)
    t = lambda k: sps.t.ppf(0.975, k - 1)  # noqa: E731
    assert drop.mean + t(n) * drop.sd / math.sqrt(n) <= 0.01
    assert drop.mean + t(n - 1) * drop.sd / math.sqrt(n - 1) > 0.01
    assert stats.seeds_needed(stats.mean_interval([0.02, 0.03]), 0.01) is None  # mean beyond


def test_ratio_interval_is_geometric_over_paired_rounds():
    times, base = [2.0, 2.2, 1.8, 2.0], [1.0, 1.1, 0.9, 1.0]  # exactly twice as slow
    iv = stats.ratio_interval(times, base)
    assert iv.ratio == iv.mean == pytest.approx(2.0) and iv.low == pytest.approx(2.0)
    assert stats.speed_verdict(iv) == "slower"
    noisy = stats.ratio_interval([1.0, 1.3, 0.8, 1.1], [1.1, 1.0, 1.0, 1.0])
    assert noisy.low < 1 < noisy.high
    assert stats.speed_verdict(noisy) == "no measurable difference"
    assert stats.speed_verdict(stats.ratio_interval([0.5, 0.52, 0.49], [1.0, 1.0, 1.0])) == "faster"
    with pytest.raises(ValueError, match="pair them by round"):
        stats.ratio_interval([1.0], [1.0, 2.0])


def test_sign_verdict():
    assert stats.sign_verdict(stats.mean_interval([0.01, 0.02, 0.015])) == "higher"
    assert stats.sign_verdict(stats.mean_interval([-0.01, -0.02, -0.015])) == "lower"
    assert stats.sign_verdict(stats.mean_interval([-0.01, 0.02, 0.0])) == "no measurable difference"
    assert stats.sign_verdict(stats.mean_interval([0.5])) == "no measurable difference"
