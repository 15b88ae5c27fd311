"""The neighbour search: exact against brute force, self first among duplicates, faiss and torch agreeing."""

from __future__ import annotations

import numpy as np
import pytest

from da_core import neighbours
from da_core.neighbours import NeighbourError, search


def _brute(base: np.ndarray, query: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    if metric == "cosine":
        b = base / np.linalg.norm(base, axis=1, keepdims=True)
        q = query / np.linalg.norm(query, axis=1, keepdims=True)
        score = -(q @ b.T)
    else:
        score = ((query[:, None, :] - base[None, :, :]) ** 2).sum(-1)
    idx = np.argsort(score, axis=1, kind="stable")[:, :k]
    vals = np.take_along_axis(score, idx, axis=1)
    return idx, (-vals if metric == "cosine" else np.sqrt(vals))


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_torch_search_is_exact(metric, monkeypatch):
    monkeypatch.setattr(neighbours, "BLOCK_ELEMENTS", 300 * 40)  # several blocks of queries
    rng = np.random.default_rng(0)
    base, query = rng.normal(size=(300, 8)), rng.normal(size=(170, 8))
    idx, val = search(base, query, k=7, metric=metric, engine="torch")
    want_idx, want_val = _brute(base, query, 7, metric)
    assert idx.shape == (170, 7) and idx.dtype == np.int64
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_allclose(val, want_val, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("engine", ["torch", "faiss"])
def test_self_comes_first_even_among_duplicates(engine):
    if engine == "faiss":
        pytest.importorskip("faiss")
    rng = np.random.default_rng(1)
    base = rng.normal(size=(50, 4)).astype(np.float32)
    base[10:20] = base[10]  # ten identical rows: more twins than k
    idx, dist = search(base, k=4, engine=engine)
    np.testing.assert_array_equal(idx[:, 0], np.arange(50))
    assert np.all(dist[:, 0] == 0)
    assert np.all(np.diff(dist, axis=1) >= -1e-5)  # nearest first
    for i in range(10, 20):  # a duplicate's other neighbours are its twins, never itself again
        assert set(idx[i, 1:]) <= set(range(10, 20)) - {i}
    others, _ = search(base, k=3, exclude_self=True, engine=engine)
    assert others.shape == (50, 3) and not np.any(others == np.arange(50)[:, None])


def test_faiss_and_torch_find_the_same_neighbours():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(2)
    base, query = rng.normal(size=(2000, 32)), rng.normal(size=(500, 32))
    for metric in ("l2", "cosine"):
        a_idx, a_val = search(base, query, k=10, metric=metric, engine="faiss")
        b_idx, b_val = search(base, query, k=10, metric=metric, engine="torch")
        assert (a_idx == b_idx).mean() > 0.999  # exact both: only float ties may reorder
        np.testing.assert_allclose(a_val, b_val, rtol=1e-3, atol=1e-3)


def test_k_is_capped_and_bad_input_is_named():
    base = np.eye(3)
    idx, _ = search(base, base[:1], k=10, engine="torch")
    assert idx.shape == (1, 3)
    with pytest.raises(NeighbourError, match="dimensions"):
        search(base, np.ones((2, 4)))
    with pytest.raises(NeighbourError, match="k must be"):
        search(base, k=0)
    with pytest.raises(NeighbourError, match="metric"):
        search(base, metric="manhattan")
    with pytest.raises(NeighbourError, match="at least one"):
        search(np.zeros((0, 3)), np.ones((1, 3)))


def test_backend_follows_what_is_installed(monkeypatch):
    monkeypatch.setenv("DA_KNN", "torch")
    assert neighbours.backend() == "torch"
    monkeypatch.delenv("DA_KNN")
    monkeypatch.setattr(neighbours, "faiss_available", lambda: False)
    assert neighbours.backend() == "torch"
