"""Intervals over seeds, shared by sweeps and studies: the mean with a Student-t interval, paired differences
seed by seed, and how many seeds would likely separate two settings.

Seeds are few (3 or 5), so intervals are t-intervals, not normal ones; a paired difference uses only the seeds
both settings ran, which removes the seed-to-seed variation they share (same splits, same initial head, same
batches where their configs agree).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
MAX_SEEDS = 100  # past this, "how many seeds would separate them" is answered "more than 100"


@dataclass(frozen=True)
class Interval:
    """Mean, standard deviation (ddof 1) and a t-interval for the mean over ``n`` values.

    With one value the interval is that value twice and ``sd`` is 0: no spread can be measured from it.
    """

    mean: float
    sd: float
    low: float
    high: float
    n: int

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies wholly above or below 0 (never with fewer than two values)."""
        return self.n >= 2 and (self.low > 0 or self.high < 0)

    def clipped(self, lo: float, hi: float) -> Interval:
        """The interval cut to ``[lo, hi]`` (accuracies cannot leave [0, 1], nor their differences [-1, 1])."""
        return Interval(self.mean, self.sd, max(self.low, lo), min(self.high, hi), self.n)

    def as_list(self) -> list[float]:
        """``[low, high]``."""
        return [self.low, self.high]


def t_quantile(df: int, level: float = LEVEL) -> float:
    """The two-sided Student-t quantile for ``level`` with ``df`` degrees of freedom."""
    from scipy import stats

    return float(stats.t.ppf(0.5 + level / 2, df))


def interval(values: Iterable[float | None], level: float = LEVEL) -> Interval:
    """:class:`Interval` of the finite values (NaN everywhere when there is none)."""
    arr = np.asarray([float(v) for v in values if v is not None and math.isfinite(float(v))], dtype=np.float64)
    if len(arr) == 0:
        return Interval(math.nan, math.nan, math.nan, math.nan, 0)
    mean = float(arr.mean())
    if len(arr) == 1:
        return Interval(mean, 0.0, mean, mean, 1)
    sd = float(arr.std(ddof=1))
    half = t_quantile(len(arr) - 1, level) * sd / math.sqrt(len(arr))
    return Interval(mean, sd, mean - half, mean + half, len(arr))


def paired(a: Mapping[int, float | None], b: Mapping[int, float | None], level: float = LEVEL) -> Interval:
    """The interval of ``a[seed] - b[seed]`` over the seeds where both have a finite value (``a`` and ``b``
    are shares, such as accuracies: the interval is cut to [-1, 1])."""
    diffs = [float(a[s]) - float(b[s]) for s in sorted(set(a) & set(b))  # type: ignore[arg-type]
             if a[s] is not None and b[s] is not None and math.isfinite(float(a[s])) and math.isfinite(float(b[s]))]
    return interval(diffs, level).clipped(-1.0, 1.0)


def seeds_to_separate(diff: Interval, level: float = LEVEL, max_seeds: int = MAX_SEEDS) -> int | None:
    """The fewest seeds at which a paired difference with this mean and spread would likely exclude 0:
    the smallest n with t(n-1) · sd / √n < |mean|.  None when it cannot be said (no spread measured, or a mean
    of 0); ``max_seeds + 1`` when even ``max_seeds`` would not do."""
    if diff.n < 2 or not math.isfinite(diff.sd) or diff.mean == 0 or not math.isfinite(diff.mean):
        return None
    if diff.sd == 0:
        return diff.n
    for n in range(2, max_seeds + 1):
        if t_quantile(n - 1, level) * diff.sd / math.sqrt(n) < abs(diff.mean):
            return max(n, diff.n)
    return max_seeds + 1
