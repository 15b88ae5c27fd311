"""Maps: shapes, PCA speed and determinism, torchdr reproducibility, engines agreeing in quality on real
digits, engine selection and errors, warm-up, and the k-NN accuracy measure."""

from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np
import pytest
import torch

from da_core import reduce as R
from da_core.errors import DAError
from da_core.reduce import EngineUnavailable, MapResult, ReduceError, available_engines, knn_label_accuracy, reduce

HAS_TORCHDR = available_engines()["torchdr"] is None
HAS_UMAP = available_engines()["umap-learn"] is None
needs_torchdr = pytest.mark.skipif(not HAS_TORCHDR, reason="torchdr is not installed")
needs_umap = pytest.mark.skipif(not HAS_UMAP, reason="umap-learn is not installed")


def blobs(n: int = 300, d: int = 16, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d)) * 6
    labels = rng.integers(0, k, n)
    return (centers[labels] + rng.normal(size=(n, d))).astype(np.float32), labels


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """1,000 printed + 1,000 handwritten digits: pixels / 255, then PCA to 50 dimensions; labels as names."""
    from da_core.data import load_dataset

    xs, ys = [], []
    for spec in ("builtin:printed-digits?n=1000", "builtin:handwritten-digits?n=1000"):
        ds = load_dataset(spec)
        xs.append(ds.images.reshape(len(ds), -1).numpy().astype(np.float32) / 255.0)
        ys.append(np.asarray(ds.classes)[ds.labels.numpy()])
    x = np.concatenate(xs)
    x -= x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return (x @ vt[:50].T).astype(np.float32), np.concatenate(ys)


@pytest.fixture(scope="module")
def numba_cache(request: pytest.FixtureRequest) -> None:
    """Keep umap-learn's compiled code between test runs (in pytest's cache folder, never the home folder):
    the first run compiles (~40 s on 2 cores), later runs load it.  Only effective before numba is imported."""
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    if cache is not None and "NUMBA_CACHE_DIR" not in os.environ and "numba" not in sys.modules:
        os.environ["NUMBA_CACHE_DIR"] = str(cache.mkdir("numba"))


# ------------------------------------------------------------------------------------------------ PCA


@pytest.mark.parametrize("k", [2, 3])
def test_pca_shape_dtype(k: int) -> None:
    x, _ = blobs()
    res = reduce(x, "pca", n_components=k)
    assert isinstance(res, MapResult)
    assert res.coords.shape == (300, k) and res.coords.dtype == np.float32
    assert res.engine == "pca" and res.params["n_components"] == k
    assert np.isfinite(res.coords).all()


def test_pca_instant_and_deterministic(digits: tuple[np.ndarray, np.ndarray]) -> None:
    x, _ = digits
    big = np.tile(x, (2, 16))  # 4,000 x 800: the size of the app's default map, pixel-like width
    reduce(big[:50], "pca")  # first call pays torch's start-up
    t = time.perf_counter()
    a = reduce(big, "pca", seed=0)
    assert time.perf_counter() - t < 1.0
    b = reduce(big, "pca", seed=0)
    np.testing.assert_array_equal(a.coords, b.coords)
    # the scores are the top principal components: compare with numpy's SVD up to sign
    xc = big - big.mean(axis=0)
    ref = xc @ np.linalg.svd(xc, full_matrices=False)[2][:2].T
    np.testing.assert_allclose(np.abs(a.coords), np.abs(ref), rtol=1e-3, atol=1e-2 * np.abs(ref).max())
    assert a.coords[:, 0].var() >= a.coords[:, 1].var()


def test_pca_small_and_narrow_inputs() -> None:
    assert reduce(np.ones((1, 5)), "pca").coords.shape == (1, 2)
    narrow = reduce(np.random.default_rng(0).normal(size=(20, 2)), "pca", n_components=3).coords
    assert narrow.shape == (20, 3) and np.all(narrow[:, 2] == 0)
    t = torch.from_numpy(blobs()[0])  # torch tensors are accepted too
    assert reduce(t, "pca").coords.shape == (300, 2)


# ---------------------------------------------------------------------------------------------- torchdr


@needs_torchdr
@pytest.mark.parametrize("k", [2, 3])
def test_torchdr_shape_and_same_seed_same_map(k: int) -> None:
    x, labels = blobs()
    a = reduce(x, "umap", n_components=k, engine="torchdr", device="cpu", seed=3)
    b = reduce(x, "umap", n_components=k, engine="torchdr", device="cpu", seed=3)
    assert a.engine == "torchdr" and a.coords.shape == (300, k) and a.coords.dtype == np.float32
    np.testing.assert_array_equal(a.coords, b.coords)
    assert a.params["deterministic"] and a.params["knn"] == "exact"
    assert knn_label_accuracy(a.coords, labels) > 0.95
    if k == 2:
        c = reduce(x, "umap", engine="torchdr", device="cpu", seed=4)
        assert not np.array_equal(a.coords, c.coords)


@needs_torchdr
def test_torchdr_leaves_global_rng_alone_and_reports_progress() -> None:
    x, _ = blobs(n=120)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    seen: list[tuple[float, str]] = []
    reduce(x, "umap", engine="torchdr", device="cpu", progress=lambda f, m: seen.append((f, m)))
    assert torch.equal(torch.rand(3), expected)
    fractions = [f for f, _ in seen]
    assert fractions[-1] == 1.0 and all(0.0 <= f <= 1.0 for f in fractions)
    assert fractions == sorted(fractions) and len(fractions) > 5


@needs_torchdr
def test_duplicates_share_a_position() -> None:
    x, _ = blobs(n=100)
    x = np.concatenate([x, x[:10]])
    res = reduce(x, "umap", engine="torchdr", device="cpu")
    np.testing.assert_array_equal(res.coords[:10], res.coords[100:])


# ------------------------------------------------------------------------------------- engines agree


@needs_torchdr
@needs_umap
def test_engines_agree_in_quality_on_digits(digits: tuple[np.ndarray, np.ndarray], numba_cache: None) -> None:
    """5-NN label accuracy in 2-D: torchdr and umap-learn within a few points of each other, both far above PCA.
    (umap-learn compiles on its first use in a process: ~40 s on 2 cores with an empty numba cache.)"""
    x, labels = digits
    acc = {}
    for engine in ("torchdr", "umap-learn"):
        res = reduce(x, "umap", engine=engine, device="cpu", seed=0)
        assert res.engine == engine and res.coords.shape == (2000, 2)
        acc[engine] = knn_label_accuracy(res.coords, labels, k=5)
    acc["pca"] = knn_label_accuracy(reduce(x, "pca").coords, labels, k=5)
    assert abs(acc["torchdr"] - acc["umap-learn"]) < 0.05, acc
    assert min(acc["torchdr"], acc["umap-learn"]) > acc["pca"] + 0.25, acc
    assert min(acc["torchdr"], acc["umap-learn"]) > 0.85, acc
    print(f"5-NN accuracy in 2-D: {acc}")


# ---------------------------------------------------------------------------------- engine selection


def test_available_engines_reports_every_engine() -> None:
    engines = available_engines()
    assert list(engines) == list(R.ENGINES)
    for name, why in engines.items():
        assert why is None or (isinstance(why, str) and why), name
    if not torch.cuda.is_available():
        assert engines["cuml"] is not None


def test_missing_engine_raises_named_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(R, "_has_module", lambda name: name not in {"torchdr", "cuml"})
    assert "torchdr" in available_engines()["torchdr"]
    x, _ = blobs(n=50)
    with pytest.raises(EngineUnavailable, match="torchdr") as info:
        reduce(x, "umap", engine="torchdr")
    assert isinstance(info.value, DAError)
    with pytest.raises(EngineUnavailable, match="cuml"):
        reduce(x, "umap", engine="cuml")
    plan, skipped = R._plan("auto", "cpu", 50)  # auto falls through to umap-learn and says why
    assert [name for name, _ in plan] == ["umap-learn"] and "torchdr" in skipped["torchdr"]
    monkeypatch.setattr(R, "_has_module", lambda name: False)
    with pytest.raises(EngineUnavailable, match="no UMAP engine"):
        reduce(x, "umap")


def test_auto_order_and_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(R, "umap_learn_compiled", lambda: False)
    plan, skipped = R._plan("auto", "cpu", 4000)
    names = [name for name, _ in plan]
    assert "cuml" not in names and skipped["cuml"]  # not installed, or device cpu asked for
    if HAS_TORCHDR:
        assert names[0] == "torchdr"
        big, skipped = R._plan("auto", "cpu", R.TORCHDR_EXACT_MAX_CPU + 1)
        assert "torchdr" not in [name for name, _ in big] and "exceed" in skipped["torchdr"]


@pytest.mark.parametrize(
    ("x", "kwargs", "match"),
    [
        (np.zeros(10), {}, "2-D"),
        (np.full((10, 3), np.nan), {}, "NaN"),
        (np.zeros((0, 3)), {}, "empty"),
        (np.zeros((3, 4)), {"method": "umap"}, "at least"),
        (np.zeros((30, 4)), {"method": "tsne"}, "unknown method"),
        (np.zeros((30, 4)), {"engine": "sklearn"}, "unknown engine"),
        (np.zeros((30, 4)), {"n_components": 4}, "2 or 3"),
        (np.zeros((30, 4)), {"n_neighbors": 1}, "n_neighbors"),
        (np.array([["a", "b"]]), {"method": "pca"}, "numeric"),
    ],
)
def test_bad_input_is_a_clear_error(x: np.ndarray, kwargs: dict, match: str) -> None:
    with pytest.raises(ReduceError, match=match):
        reduce(x, **kwargs)


# ------------------------------------------------------------------------------------------- warm-up


def test_warm_up_runs_once_in_the_background() -> None:
    first = R.warm_up()
    assert isinstance(first, threading.Thread) and first.daemon
    assert R.warm_up() is first and R.warm_up("umap-learn") is first
    first.join(timeout=120)
    assert not first.is_alive()
    assert R.warm_up_error is None or not (HAS_TORCHDR or HAS_UMAP)


# ------------------------------------------------------------------------------------------ accuracy


def test_knn_label_accuracy() -> None:
    labels = np.arange(200) % 4
    x = labels[:, None] * 20.0 + np.random.default_rng(1).normal(size=(200, 2))  # far-apart clusters
    assert knn_label_accuracy(x, labels) == 1.0
    rng = np.random.default_rng(0)
    chance = knn_label_accuracy(rng.normal(size=(2000, 2)), rng.integers(0, 4, 2000), k=5)
    assert 0.15 < chance < 0.35
    # duplicates: each point's own copy is excluded, its twin counts
    dup = np.array([[0.0, 0.0], [0.0, 0.0], [5.0, 5.0], [5.0, 5.0]])
    assert knn_label_accuracy(dup, ["a", "a", "b", "b"], k=1) == 1.0
    assert knn_label_accuracy(dup, ["a", "b", "a", "b"], k=1) == 0.0
    with pytest.raises(ReduceError):
        knn_label_accuracy(np.zeros((3, 2)), [0, 1])


def test_auto_prefers_compiled_umap_learn_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once umap-learn's JIT code exists, it is the faster CPU engine and "auto" tries it first."""
    monkeypatch.setattr(R, "umap_learn_compiled", lambda: True)
    plan, _ = R._plan("auto", "cpu", 4000)
    names = [name for name, _ in plan]
    assert names[0] == "umap-learn" and names.count("umap-learn") == 1


def test_umap_learn_compiled_reads_the_numba_cache(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(R, "_UMAP_LEARN_FITTED", False)
    monkeypatch.setattr(R, "_UMAP_LEARN_COMPILING", False)
    assert not R.umap_learn_compiled()
    (tmp_path / "umap_abc").mkdir()
    (tmp_path / "umap_abc" / "umap_.smooth_knn_dist-144.py311.nbi").write_bytes(b"")
    assert R.umap_learn_compiled()
    monkeypatch.setattr(R, "_UMAP_LEARN_COMPILING", True)
    assert not R.umap_learn_compiled()  # a warm-up compiling right now: torchdr answers meanwhile


# ------------------------------------------------------------------------------------------ many points


def test_a_point_is_placed_among_its_nearest_fitted_neighbours() -> None:
    from da_core.reduce import place

    fitted = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    coords = np.array([[1.0, 1.0], [2.0, 1.0], [1.0, 2.0], [2.0, 2.0]], dtype=np.float32)
    on_top = place(fitted, coords, fitted[[2]], k=3)
    np.testing.assert_allclose(on_top, coords[[2]], atol=1e-4)  # a copy of a fitted point lands on it
    middle = place(fitted, coords, np.array([[5.0, 5.0]]), k=4)
    np.testing.assert_allclose(middle, [[1.5, 1.5]], atol=1e-5)  # equidistant: the plain mean


def test_a_map_past_its_fit_size_is_fitted_on_a_share_of_each_stratum_and_the_rest_placed() -> None:
    from da_core.reduce import reduce_many

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8)) * 6
    labels = rng.integers(0, 3, 900)
    x = (centres[labels] + rng.normal(size=(900, 8))).astype(np.float32)
    strata = np.array(["source"] * 600 + ["target"] * 300)
    res = reduce_many(x, "umap", strata=strata, fit_max=300, seed=1, engine="torchdr")
    assert res.coords.shape == (900, 2) and np.isfinite(res.coords).all()
    assert res.params["fitted"] == 300 and res.params["placed"] == 600
    # placed points keep the clusters the fitted ones form
    assert knn_label_accuracy(res.coords, labels) > 0.95
    small = reduce_many(x[:200], "umap", fit_max=300, seed=1, engine="torchdr")
    assert "placed" not in small.params  # under the fit size: an ordinary map of every point
