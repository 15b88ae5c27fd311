"""Gap metrics against closed forms, slow reference implementations and simple cases."""

from __future__ import annotations

import json
import math
from functools import partial

import numpy as np
import pytest
import torch
from scipy.linalg import sqrtm
from scipy.spatial.distance import pdist

from da_core import gap
from da_core.errors import DAError
from da_core.gap import METRIC_HELP, METRICS, GapError, MetricResult

# Closed forms are checked in float64 on the CPU, also where a GPU is present; test_gpu_matches_cpu covers the GPU.
(coral, frechet, gap_report, median_bandwidth, mmd2, mmd2_test, proxy_a_distance, per_class_mmd2,
 swd) = (
    partial(fn, device="cpu")
    for fn in (
        gap.coral,
        gap.frechet,
        gap.gap_report,
        gap.median_bandwidth,
        gap.mmd2,
        gap.mmd2_test,
        gap.proxy_a_distance,
        gap.per_class_mmd2,
        gap.swd,
    )
)


def gaussian(n: int, d: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)) * scale + shift


def exact_moments(n: int, mean: np.ndarray, std: np.ndarray, seed: int) -> np.ndarray:
    """A sample whose mean and (n − 1) covariance are exactly ``mean`` and diag(std²)."""
    z = np.random.default_rng(seed).standard_normal((n, len(mean)))
    z -= z.mean(0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T
    return z * std + mean


@pytest.fixture(scope="module")
def shifted_report() -> dict[str, MetricResult]:
    """A clear gap in mean and spread: every metric should see it."""
    return gap_report(gaussian(400, 8, 1), gaussian(300, 8, 2, shift=0.5, scale=1.5), n_boot=40, n_permutations=100)


# ----------------------------------------------------------------------------------------------- MMD²


def test_median_bandwidth_matches_pdist() -> None:
    x = gaussian(101, 4, 3)
    assert median_bandwidth(x) == pytest.approx(float(np.median(pdist(x))), rel=1e-12)
    assert median_bandwidth(x[:100]) == pytest.approx(float(np.median(pdist(x[:100]))), rel=1e-12)  # even count


def test_median_bandwidth_ignores_duplicates_when_most_pairs_are() -> None:
    x = np.r_[np.zeros((20, 2)), np.ones((2, 2))]
    assert median_bandwidth(x) == pytest.approx(math.sqrt(2))


def test_mmd2_matches_double_loop() -> None:
    x, y, sigma = gaussian(7, 3, 4), gaussian(5, 3, 5, shift=0.3), 1.3

    def k(a: np.ndarray, b: np.ndarray) -> float:
        return math.exp(-float(np.sum((a - b) ** 2)) / (2 * sigma**2))

    n, m = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    assert mmd2(x, y, bandwidth=sigma) == pytest.approx(xx + yy - 2 * xy, abs=1e-12)


def test_mmd2_default_bandwidth_is_pooled_median() -> None:
    x, y = gaussian(60, 3, 6), gaussian(40, 3, 7, shift=1.0)
    assert mmd2(x, y) == pytest.approx(mmd2(x, y, median_bandwidth(np.r_[x, y])), rel=1e-12)


def test_mmd2_same_distribution_is_near_zero_and_not_significant() -> None:
    value, p, sigma = mmd2_test(gaussian(300, 5, 8), gaussian(250, 5, 9), n_permutations=200)
    assert abs(value) < 0.01
    assert p > 0.05
    assert sigma > 0


def test_mmd2_shifted_is_positive_and_significant() -> None:
    value, p, _ = mmd2_test(gaussian(300, 5, 10), gaussian(250, 5, 11, shift=0.5), n_permutations=200)
    assert value > 0.05
    assert p < 0.01
    assert p == pytest.approx(1 / 201)  # no relabelling comes close


def test_permutation_statistics_match_explicit_recomputation() -> None:
    z = torch.as_tensor(gaussian(50, 3, 12))
    splits = gap._perm_splits(50, 30, 5, np.random.default_rng(0), z)
    stats, _ = gap._mmd2_core(z, 30, 1.1, splits=splits)
    for j in range(splits.shape[1]):
        mask = splits[:, j].bool()
        assert int(mask.sum()) == 30
        assert float(stats[j]) == pytest.approx(mmd2(z[mask], z[~mask], 1.1), abs=1e-12)


def test_bootstrap_statistics_match_resampled_u_statistic() -> None:
    x, y, sigma = gaussian(9, 2, 13), gaussian(6, 2, 14), 0.9
    rng = np.random.default_rng(1)
    ix, iy = rng.integers(0, 9, 9), rng.integers(0, 6, 6)
    cs = torch.as_tensor(np.bincount(ix, minlength=9), dtype=torch.float64)[:, None]
    ct = torch.as_tensor(np.bincount(iy, minlength=6), dtype=torch.float64)[:, None]
    _, boot = gap._mmd2_core(torch.as_tensor(np.r_[x, y]), 9, sigma, boot=(cs, ct))
    # a U-statistic over positions: duplicated points at different positions do count as pairs
    assert float(boot[0]) == pytest.approx(mmd2(x[ix], y[iy], sigma), abs=1e-12)


# ---------------------------------------------------------------------------------------- other metrics


def test_frechet_of_unit_gaussians_is_squared_mean_distance() -> None:
    mu1, mu2 = np.array([0.0, 1.0, -1.0]), np.array([1.0, 1.0, 1.0])
    x, y = gaussian(20000, 3, 15) + mu1, gaussian(20000, 3, 16) + mu2
    # the sample means are off by ~0.007 per axis: the cross term 2(μ1 − μ2)·noise has sd ≈ 0.045 here
    assert frechet(x, y) == pytest.approx(float(np.sum((mu1 - mu2) ** 2)), abs=0.15)
    # identical covariances: the trace term vanishes and only the mean term is left
    assert frechet(x, x + (mu2 - mu1)) == pytest.approx(float(np.sum((mu1 - mu2) ** 2)), abs=1e-9)


def test_frechet_closed_form_for_diagonal_gaussians() -> None:
    mu1, mu2 = np.array([0.0, 2.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0, 1.0])
    s1, s2 = np.array([1.0, 2.0, 0.5, 3.0]), np.array([2.0, 2.0, 1.5, 0.1])
    expected = float(np.sum((mu1 - mu2) ** 2) + np.sum((s1 - s2) ** 2))
    x, y = exact_moments(500, mu1, s1, 17), exact_moments(800, mu2, s2, 18)
    assert frechet(x, y) == pytest.approx(expected, rel=1e-9)


def test_frechet_matches_scipy_sqrtm_on_correlated_data() -> None:
    rng = np.random.default_rng(19)
    x = rng.standard_normal((400, 5)) @ rng.standard_normal((5, 5))
    y = rng.standard_normal((300, 5)) @ rng.standard_normal((5, 5)) + 0.5
    cs, ct = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    ref = np.sum((x.mean(0) - y.mean(0)) ** 2) + np.trace(cs + ct - 2 * np.real(sqrtm(cs @ ct)))
    assert frechet(x, y) == pytest.approx(float(ref), rel=1e-8)


def test_coral_zero_for_same_covariance_and_handmade_value() -> None:
    x = gaussian(200, 4, 20)
    assert coral(x, x + 3.0) == pytest.approx(0.0, abs=1e-15)
    a = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.0]])  # covariance diag(1, 0)
    b = np.array([[0.0, 1.0], [0.0, -1.0], [0.0, 0.0]])  # covariance diag(0, 1)
    assert coral(a, b) == pytest.approx(2.0 / (4 * 2**2))  # ||diag(1, −1)||²_F / (4d²)


def test_swd_of_a_one_dimensional_shift_is_the_shift() -> None:
    x = gaussian(1000, 1, 21)
    assert swd(x, x + 0.7, n_projections=64) == pytest.approx(0.7, rel=1e-12)
    assert swd(x, gaussian(1500, 1, 22, shift=0.7)) == pytest.approx(0.7, abs=0.1)


def test_swd_interpolates_quantiles_for_unequal_sizes() -> None:
    # quantile levels 1/8, 3/8, 5/8, 7/8: x gives 0, 1, 2, 3; y (two points) gives 0.5, 1, 2, 2.5
    x, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([[0.5], [2.5]])
    assert swd(x, y, n_projections=8) == pytest.approx(math.sqrt((0.25 + 0.25) / 4))
    assert swd(y, x, n_projections=8) == pytest.approx(math.sqrt((0.25 + 0.25) / 4))


def test_swd_is_seeded() -> None:
    x, y = gaussian(300, 6, 23), gaussian(200, 6, 24, shift=0.4)
    assert swd(x, y, seed=3) == swd(x, y, seed=3)
    assert swd(x, y, seed=3) != swd(x, y, seed=4)


def test_pad_separated_and_identical() -> None:
    assert proxy_a_distance(gaussian(300, 4, 25), gaussian(200, 4, 26, shift=10.0)) >= 1.95
    assert proxy_a_distance(gaussian(300, 4, 27), gaussian(300, 4, 28)) <= 0.2


# ------------------------------------------------------------------------------------------- reporting


def test_report_structure_and_significance(shifted_report: dict[str, MetricResult]) -> None:
    assert list(shifted_report) == list(METRICS)
    for name, r in shifted_report.items():
        assert r.name == name
        assert r.ci[0] <= r.value <= r.ci[1], name
        assert r.baseline < r.ci[0], name
        assert r.significant, name
        assert (r.p_value is None) == (name != "mmd2")
        d = r.to_dict()
        assert set(d) >= {"value", "baseline", "ci", "p_value", "bandwidth", "significant"}
        assert isinstance(d["ci"], list)
        json.dumps(d, allow_nan=False)
    mmd = shifted_report["mmd2"]
    assert mmd.p_value is not None and mmd.p_value < 0.05
    assert mmd.bandwidth is not None and mmd.bandwidth > 0
    assert shifted_report["pad"].n_boot == 30  # the expensive classifier gets fewer resamples
    assert 0.0 <= shifted_report["pad"].ci[0] <= shifted_report["pad"].ci[1] <= 2.0


def test_report_identical_distributions_mmd_not_significant() -> None:
    r = gap_report(gaussian(300, 6, 29), gaussian(200, 6, 30), metrics=("mmd2", "coral"), n_boot=50)
    assert not r["mmd2"].significant
    assert r["mmd2"].p_value > 0.05
    assert r["mmd2"].ci[0] < 0 < r["mmd2"].ci[1]


def test_report_is_deterministic_and_accepts_numpy_or_torch() -> None:
    x, y = gaussian(200, 5, 31), gaussian(150, 5, 32, shift=0.3)
    kw = {"metrics": ("mmd2", "frechet", "swd"), "n_boot": 20, "n_permutations": 50, "seed": 5}
    a = {k: v.to_dict() for k, v in gap_report(x, y, **kw).items()}
    b = {k: v.to_dict() for k, v in gap_report(torch.from_numpy(x), torch.from_numpy(y), **kw).items()}
    assert a == b
    c = gap_report(x, y, **{**kw, "metrics": ("mmd2",), "seed": 6})["mmd2"].to_dict()
    assert c["ci"] != a["mmd2"]["ci"]


def test_report_metric_order_does_not_change_results() -> None:
    x, y = gaussian(120, 3, 33), gaussian(100, 3, 34, shift=0.3)
    one = gap_report(x, y, metrics=("coral",), n_boot=20)["coral"]
    both = gap_report(x, y, metrics=("swd", "coral"), n_boot=20)["coral"]
    assert one == both


def test_report_max_samples_and_progress() -> None:
    calls: list[tuple[float, str]] = []
    r = gap_report(
        gaussian(500, 3, 35),
        gaussian(400, 3, 36),
        metrics=("mmd2", "swd"),
        n_boot=10,
        n_permutations=20,
        max_samples=100,
        progress=lambda f, msg: calls.append((f, msg)),
    )
    rng = np.random.default_rng(0)  # gap_report's own subsample, replayed
    idx_s, idx_t = np.sort(rng.choice(500, 100, replace=False)), np.sort(rng.choice(400, 100, replace=False))
    same = gap_report(
        gaussian(500, 3, 35)[idx_s], gaussian(400, 3, 36)[idx_t], metrics=("mmd2", "swd"), n_boot=10, n_permutations=20
    )
    assert r == same
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0


def test_expensive_bootstraps_are_cut_on_the_cpu_only_when_needed() -> None:
    small, wide = torch.zeros(3000, 64, dtype=torch.float64), torch.zeros(3000, 2048, dtype=torch.float64)
    assert gap._boot_size(METRICS["frechet"], 200, small, small[:1800]) == 200
    assert gap._boot_size(METRICS["frechet"], 200, wide, wide[:1800]) == gap.MIN_BOOT
    assert gap._boot_size(METRICS["pad"], 200, small, small[:1800]) == 30
    assert gap._boot_size(METRICS["swd"], 200, wide, wide[:1800]) == 200  # SWD's cost hardly depends on d
    assert gap._boot_size(METRICS["swd"], 200, torch.zeros(50_000, 2), torch.zeros(50, 2)) < 200


def test_devices_other_than_cuda_compute_on_the_cpu() -> None:
    assert gap.resolve_device("cpu") == torch.device("cpu")
    assert gap.resolve_device("mps") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert gap.resolve_device("auto", np.zeros((3, 2))) == torch.device("cpu")
        with pytest.raises(GapError, match="CUDA is not available"):
            gap.resolve_device("cuda")


def test_baseline_halves_follow_target_size() -> None:
    a, b = gap._halves(100, 20, np.random.default_rng(0))
    assert (len(a), len(b)) == (80, 20) and not set(a) & set(b)
    a, b = gap._halves(101, 500, np.random.default_rng(0))
    assert (len(a), len(b)) == (51, 50)


def test_per_class_mmd2_sorted_worst_first_and_skips_small_classes() -> None:
    xs = np.r_[gaussian(60, 3, 37), gaussian(60, 3, 38, shift=5.0), gaussian(3, 3, 39)]
    xt = np.r_[gaussian(50, 3, 40), gaussian(50, 3, 41, shift=6.0), gaussian(30, 3, 42)]
    ls = np.repeat([0, 1, 2], [60, 60, 3])
    lt = np.repeat([0, 1, 2], [50, 50, 30])
    rows = per_class_mmd2(xs, xt, ls, lt, ["cat", "dog", "eel"])
    assert [r["class"] for r in rows] == ["dog", "cat", "eel"]
    assert rows[0]["mmd2"] > 0.1 > abs(rows[1]["mmd2"])
    assert rows[2]["skipped"] and rows[2]["mmd2"] is None and rows[2]["n_source"] == 3
    fixed = per_class_mmd2(xs, xt, ls, lt, ["cat", "dog", "eel"], bandwidth=2.0)
    assert fixed[0]["mmd2"] == pytest.approx(mmd2(xs[60:120], xt[50:100], 2.0))


# ------------------------------------------------------------------------------------- registry, errors


def test_registry_metadata() -> None:
    assert set(METRICS) == set(METRIC_HELP) == {"mmd2", "pad", "frechet", "coral", "swd"}
    for name, metric in METRICS.items():
        assert metric.name == name and metric.label and metric.description.endswith(".") and metric.unit_hint
        assert callable(metric.fn)
    x, y = gaussian(40, 2, 43), gaussian(30, 2, 44)
    assert METRICS["coral"].fn(x, y, seed=0, device="cpu") == coral(x, y)
    assert METRICS["mmd2"].fn(x, y, seed=0, device="cpu") == mmd2(x, y)


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.zeros((10, 3)), np.zeros((10, 4)), "dimensions differ"),
        (np.zeros((1, 3)), np.zeros((10, 3)), "at least 2"),
        (np.full((5, 2), np.nan), np.zeros((5, 2)), "NaN"),
        (np.zeros((2, 2, 2)), np.zeros((5, 2)), "2-D"),
    ],
)
def test_bad_input_raises_clear_error(x: np.ndarray, y: np.ndarray, message: str) -> None:
    with pytest.raises(GapError, match=message):
        gap.mmd2(x, y)


def test_unknown_metric_is_a_user_error() -> None:
    with pytest.raises(DAError, match="unknown gap metric"):
        gap_report(gaussian(10, 2, 0), gaussian(10, 2, 1), metrics=("mmd2", "kl"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_matches_cpu() -> None:
    x, y = gaussian(300, 8, 45), gaussian(200, 8, 46, shift=0.3, scale=1.2)
    for name in ("mmd2", "frechet", "coral", "swd"):
        cpu = METRICS[name].fn(x, y, seed=0, device="cpu")
        gpu = METRICS[name].fn(torch.from_numpy(x).cuda(), y, seed=0)
        assert gpu == pytest.approx(cpu, rel=1e-3, abs=1e-5), name
    r = gap.gap_report(torch.from_numpy(x).cuda(), y, n_boot=20, n_permutations=50)  # device "auto" follows x
    cpu = gap_report(x, y, n_boot=20, n_permutations=50)
    for name in METRICS:
        assert r[name].significant == cpu[name].significant, name
        tol = 0.02 if name == "pad" else 1e-5  # float32 features may flip a prediction or two
        assert r[name].value == pytest.approx(cpu[name].value, rel=1e-3, abs=tol), name


def test_fast_bootstraps_match_explicit_resampling() -> None:
    xs, xt = torch.as_tensor(gaussian(40, 3, 47)), torch.as_tensor(gaussian(25, 3, 48, shift=0.5, scale=2.0))
    draws = np.random.default_rng(9)
    idx_s, idx_t = draws.integers(0, 40, (4, 40)), draws.integers(0, 25, (4, 25))  # the order the helpers draw in
    fast = gap._swd_boot(xs, xt, seed=2, n_boot=4, rng=np.random.default_rng(9))
    slow = [swd(xs[idx_s[b]], xt[idx_t[b]], seed=2) for b in range(4)]
    np.testing.assert_allclose(fast, slow, rtol=1e-12)
    for name, fn in (("frechet", frechet), ("coral", coral)):
        fast = gap._moment_boot(gap._MOMENT_STATS[name], xs, xt, 4, np.random.default_rng(9))
        np.testing.assert_allclose(fast, [fn(xs[idx_s[b]], xt[idx_t[b]]) for b in range(4)], rtol=1e-10)


def test_pooled_kernel_gives_what_mmd2_and_its_interval_give() -> None:
    from da_core.gap import PooledKernel, mmd2_interval

    rng = np.random.default_rng(3)
    xs, xt = rng.normal(size=(300, 8)), rng.normal(size=(200, 8)) + 0.4
    kernel = PooledKernel(xs, xt, 2.5, device="cpu")
    idx = np.sort(rng.choice(300, size=120, replace=False))
    assert kernel.mmd2(idx) == pytest.approx(mmd2(xs[idx], xt, 2.5, device="cpu"), rel=1e-9, abs=1e-12)
    value, ci = kernel.mmd2_interval(idx, 40, seed=5)
    ref_value, ref_ci = mmd2_interval(xs[idx], xt, 2.5, 40, seed=5, device="cpu")
    assert value == pytest.approx(ref_value, abs=1e-12) and ci == pytest.approx(ref_ci, abs=1e-9)
