"""Intervals over seeds: the t-interval, paired differences, and how many seeds would separate two settings."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from da_core.stats import interval, paired, seeds_to_separate, t_quantile


def test_interval_is_the_student_t_interval() -> None:
    values = [0.81, 0.84, 0.79, 0.88]
    ci = interval(values)
    lo, hi = sps.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=sps.sem(values))
    assert ci.mean == pytest.approx(np.mean(values)) and ci.sd == pytest.approx(np.std(values, ddof=1))
    assert (ci.low, ci.high) == pytest.approx((lo, hi)) and ci.n == 4


def test_one_value_and_none_are_said_plainly() -> None:
    one = interval([0.5, None, math.nan])
    assert (one.mean, one.low, one.high, one.n, one.excludes_zero) == (0.5, 0.5, 0.5, 1, False)
    empty = interval([])
    assert empty.n == 0 and math.isnan(empty.mean)


def test_paired_uses_the_seeds_both_ran() -> None:
    a = {0: 0.9, 1: 0.8, 2: 0.85, 3: 0.7, 5: 0.1}
    b = {0: 0.8, 1: 0.75, 2: 0.79, 3: 0.63, 4: 0.99}
    diff = paired(a, b)
    assert diff.n == 4 and diff.mean == pytest.approx(np.mean([0.1, 0.05, 0.06, 0.07]))
    assert diff.excludes_zero  # every seed gains: the paired interval says so where unpaired ones overlap
    unpaired_a, unpaired_b = interval([a[s] for s in range(4)]), interval([b[s] for s in range(4)])
    assert unpaired_a.low < unpaired_b.high


def test_paired_interval_stays_within_the_possible() -> None:
    diff = paired({0: 1.0, 1: 0.0}, {0: 0.0, 1: 1.0})
    assert -1.0 <= diff.low <= diff.high <= 1.0


@settings(max_examples=60, deadline=None)
@given(mean=st.floats(0.005, 0.3), sd=st.floats(0.001, 0.3), n=st.integers(2, 10))
def test_seeds_to_separate_is_the_first_n_whose_interval_excludes_zero(mean: float, sd: float, n: int) -> None:
    from da_core.stats import Interval

    needed = seeds_to_separate(Interval(mean, sd, 0, 0, n))
    assert needed is not None and needed >= n

    def separates(k: int) -> bool:
        return t_quantile(k - 1) * sd / math.sqrt(k) < mean

    if needed <= 100:
        assert separates(needed)
        assert needed == n or not separates(needed - 1)
    else:
        assert not separates(100)


def test_seeds_to_separate_cannot_answer_without_spread_or_difference() -> None:
    from da_core.stats import Interval

    assert seeds_to_separate(Interval(0.0, 0.1, -0.1, 0.1, 3)) is None
    assert seeds_to_separate(Interval(0.1, 0.0, 0.1, 0.1, 1)) is None
