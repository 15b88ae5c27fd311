"""Domain-gap metrics between two sets of embeddings, reported honestly.

Every number comes with a same-domain baseline (the metric between two random halves of the source), a
bootstrap 95% interval and, for MMD², a permutation p-value.  Computation runs in torch: on the GPU when the
tensors are there (float32), otherwise on the CPU in float64.  Inputs may be numpy arrays or torch tensors of
shape (n, d); a 1-D input is read as n points in one dimension.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from da_core.errors import DAError

ArrayLike = Any  # numpy array, torch tensor or nested sequence of shape (n, d)
Progress = Callable[[float, str], None]
Device = str | torch.device  # "auto", "cpu", "cuda", "cuda:1" or a torch.device

BANDWIDTH_MAX_POINTS = 2000  # pooled points used for the median heuristic
MMD_MAX_PER_DOMAIN = 5000  # gap_report subsamples each domain to this for MMD² (the test is O(N²·perms))
SWD_PROJECTIONS = 256  # random directions for the sliced Wasserstein distance
CPU_BOOT_SECONDS = 6.0  # on the CPU, a metric's bootstrap is cut to about this long (estimated from shapes) ...
MIN_BOOT = 20  # ... but never to fewer resamples than this; MetricResult.n_boot says how many were used
_CHUNK_ELEMENTS = 1 << 23  # kernel entries held at once (64 MiB in float64)


class GapError(DAError, ValueError):
    """Embeddings unfit for a gap metric: wrong shape, mismatched dimensions, too few points, NaN/inf."""


# ---------------------------------------------------------------------------------------------- input


def resolve_device(device: Device = "auto", *inputs: ArrayLike) -> torch.device:
    """``"auto"``: the device of a CUDA tensor among ``inputs``, else CUDA if available, else the CPU.

    Any other accelerator (MPS) means the CPU: the covariance algebra needs float64, which MPS lacks.
    """
    if str(device) != "auto":
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise GapError(f"device {device!r} was asked for but CUDA is not available")
        return dev if dev.type == "cuda" else torch.device("cpu")
    for t in inputs:
        if isinstance(t, torch.Tensor) and t.is_cuda:
            return t.device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _dtype(dev: torch.device) -> torch.dtype:
    return torch.float64 if dev.type == "cpu" else torch.float32


def _as_tensor(x: ArrayLike, dev: torch.device, what: str) -> torch.Tensor:
    t = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x, dtype=np.float64))
    t = t.to(device=dev, dtype=_dtype(dev))
    if t.ndim == 1:
        t = t[:, None]
    if t.ndim != 2:
        raise GapError(f"{what} embeddings must be a 2-D array (n, d), got shape {tuple(t.shape)}")
    if t.shape[0] < 2:
        raise GapError(f"{what} has {t.shape[0]} point(s); a gap metric needs at least 2")
    if not bool(torch.isfinite(t).all()):
        raise GapError(f"{what} embeddings contain NaN or infinite values")
    return t


def _prepare(x: ArrayLike, y: ArrayLike, device: Device) -> tuple[torch.Tensor, torch.Tensor]:
    dev = resolve_device(device, x, y)
    xs, xt = _as_tensor(x, dev, "source"), _as_tensor(y, dev, "target")
    if xs.shape[1] != xt.shape[1]:
        raise GapError(f"source and target dimensions differ: {xs.shape[1]} vs {xt.shape[1]}")
    return xs, xt


def _subsample(x: torch.Tensor, k: int | None, rng: np.random.Generator) -> torch.Tensor:
    if k is None or x.shape[0] <= k:
        return x
    idx = np.sort(rng.choice(x.shape[0], size=k, replace=False))
    return x[torch.from_numpy(idx).to(x.device)]


def _median(v: torch.Tensor) -> float:
    s = v.sort().values
    k = s.numel()
    return float((s[(k - 1) // 2] + s[k // 2]) / 2)  # like np.median: mean of the two middle values


# ----------------------------------------------------------------------------------------------- MMD²


def median_bandwidth(
    pooled: ArrayLike, max_points: int = BANDWIDTH_MAX_POINTS, seed: int = 0, *, device: Device = "auto"
) -> float:
    """Median pairwise Euclidean distance of ``pooled`` (at most ``max_points`` of them, seeded subsample)."""
    z = _as_tensor(pooled, resolve_device(device, pooled), "pooled")
    z = _subsample(z, max_points, np.random.default_rng(seed))
    dist = torch.pdist(z)  # i < j only: no zero self-distances
    sigma = _median(dist)
    if sigma <= 0:  # more than half the pairs are duplicates: fall back to the positive distances
        positive = dist[dist > 0]
        sigma = _median(positive) if positive.numel() else 1.0
    return sigma


def _row_chunks(n_rows: int, split: int, n_cols: int) -> Iterator[slice]:
    """Row slices of at most ~_CHUNK_ELEMENTS kernel entries that never straddle ``split``."""
    step = max(1, _CHUNK_ELEMENTS // max(n_cols, 1))
    for lo, hi in ((0, split), (split, n_rows)):
        for a in range(lo, hi, step):
            yield slice(a, min(a + step, hi))


def _rbf(a: torch.Tensor, b: torch.Tensor, sq_b: torch.Tensor, sigma: float) -> torch.Tensor:
    d2 = (a * a).sum(1, keepdim=True) + sq_b[None, :] - 2.0 * (a @ b.T)
    return torch.exp(d2.clamp_min_(0.0) / (-2.0 * sigma * sigma))


def _u_stat(xx: torch.Tensor, yy: torch.Tensor, xy: torch.Tensor, n: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD² from kernel sums that include the (unit) diagonal, for multisets of sizes n and m."""
    return (xx - n) / (n * (n - 1)) + (yy - m) / (m * (m - 1)) - 2.0 * xy / (n * m)


def _mmd2_core(
    z: torch.Tensor,
    n: int,
    sigma: float,
    splits: torch.Tensor | None = None,
    boot: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """One pass over the pooled kernel matrix of ``z`` (x = first n rows, y = the rest), in row chunks.

    ``splits`` (N, S): 0/1 columns marking the x side of S splits of the pooled points (permutations, halves);
    returns MMD² for each.  ``boot`` = (counts over x (n, B), counts over y (m, B)): bootstrap multiplicities;
    returns MMD² for each resample, the diagonal excluded by position (a U-statistic on the resample).
    """
    big_n = z.shape[0]
    sq = (z * z).sum(1)
    w = torch.cat([torch.ones(big_n, 1, dtype=z.dtype, device=z.device), splits], 1) if splits is not None else None
    g = torch.empty(big_n, w.shape[1], dtype=z.dtype, device=z.device) if w is not None else None
    if boot is not None:
        cs, ct = boot
        kx, kxy, ky = (torch.empty(k, cs.shape[1], dtype=z.dtype, device=z.device) for k in (n, n, big_n - n))
    for rows in _row_chunks(big_n, n, big_n):
        k = _rbf(z[rows], z, sq, sigma)
        if g is not None:
            g[rows] = k @ w
        if boot is not None:
            if rows.start < n:
                kx[rows] = k[:, :n] @ cs
                kxy[rows] = k[:, n:] @ ct
            else:
                ky[rows.start - n : rows.stop - n] = k[:, n:] @ ct
    perm_stats = boot_stats = None
    if splits is not None and g is not None:
        r, ka = g[:, 0], g[:, 1:]
        xx = (splits * ka).sum(0)
        xr = splits.T @ r
        yy = r.sum() - 2.0 * xr + xx
        nx = splits.sum(0)
        perm_stats = _u_stat(xx, yy, xr - xx, nx, big_n - nx)
    if boot is not None:
        nb = torch.tensor(float(n), dtype=z.dtype, device=z.device)
        mb = torch.tensor(float(big_n - n), dtype=z.dtype, device=z.device)
        boot_stats = _u_stat((cs * kx).sum(0), (ct * ky).sum(0), (cs * kxy).sum(0), nb, mb)
    return perm_stats, boot_stats


def _first_n(big_n: int, n: int, like: torch.Tensor) -> torch.Tensor:
    col = torch.zeros(big_n, 1, dtype=like.dtype, device=like.device)
    col[:n] = 1.0
    return col


def mmd2(
    x: ArrayLike, y: ArrayLike, bandwidth: float | None = None, *, seed: int = 0, device: Device = "auto"
) -> float:
    """Unbiased MMD² (U-statistic) with a Gaussian kernel; bandwidth = pooled median distance by default."""
    xs, xt = _prepare(x, y, device)
    z = torch.cat([xs, xt])
    sigma = median_bandwidth(z, seed=seed, device=z.device) if bandwidth is None else float(bandwidth)
    stats, _ = _mmd2_core(z, xs.shape[0], sigma, splits=_first_n(z.shape[0], xs.shape[0], z))
    return float(stats[0])


def mmd2_interval(x: ArrayLike, y: ArrayLike, bandwidth: float, n_boot: int = 100, *, seed: int = 0,
                  device: Device = "auto") -> tuple[float, tuple[float, float]]:
    """Unbiased MMD² at a given bandwidth with the gap page's bootstrap 95% interval (bias-centred percentiles),
    from one pass over the kernel matrix: for curves whose points must share one kernel."""
    xs, xt = _prepare(x, y, device)
    z = torch.cat([xs, xt])
    n, m = xs.shape[0], xt.shape[0]
    rng = np.random.default_rng(seed)
    stats, boot = _mmd2_core(z, n, float(bandwidth), splits=_first_n(n + m, n, z),
                             boot=(_counts(n, n_boot, rng, z), _counts(m, n_boot, rng, z)))
    value = float(stats[0])
    return value, _centred_ci(boot.cpu().numpy(), value, METRICS["mmd2"].value_range)


class PooledKernel:
    """One Gaussian kernel matrix over a set of source rows and the target rows, computed once, so the MMD² of
    many subsets of those source rows against the target (a curve, random draws, bootstraps) costs sums, not
    new kernel matrices.  The same U-statistic and bootstrap as :func:`mmd2` and :func:`mmd2_interval`."""

    def __init__(self, xs: ArrayLike, xt: ArrayLike, bandwidth: float, *, device: Device = "auto") -> None:
        a, b = _prepare(xs, xt, device)
        sigma = float(bandwidth)
        self.k_ss = _rbf(a, a, (a * a).sum(1), sigma)
        self.k_st = _rbf(a, b, (b * b).sum(1), sigma)
        self.k_tt = _rbf(b, b, (b * b).sum(1), sigma)
        self.yy = self.k_tt.sum()
        self.m = b.shape[0]

    def _index(self, idx: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(idx, dtype=np.int64), device=self.k_ss.device)

    def mmd2(self, idx: np.ndarray) -> float:
        """Unbiased MMD² between the source rows ``idx`` and the target."""
        i = self._index(idx)
        n = torch.tensor(float(len(i)), dtype=self.k_ss.dtype, device=i.device)
        m = torch.tensor(float(self.m), dtype=self.k_ss.dtype, device=i.device)
        xx = self.k_ss[i][:, i].sum()
        return float(_u_stat(xx, self.yy, self.k_st[i].sum(), n, m))

    def mmd2_interval(self, idx: np.ndarray, n_boot: int = 100, seed: int = 0) -> tuple[float, tuple[float, float]]:
        """:meth:`mmd2` with the bootstrap 95% interval of :func:`mmd2_interval`."""
        i = self._index(idx)
        k_xx, k_xy = self.k_ss[i][:, i], self.k_st[i]
        rng = np.random.default_rng(seed)
        cs, ct = _counts(len(i), n_boot, rng, k_xx), _counts(self.m, n_boot, rng, k_xx)
        n = torch.tensor(float(len(i)), dtype=k_xx.dtype, device=i.device)
        m = torch.tensor(float(self.m), dtype=k_xx.dtype, device=i.device)
        value = float(_u_stat(k_xx.sum(), self.yy, k_xy.sum(), n, m))
        boot = _u_stat((cs * (k_xx @ cs)).sum(0), (ct * (self.k_tt @ ct)).sum(0), (cs * (k_xy @ ct)).sum(0), n, m)
        return value, _centred_ci(boot.cpu().numpy(), value, METRICS["mmd2"].value_range)


def _perm_splits(big_n: int, n: int, n_perm: int, rng: np.random.Generator, like: torch.Tensor) -> torch.Tensor:
    """(N, 1 + n_perm) 0/1 matrix: column 0 the observed split, then random relabellings."""
    a = np.zeros((big_n, 1 + n_perm))
    a[:n, 0] = 1.0
    if n_perm:
        picks = np.argsort(rng.random((n_perm, big_n)), axis=1)[:, :n]
        a[picks, np.arange(1, n_perm + 1)[:, None]] = 1.0
    return torch.as_tensor(a, dtype=like.dtype, device=like.device)


def mmd2_test(
    x: ArrayLike,
    y: ArrayLike,
    n_permutations: int = 200,
    seed: int = 0,
    bandwidth: float | None = None,
    *,
    device: Device = "auto",
) -> tuple[float, float, float]:
    """MMD² with a permutation p-value: returns (value, p_value, bandwidth).

    The kernel matrix is computed once; all relabellings are evaluated together as matrix products.
    p = (1 + #{permuted ≥ observed}) / (1 + n_permutations).
    """
    xs, xt = _prepare(x, y, device)
    z = torch.cat([xs, xt])
    sigma = median_bandwidth(z, seed=seed, device=z.device) if bandwidth is None else float(bandwidth)
    splits = _perm_splits(z.shape[0], xs.shape[0], n_permutations, np.random.default_rng(seed), z)
    stats, _ = _mmd2_core(z, xs.shape[0], sigma, splits=splits)
    value = float(stats[0])
    return value, _p_value(stats), sigma


def _p_value(stats: torch.Tensor) -> float:
    return (1 + int((stats[1:] >= stats[0]).sum())) / stats.numel()


# ---------------------------------------------------------------------------------------- other metrics


def proxy_a_distance(x: ArrayLike, y: ArrayLike, *, seed: int = 0, device: Device = "auto", n_folds: int = 5) -> float:
    """Proxy A-distance 2(1 − 2ε): ε = cross-validated error of a logistic-regression domain classifier.

    The larger domain is subsampled to the smaller one's size; features are standardized inside each fold.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    xs, xt = (t.numpy() for t in _prepare(x, y, "cpu"))  # scikit-learn works on the CPU
    rng = np.random.default_rng(seed)
    k = min(len(xs), len(xt))
    xs, xt = (a[np.sort(rng.choice(len(a), size=k, replace=False))] if len(a) > k else a for a in (xs, xt))
    features = np.concatenate([xs, xt])
    labels = np.r_[np.zeros(k, dtype=int), np.ones(k, dtype=int)]
    cv = StratifiedKFold(n_splits=min(n_folds, k), shuffle=True, random_state=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    with threadpool_limits(limits=1, user_api="blas"):  # small problems: BLAS threads only add overhead
        error = float(np.mean(cross_val_predict(model, features, labels, cv=cv) != labels))
    return 2.0 * (1.0 - 2.0 * min(error, 0.5))


def _moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (n − 1) covariance over the second-last axis, batched over any leading ones.

    Kept in float64 even on the GPU: the d×d algebra is cheap and needs the precision.
    """
    mean = x.mean(-2, keepdim=True)
    xc = (x - mean).double()
    return mean.squeeze(-2).double(), xc.mT @ xc / (x.shape[-2] - 1)


def _trace(c: torch.Tensor) -> torch.Tensor:
    return c.diagonal(dim1=-2, dim2=-1).sum(-1)


def _eigh(c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched eigh; on the CPU one matrix at a time (torch's batched CPU eigh nests thread pools and crawls)."""
    if c.is_cuda or c.ndim == 2:
        return torch.linalg.eigh(c)
    vals, vecs = zip(*(torch.linalg.eigh(m) for m in c.reshape(-1, *c.shape[-2:])))
    return torch.stack(vals).reshape(c.shape[:-1]), torch.stack(vecs).reshape(c.shape)


def _frechet_stat(ms: torch.Tensor, cs: torch.Tensor, mt: torch.Tensor, ct: torch.Tensor) -> torch.Tensor:
    vals, vecs = _eigh(cs)
    root = (vecs * vals.clamp_min(0).sqrt().unsqueeze(-2)) @ vecs.mT  # Σs^½
    middle = root @ ct @ root  # similar to ΣsΣt, but symmetric PSD: its eigenvalues are safe to take roots of
    tr_sqrt = torch.linalg.eigvalsh((middle + middle.mT) / 2).clamp_min(0).sqrt().sum(-1)
    return (((ms - mt) ** 2).sum(-1) + _trace(cs) + _trace(ct) - 2.0 * tr_sqrt).clamp_min(0)


def _coral_stat(ms: torch.Tensor, cs: torch.Tensor, mt: torch.Tensor, ct: torch.Tensor) -> torch.Tensor:
    d = cs.shape[-1]
    return ((cs - ct) ** 2).sum((-2, -1)) / (4 * d * d)


def frechet(x: ArrayLike, y: ArrayLike, *, seed: int = 0, device: Device = "auto") -> float:
    """Fréchet distance of Gaussians fitted to each set: ||μs−μt||² + Tr(Σs + Σt − 2(ΣsΣt)^½)."""
    xs, xt = _prepare(x, y, device)
    return float(_frechet_stat(*_moments(xs), *_moments(xt)))


def coral(x: ArrayLike, y: ArrayLike, *, seed: int = 0, device: Device = "auto") -> float:
    """CORAL distance ||Cs − Ct||²_F / (4d²) between the covariance matrices."""
    xs, xt = _prepare(x, y, device)
    return float(_coral_stat(*_moments(xs), *_moments(xt)))


def _directions(d: int, n_projections: int, seed: int, like: torch.Tensor) -> torch.Tensor:
    """(d, P) random unit vectors from a seeded CPU generator, so every device draws the same ones."""
    gen = torch.Generator().manual_seed(seed)
    theta = torch.randn(d, n_projections, generator=gen, dtype=torch.float64)
    return (theta / theta.norm(dim=0, keepdim=True)).to(device=like.device, dtype=like.dtype)


def _sorted_projections(x: torch.Tensor, theta: torch.Tensor, with_order: bool = False) -> tuple[torch.Tensor, ...]:
    """Rows = projections of x onto each direction, sorted; numpy sorts on the CPU (several times faster there)."""
    rows = (x @ theta).T.contiguous()
    if rows.is_cuda:
        values, order = rows.sort(-1)
        return (values, order) if with_order else (values,)
    a = rows.numpy()
    if not with_order:
        return (torch.from_numpy(np.sort(a, axis=-1)),)
    order_np = np.argsort(a, axis=-1)
    return torch.from_numpy(np.take_along_axis(a, order_np, axis=-1)), torch.from_numpy(order_np)


Grid = tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None


def _grid(n: int, big_n: int, like: torch.Tensor) -> Grid:
    """Linear interpolation of n order statistics at the levels (k + ½)/N, k < N; None (identity) when n == N."""
    if n == big_n:
        return None
    pos = ((torch.arange(big_n, dtype=torch.float64) + 0.5) * n / big_n - 0.5).clamp(0, n - 1)
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=n - 1)
    return lo.to(like.device), hi.to(like.device), (pos - lo).to(device=like.device, dtype=like.dtype)


def _quantiles(sorted_rows: torch.Tensor, grid: Grid) -> torch.Tensor:
    if grid is None:
        return sorted_rows
    lo, hi, w = grid
    if sorted_rows.is_cuda:
        return torch.lerp(sorted_rows[..., lo], sorted_rows[..., hi], w)
    a = sorted_rows.numpy()  # numpy indexes and blends several times faster than torch on the CPU
    low = np.take(a, lo.numpy(), axis=-1)
    return torch.from_numpy(low + (np.take(a, hi.numpy(), axis=-1) - low) * w.numpy())


def swd(
    x: ArrayLike, y: ArrayLike, n_projections: int = SWD_PROJECTIONS, *, seed: int = 0, device: Device = "auto"
) -> float:
    """Sliced Wasserstein-2: sqrt of the mean squared 1-D W2 over random directions (quantile matching)."""
    xs, xt = _prepare(x, y, device)
    theta = _directions(xs.shape[1], n_projections, seed, xs)
    big_n = max(xs.shape[0], xt.shape[0])
    qs, qt = (_quantiles(_sorted_projections(a, theta)[0], _grid(a.shape[0], big_n, a)) for a in (xs, xt))
    return math.sqrt(float(((qs - qt) ** 2).mean()))


# --------------------------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Metric:
    """A gap metric: what the UI lists, and how expensive its bootstrap may be."""

    name: str
    label: str
    description: str
    fn: Callable[..., float]  # fn(x, y, *, seed=0, device="auto") -> float
    unit_hint: str
    max_boot: int | None = None  # cap on bootstrap resamples (expensive metrics)
    boot_max_points: int | None = None  # cap on points per domain in one bootstrap resample
    cpu_seconds: Callable[[int, int, int], float] | None = None  # est. seconds per resample on 2 cores (n, m, d)
    value_range: tuple[float, float] = (0.0, math.inf)  # the interval is clipped to it


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "mmd2",
            "MMD²",
            "Unbiased squared maximum mean discrepancy under a Gaussian kernel (median bandwidth).",
            mmd2,
            "≥ 0 up to noise; unitless, 0 = same distribution",
            value_range=(-math.inf, math.inf),  # unbiased: may dip below 0 when there is no gap
        ),
        Metric(
            "pad",
            "Proxy A-distance",
            "2(1 − 2ε) with ε the held-out error of a linear classifier told to tell the domains apart.",
            proxy_a_distance,
            "0 (inseparable) to 2 (perfectly separable)",
            max_boot=30,
            boot_max_points=1000,
            cpu_seconds=lambda n, m, d: 5e-7 * d * min(n, m, 1000),
            value_range=(0.0, 2.0),
        ),
        Metric(
            "frechet",
            "Fréchet distance",
            "Squared 2-Wasserstein distance between Gaussians fitted to each domain's embeddings.",
            frechet,
            "squared embedding units; 0 = same mean and covariance",
            cpu_seconds=lambda n, m, d: ((n + m) * d * d + 4 * d**3) / 1e10,
        ),
        Metric(
            "coral",
            "CORAL distance",
            "Squared Frobenius distance between the domains' covariance matrices, divided by 4d².",
            coral,
            "squared covariance units; 0 = same covariance",
            cpu_seconds=lambda n, m, d: (n + m) * d * d / 3e10,
        ),
        Metric(
            "swd",
            "Sliced Wasserstein",
            "Root mean squared 1-D Wasserstein-2 distance over random projections.",
            swd,
            "embedding units; 0 = same distribution",
            cpu_seconds=lambda n, m, d: 3e-8 * SWD_PROJECTIONS * max(n, m),
        ),
    )
}

METRIC_HELP: dict[str, str] = {
    "mmd2": "MMD²: how different the two clouds of embeddings are under a Gaussian kernel; 0 means indistinguishable.",
    "pad": "Proxy A-distance: how easily a simple classifier tells source from target; 0 means it cannot, 2 means "
    "it always can.",
    "frechet": "Fréchet distance: how far apart the domains' means and spreads are, treating each as a Gaussian "
    "blob; 0 means same mean and covariance.",
    "coral": "CORAL: how differently the embedding dimensions vary and co-vary in the two domains; 0 means the same "
    "covariance.",
    "swd": "Sliced Wasserstein: the average distance points must move to turn one cloud into the other, seen "
    "along many random directions; 0 means the same distribution.",
}

DEFAULT_METRICS: tuple[str, ...] = tuple(METRICS)


# ------------------------------------------------------------------------------------------- reporting


@dataclass
class MetricResult:
    """One metric's honest reading: value, same-domain baseline, bootstrap 95% interval (and MMD's p-value)."""

    name: str
    value: float
    baseline: float
    ci: tuple[float, float]
    p_value: float | None = None
    bandwidth: float | None = None
    significant: bool = False
    n_boot: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary."""
        return {
            "value": self.value,
            "baseline": self.baseline,
            "ci": [self.ci[0], self.ci[1]],
            "p_value": self.p_value,
            "bandwidth": self.bandwidth,
            "significant": self.significant,
            "n_boot": self.n_boot,
        }


def _halves(n: int, m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint random parts of the source; the second has the target's size when that is under n/2."""
    perm = rng.permutation(n)
    b = min(n // 2, m)
    return np.sort(perm[b:]), np.sort(perm[:b])


def _centred_ci(boot: np.ndarray, value: float, bounds: tuple[float, float]) -> tuple[float, float]:
    """95% bootstrap percentile interval, shifted by the bootstrap bias (mean of resamples − observed value).

    Resampling with replacement repeats points, which inflates plug-in estimates (Fréchet, CORAL, SWD, PAD)
    and the duplicate pairs of an MMD² U-statistic; left uncorrected the interval can miss the value entirely.
    """
    low, high = np.percentile(boot, [2.5, 97.5]) - (float(np.mean(boot)) - value)
    return float(np.clip(low, *bounds)), float(np.clip(high, *bounds))


def _counts(n: int, n_boot: int, rng: np.random.Generator, like: torch.Tensor) -> torch.Tensor:
    """(n, B) bootstrap multiplicities: column b counts how often each point is drawn in resample b."""
    draws = rng.integers(0, n, size=(n_boot, n))
    counts = np.zeros((n, n_boot))
    np.add.at(counts, (draws, np.arange(n_boot)[:, None]), 1.0)
    return torch.as_tensor(counts, dtype=like.dtype, device=like.device)


def _take(x: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
    return x[torch.from_numpy(idx).to(x.device)]


def _run_mmd2(
    xs: torch.Tensor, xt: torch.Tensor, n_boot: int, n_perm: int, seed: int, rng: np.random.Generator
) -> MetricResult:
    xs, xt = _subsample(xs, MMD_MAX_PER_DOMAIN, rng), _subsample(xt, MMD_MAX_PER_DOMAIN, rng)
    n, m = xs.shape[0], xt.shape[0]
    z = torch.cat([xs, xt])
    sigma = median_bandwidth(z, seed=seed, device=z.device)
    splits = _perm_splits(n + m, n, n_perm, rng, z)
    stats, boot = _mmd2_core(z, n, sigma, splits=splits, boot=(_counts(n, n_boot, rng, z), _counts(m, n_boot, rng, z)))
    part_a, part_b = _halves(n, m, rng)
    base, _ = _mmd2_core(
        torch.cat([_take(xs, part_a), _take(xs, part_b)]), len(part_a), sigma, splits=_first_n(n, len(part_a), z)
    )
    value, p_value = float(stats[0]), _p_value(stats)
    ci = _centred_ci(boot.cpu().numpy(), value, METRICS["mmd2"].value_range)
    return MetricResult("mmd2", value, float(base[0]), ci, p_value, sigma, p_value < 0.05, n_boot)


MomentStat = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
_MOMENT_STATS: dict[str, MomentStat] = {"frechet": _frechet_stat, "coral": _coral_stat}


def _batches(n_boot: int, per_resample: int) -> Iterator[int]:
    """Sizes of resample batches that keep each batched tensor near _CHUNK_ELEMENTS / 2 entries."""
    step = max(1, (_CHUNK_ELEMENTS // 2) // max(per_resample, 1))
    for start in range(0, n_boot, step):
        yield min(step, n_boot - start)


def _moment_boot(
    stat: MomentStat, xs: torch.Tensor, xt: torch.Tensor, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """Bootstrap a moment-based metric, resamples batched through ``_moments``."""
    (n, d), m = xs.shape, xt.shape[0]
    out = []
    for b in _batches(n_boot, (n + m) * d):
        idx_s = torch.from_numpy(rng.integers(0, n, (b, n))).to(xs.device)
        idx_t = torch.from_numpy(rng.integers(0, m, (b, m))).to(xt.device)
        out.append(stat(*_moments(xs[idx_s]), *_moments(xt[idx_t])).cpu().numpy())
    return np.concatenate(out)


def _resampled_sorted(sorted_rows: torch.Tensor, order: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Sorted projections of b resamples, (b, P, n), from the sorted full sample and multiplicities (b, n).

    No sorting: each sorted value is repeated as often as its point was drawn (np.repeat on the CPU; on the
    GPU, cumulative counts give the sorted position of each order statistic).
    """
    (b, n), p = counts.shape, sorted_rows.shape[0]
    if not sorted_rows.is_cuda:
        flat, flat_order = sorted_rows.numpy().ravel(), order.numpy().ravel()
        reps = [np.repeat(flat, c[flat_order]) for c in counts.numpy()]  # every row's counts sum to n
        return torch.from_numpy(np.stack(reps).reshape(b, p, n))
    cum = counts.index_select(1, order.ravel()).view(b, p, n).cumsum(-1)  # resample size up to each position
    marks = torch.zeros(b, p, n + 1, dtype=cum.dtype, device=cum.device)
    marks.scatter_add_(-1, cum, torch.ones_like(cum))
    return sorted_rows.expand(b, p, n).gather(-1, marks[..., :n].cumsum(-1))


def _swd_boot(xs: torch.Tensor, xt: torch.Tensor, seed: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap SWD on fixed directions, projecting and sorting once (see ``_resampled_sorted``)."""
    theta = _directions(xs.shape[1], SWD_PROJECTIONS, seed, xs)
    big_n = max(xs.shape[0], xt.shape[0])
    sides = [(*_sorted_projections(x, theta, with_order=True), _grid(x.shape[0], big_n, x)) for x in (xs, xt)]
    out = []
    for b in _batches(n_boot, SWD_PROJECTIONS * big_n):
        q = []
        for sorted_rows, order, grid in sides:
            n = sorted_rows.shape[1]
            draws = torch.from_numpy(rng.integers(0, n, (b, n)) + n * np.arange(b)[:, None]).to(order.device)
            counts = torch.bincount(draws.ravel(), minlength=b * n).view(b, n)
            q.append(_quantiles(_resampled_sorted(sorted_rows, order, counts), grid))
        rms = torch.linalg.vector_norm(q[0] - q[1], dim=(-2, -1)) / math.sqrt(q[0][0].numel())
        out.append(rms.cpu().numpy())
    return np.concatenate(out)


def _boot_size(metric: Metric, n_boot: int, xs: torch.Tensor, xt: torch.Tensor) -> int:
    """Resamples to draw: ``n_boot``, cut by the metric's cap and, on the CPU, by its time estimate."""
    n_boot = min(n_boot, metric.max_boot or n_boot)
    if metric.cpu_seconds is None or xs.is_cuda:
        return n_boot
    per_resample = metric.cpu_seconds(xs.shape[0], xt.shape[0], xs.shape[1])
    return min(n_boot, max(MIN_BOOT, int(CPU_BOOT_SECONDS / per_resample)))


def _run_generic(
    metric: Metric, xs: torch.Tensor, xt: torch.Tensor, n_boot: int, seed: int, rng: np.random.Generator
) -> MetricResult:
    kw: dict[str, Any] = {"seed": seed, "device": xs.device}
    value = metric.fn(xs, xt, **kw)
    part_a, part_b = _halves(xs.shape[0], xt.shape[0], rng)
    baseline = metric.fn(_take(xs, part_a), _take(xs, part_b), **kw)
    n_boot = _boot_size(metric, n_boot, xs, xt)
    if metric.name == "swd":
        boot = _swd_boot(xs, xt, seed, n_boot, rng)
    elif metric.name in _MOMENT_STATS:
        boot = _moment_boot(_MOMENT_STATS[metric.name], xs, xt, n_boot, rng)
    else:
        cap = metric.boot_max_points
        size_s, size_t = min(xs.shape[0], cap or xs.shape[0]), min(xt.shape[0], cap or xt.shape[0])
        boot = np.array(
            [
                metric.fn(
                    _take(xs, rng.integers(0, xs.shape[0], size_s)),
                    _take(xt, rng.integers(0, xt.shape[0], size_t)),
                    **kw,
                )
                for _ in range(n_boot)
            ]
        )
    ci = _centred_ci(boot, value, metric.value_range)
    return MetricResult(metric.name, value, baseline, ci, significant=ci[0] > baseline, n_boot=n_boot)


def gap_report(
    source: ArrayLike,
    target: ArrayLike,
    metrics: Sequence[str] = DEFAULT_METRICS,
    n_boot: int = 200,
    n_permutations: int = 200,
    seed: int = 0,
    max_samples: int | None = None,
    device: Device = "auto",
    progress: Progress | None = None,
) -> dict[str, MetricResult]:
    """Each metric between source and target, with a source-vs-source baseline and a bootstrap 95% CI.

    ``significant`` is p < 0.05 for MMD² (permutation test) and "CI low > baseline" for the others.
    ``max_samples`` subsamples each domain (seeded) before anything else.  Expensive bootstraps draw fewer
    than ``n_boot`` resamples (PAD at most 30; on the CPU, large or high-dimensional inputs cut PAD, Fréchet,
    CORAL and SWD to about CPU_BOOT_SECONDS each, never below MIN_BOOT): each result's ``n_boot`` says how many.
    ``progress(fraction, message)`` is called as metrics start and once at the end.
    """
    unknown = [name for name in metrics if name not in METRICS]
    if unknown:
        raise GapError(f"unknown gap metric(s) {', '.join(unknown)}; known: {', '.join(METRICS)}")
    if n_boot < 1 or n_permutations < 0:
        raise GapError("n_boot must be at least 1 and n_permutations at least 0")
    xs, xt = _prepare(source, target, device)
    rng = np.random.default_rng(seed)
    xs, xt = _subsample(xs, max_samples, rng), _subsample(xt, max_samples, rng)
    if xs.shape[0] < 4:
        raise GapError(f"source has {xs.shape[0]} points; the same-domain baseline needs at least 4")
    report: dict[str, MetricResult] = {}
    for i, name in enumerate(metrics):
        metric = METRICS[name]
        if progress is not None:
            progress(i / len(metrics), f"Computing {metric.label}…")
        metric_rng = np.random.default_rng([seed, zlib.crc32(name.encode())])  # independent of the metric list
        if name == "mmd2":
            report[name] = _run_mmd2(xs, xt, n_boot, n_permutations, seed, metric_rng)
        else:
            report[name] = _run_generic(metric, xs, xt, n_boot, seed, metric_rng)
    if progress is not None:
        progress(1.0, "Done")
    return report


def per_class_mmd2(
    source: ArrayLike,
    target: ArrayLike,
    source_labels: ArrayLike,
    target_labels: ArrayLike,
    classes: Sequence[str],
    seed: int = 0,
    bandwidth: float | None = None,
    min_samples: int = 5,
    device: Device = "auto",
) -> list[dict[str, Any]]:
    """MMD² within each class (label i is ``classes[i]``), worst first; a class with < ``min_samples`` points
    in either domain is listed last with ``skipped=True``.  ``bandwidth`` None: median within the class."""
    xs, xt = _prepare(source, target, device)
    ls, lt = (np.asarray(t.cpu() if isinstance(t, torch.Tensor) else t).ravel() for t in (source_labels, target_labels))
    if len(ls) != xs.shape[0] or len(lt) != xt.shape[0]:
        raise GapError("labels and embeddings have different lengths")
    rows: list[dict[str, Any]] = []
    for i, name in enumerate(classes):
        sel_s, sel_t = np.flatnonzero(ls == i), np.flatnonzero(lt == i)
        row: dict[str, Any] = {
            "class": name,
            "n_source": len(sel_s),
            "n_target": len(sel_t),
            "mmd2": None,
            "skipped": min(len(sel_s), len(sel_t)) < max(min_samples, 2),
        }
        if not row["skipped"]:
            cs = xs[torch.from_numpy(sel_s).to(xs.device)]
            ct = xt[torch.from_numpy(sel_t).to(xt.device)]
            row["mmd2"] = mmd2(cs, ct, bandwidth, seed=seed, device=xs.device)
        rows.append(row)
    return sorted(rows, key=lambda r: (r["skipped"], -(r["mmd2"] or 0.0)))
