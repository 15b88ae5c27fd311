"""What a selection is measured by: the effective sample size of its weights, the gap curve (MMD² of the kept
source to the target against the fraction kept, beside random subsets of the same size), the class balance
after selection, and the target samples the source covers least."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

CURVE_FRACTIONS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
CURVE_MAX_POINTS = 1500  # per side for each MMD² of the curve (seeded subsample), so a curve takes seconds
CURVE_KERNEL_ROWS = 5000  # source rows in the curve's one kernel matrix (with 1,500 target rows: ~280 MB in float64)
RANDOM_DRAWS = 5
FEW_SAMPLES = 3  # a class kept with fewer samples than this is warned about


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size of importance weights, as a share of n: (Σw)² / (n Σw²), in (0, 1]."""
    w = np.asarray(weights, dtype=np.float64)
    w = w - min(0.0, float(w.min())) if len(w) else w  # similarity scores may be negative: shift to >= 0
    total = float((w * w).sum())
    return float(w.sum() ** 2 / (len(w) * total)) if len(w) and total > 0 else 0.0


@dataclass
class CurvePoint:
    """One fraction of the gap curve: the selection's MMD² with its 95% interval, and the random band."""

    fraction: float
    n: int
    mmd2: float
    ci: tuple[float, float]
    random_mmd2: float
    random_low: float
    random_high: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (the command line's ``curve`` rows)."""
        return {"fraction": self.fraction, "n": self.n, "mmd2": self.mmd2, "ci": list(self.ci),
                "random_mmd2": self.random_mmd2, "random_band": [self.random_low, self.random_high]}


def _subsample(idx: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    return idx if len(idx) <= k else np.sort(rng.choice(idx, size=k, replace=False))


def gap_curve(xs: np.ndarray, xt: np.ndarray, masks: Sequence[np.ndarray], fractions: Sequence[float],
              seed: int = 0, n_boot: int = 100, draws: int = RANDOM_DRAWS, device: str = "auto",
              progress: Any = None) -> list[CurvePoint]:
    """MMD² between each kept subset (``masks[i]`` at ``fractions[i]``) and the target, with its interval, and
    the mean and range of ``draws`` random subsets of the same size; one kernel (and bandwidth) for every
    point, computed once."""
    from da_core.gap import PooledKernel, median_bandwidth

    rng = np.random.default_rng(seed)
    target = xt[_subsample(np.arange(len(xt)), CURVE_MAX_POINTS, rng)]
    bandwidth = median_bandwidth(np.concatenate([xs[_subsample(np.arange(len(xs)), CURVE_MAX_POINTS, rng)],
                                                 target]), seed=seed, device=device)
    # One kernel over the source rows and the target serves every point (at most CURVE_KERNEL_ROWS source rows:
    # a larger source is subsampled once, seeded, and every subset of the curve is drawn within that pool).
    pool = _subsample(np.arange(len(xs)), CURVE_KERNEL_ROWS, rng)
    where = np.full(len(xs), -1, dtype=np.int64)
    where[pool] = np.arange(len(pool))
    kernel = PooledKernel(xs[pool], target, bandwidth, device=device)
    out: list[CurvePoint] = []
    for i, (mask, fraction) in enumerate(zip(masks, fractions)):
        kept = np.flatnonzero(mask)
        in_pool = where[kept][where[kept] >= 0]
        if len(kept) < 2 or len(in_pool) < 2:
            continue
        value, ci = kernel.mmd2_interval(_subsample(in_pool, CURVE_MAX_POINTS, rng), n_boot, seed=seed + i)
        size = min(len(in_pool), CURVE_MAX_POINTS)
        randoms = [kernel.mmd2(rng.choice(len(pool), size=size, replace=False)) for _ in range(draws)]
        out.append(CurvePoint(float(fraction), int(len(kept)), value, ci, float(np.mean(randoms)),
                              float(np.min(randoms)), float(np.max(randoms))))
        if progress is not None:
            progress((i + 1) / len(fractions), f"gap curve: {fraction:.0%} kept")
    return out


def class_counts(labels: np.ndarray, mask: np.ndarray, classes: Sequence[str]) -> dict[str, int]:
    """Samples of each class kept by ``mask``."""
    counts = np.bincount(labels[mask], minlength=len(classes))
    return {name: int(c) for name, c in zip(classes, counts)}


def balance_warnings(after: dict[str, int], before: dict[str, int]) -> list[str]:
    """A warning for each class the selection leaves empty or with fewer than :data:`FEW_SAMPLES` samples."""
    empty = [c for c, n in after.items() if n == 0 and before.get(c, 0) > 0]
    few = [f"{c} ({n})" for c, n in after.items() if 0 < n < FEW_SAMPLES]
    out = []
    if empty:
        out.append(f"the selection leaves {len(empty)} classes empty ({', '.join(empty[:10])}): a run on it "
                   "cannot learn them; keep a larger fraction or use class-conditional")
    if few:
        out.append(f"classes with fewer than {FEW_SAMPLES} samples kept: {', '.join(few[:10])}")
    return out
