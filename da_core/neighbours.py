"""Nearest neighbours that scale: one search for the map's kNN graph and placement, the kNN selector and the
training film's domain mixing.

:func:`search` finds each query row's ``k`` nearest rows of a base set, exactly, by Euclidean distance or by
cosine similarity.  It uses faiss (``faiss-cpu``, in the scale extra) when that imports, and exact torch otherwise:
the query is taken in row blocks sized so one block's distances stay near 64 MiB, so memory stays flat whatever
the sizes (100,000 x 100,000 is fine; only the k results per row are kept).  Both are exact, so they give the
same neighbours up to ties; :func:`backend` says which one runs.  ``DA_KNN=torch`` forces torch.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any, Literal

import numpy as np

from da_core.errors import DAError

Metric = Literal["l2", "cosine"]
BLOCK_ELEMENTS = 1 << 24  # distances per block: 16M float32 = 64 MiB


class NeighbourError(DAError, ValueError):
    """Input unfit for a neighbour search: wrong shapes, no base rows, k < 1."""


def faiss_available() -> bool:
    """Whether faiss imports here (``pip install faiss-cpu``; in ``requirements-scale.txt``); a broken install
    counts as missing, so torch serves."""
    if importlib.util.find_spec("faiss") is None:
        return False
    try:
        import faiss  # noqa: F401
    except Exception:  # e.g. a wheel built for another numpy or CPU
        return False
    return True


def backend() -> str:
    """``faiss`` when it is installed (and ``DA_KNN`` does not say ``torch``), else ``torch``."""
    if os.environ.get("DA_KNN", "").strip().lower() == "torch":
        return "torch"
    return "faiss" if faiss_available() else "torch"


def search(base: Any, query: Any = None, k: int = 10, metric: Metric = "l2", exclude_self: bool = False,
           engine: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of ``base`` for every row of ``query`` (``base`` itself when None), nearest first.

    Returns (indices int64 n x k, values float32 n x k): Euclidean distances for ``l2``, cosine similarities for
    ``cosine`` (rows are unit-normalised first).  With ``query=None`` each row's own index is first and its
    distance 0, even among duplicate rows; ``exclude_self`` drops it, giving the k others.  k is capped at the
    base's size.  ``engine`` picks ``faiss`` or ``torch`` (default :func:`backend`).
    """
    b = _matrix(base, "base")
    q = b if query is None else _matrix(query, "query")
    if q.shape[1] != b.shape[1]:
        raise NeighbourError(f"query has {q.shape[1]} dimensions, base {b.shape[1]}")
    if len(b) == 0:
        raise NeighbourError("the neighbour search needs at least one base row")
    if isinstance(k, bool) or int(k) < 1:
        raise NeighbourError(f"k must be >= 1, got {k!r}")
    same = query is None
    k_eff = min(int(k) + (1 if same and exclude_self else 0), len(b))
    if metric == "cosine":
        b = _unit(b)
        q = b if same else _unit(q)
    elif metric != "l2":
        raise NeighbourError(f"metric must be 'l2' or 'cosine', got {metric!r}")
    engine = engine or backend()
    run = _faiss if engine == "faiss" else _torch
    idx, val = run(b, q, k_eff, metric, same)
    if same:
        idx, val = _self_first(idx, val, metric)
        if exclude_self:
            idx, val = idx[:, 1:], val[:, 1:]
    return idx, val


def _matrix(x: Any, what: str) -> np.ndarray:
    arr = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float32)
    if arr.ndim != 2:
        raise NeighbourError(f"{what} must be n x d, got shape {arr.shape}")
    return np.ascontiguousarray(arr)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _torch(b: np.ndarray, q: np.ndarray, k: int, metric: str, same: bool) -> tuple[np.ndarray, np.ndarray]:
    import torch

    bt, qt = torch.from_numpy(b), torch.from_numpy(q)
    n = len(q)
    sq_b = (bt * bt).sum(dim=1)
    block = max(64, BLOCK_ELEMENTS // max(len(b), 1))
    idx = np.empty((n, k), dtype=np.int64)
    val = np.empty((n, k), dtype=np.float32)
    with torch.inference_mode():
        for s in range(0, n, block):
            e = min(n, s + block)
            dots = qt[s:e] @ bt.T
            if metric == "cosine":
                score = dots
                if same:  # self first even among duplicates: it is the largest similarity anyway
                    score[torch.arange(e - s), torch.arange(s, e)] = 2.0
                v, i = torch.topk(score, k, dim=1, largest=True, sorted=True)
            else:
                score = sq_b[None, :] - 2.0 * dots + (qt[s:e] * qt[s:e]).sum(dim=1, keepdim=True)
                if same:
                    score[torch.arange(e - s), torch.arange(s, e)] = -1.0
                v, i = torch.topk(score, k, dim=1, largest=False, sorted=True)
                v = v.clamp_min_(0.0).sqrt_()
            idx[s:e] = i.numpy()
            val[s:e] = v.numpy()
    return idx, val


def _faiss(b: np.ndarray, q: np.ndarray, k: int, metric: str, same: bool) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    index = faiss.IndexFlatIP(b.shape[1]) if metric == "cosine" else faiss.IndexFlatL2(b.shape[1])
    index.add(b)
    val, idx = index.search(q, k)
    if metric == "l2":
        val = np.sqrt(np.maximum(val, 0.0))
    return idx.astype(np.int64), val.astype(np.float32)


def _self_first(idx: np.ndarray, val: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Put each row's own index first (distance 0 / similarity of the row to itself); among duplicate rows a
    search may have ranked a twin first, or pushed self out of the k when there are more than k twins."""
    n, k = idx.shape
    rows = np.arange(n)
    is_self = idx == rows[:, None]
    pos = np.where(is_self.any(axis=1), is_self.argmax(axis=1), k - 1)  # not found: drop the farthest
    keep = np.ones_like(idx, dtype=bool)
    keep[rows, pos] = False
    rest_i = idx[keep].reshape(n, k - 1)
    rest_v = val[keep].reshape(n, k - 1)
    first = np.zeros((n, 1), dtype=np.float32) if metric == "l2" else np.ones((n, 1), dtype=np.float32)
    return np.hstack([rows[:, None], rest_i]), np.hstack([first, rest_v])
