"""Embeddings: a registry of embedders, the device they run on, and a disk cache.

``embed(ds, "digits-cnn")`` returns one float32 vector per sample (an embedder of another modality than the
dataset's is refused, naming both).  It runs on CUDA (mixed precision,
uint8 transfers, preprocessing on the device) when there is a GPU, else MPS, else the CPU, and caches results on
disk keyed by (dataset fingerprint, embedder identity), so a repeated request returns at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from da_core import config
from da_core.data.dataset import check_modality
from da_core.embed.device import describe_device, inference_autocast, pick_device
from da_core.embed.embedders import (
    Backbone,
    Embedder,
    EmbedderEntry,
    EmbedderInfo,
    EmbedderUnavailable,
    free_form_embedders,
    get_embedder,
    list_embedders,
    register_embedder,
    trainable_embedders,
)
from da_core.embed.text import MiniLMEmbedder, TextEncoderEmbedder, TfidfEmbedder

if TYPE_CHECKING:  # pragma: no cover
    from da_core.data import Dataset

__all__ = [
    "Backbone",
    "EmbedResult",
    "Embedder",
    "EmbedderInfo",
    "EmbedderEntry",
    "EmbedderUnavailable",
    "MiniLMEmbedder",
    "TextEncoderEmbedder",
    "TfidfEmbedder",
    "default_embedder",
    "describe_device",
    "embed",
    "embed_pair",
    "fit_joint_pca",
    "free_form_embedders",
    "get_embedder",
    "list_embedders",
    "pick_device",
    "register_embedder",
    "trainable_embedders",
]

DEFAULT_EMBEDDER = "digits-cnn"
DEFAULT_EMBEDDERS = {"image": "digits-cnn", "text": "minilm"}  # what the pages and the command line start with


def default_embedder(modality: str) -> str:
    """The embedder a dataset of ``modality`` gets when none is named."""
    return DEFAULT_EMBEDDERS[modality]


@dataclass
class EmbedResult:
    """Vectors for one dataset, and how they were made."""

    vectors: np.ndarray
    embedder: str
    device: str
    seconds: float
    cached: bool


def _cache_path(ds: Dataset, emb: Embedder) -> Any:
    """Where the vectors of ``ds`` by ``emb`` are cached; None when the cache folder cannot be used (warned)."""
    key = hashlib.blake2b(emb.cache_key().encode(), digest_size=10).hexdigest()
    folder = config.cache_subdir("embeddings")
    return None if folder is None else folder / f"{ds.fingerprint}-{key}.npy"


def run_model(emb: Embedder, content: Any, device: Any, batch_size: int, progress: Any = None) -> np.ndarray:
    """The embedding loop: slices of ``content`` -> :meth:`Embedder.embed_batch` (mixed precision on GPUs).

    Features are gathered on the device and copied back once, so the loop never waits on a per-batch copy; a
    batch that runs out of GPU memory is retried at half the size.
    """
    import torch

    n = len(content)
    out: Any = None
    i = 0
    order = emb.order(content)
    if order is not None:  # e.g. texts grouped by length; the rows are put back in the dataset's order below
        order = np.asarray(order, dtype=np.int64)
        content = [content[j] for j in order.tolist()] if isinstance(content, list) else content[order]
    amp = inference_autocast(device) if emb.mixed_precision else contextlib.nullcontext()
    with torch.inference_mode(), amp:
        while i < n:
            try:
                feats = emb.embed_batch(content[i:i + batch_size], device)
            except torch.cuda.OutOfMemoryError:
                if batch_size == 1:
                    raise
                batch_size = max(1, batch_size // 2)
                torch.cuda.empty_cache()
                continue
            if out is None:
                out = torch.empty((n, feats.shape[1]), dtype=torch.float32, device=device)
            out[i:i + len(feats)] = feats
            i += len(feats)
            if progress is not None:
                progress(i / n, f"embedding {i}/{n}")
    if out is None:
        return np.zeros((0, 0), dtype=np.float32)
    vectors = out.cpu().numpy()
    if order is not None:
        restored = np.empty_like(vectors)
        restored[order] = vectors
        vectors = restored
    return vectors


def fit_joint_pca(vectors: list[np.ndarray], k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and the top ``k`` principal axes (D x k) of the pooled ``vectors``, by SVD on a seeded subsample of
    at most 5,000 rows: one set of axes for both domains, clean and augmented alike."""
    pooled = np.concatenate(vectors).astype(np.float64)
    mean = pooled.mean(axis=0)
    fit = pooled[np.random.default_rng(seed).permutation(len(pooled))[:5000]] - mean
    return mean, np.linalg.svd(fit, full_matrices=False)[2][:k].T


def embed(ds: Dataset, embedder: str | Embedder = DEFAULT_EMBEDDER, device: str = "auto",
          batch_size: int | None = None, progress: Any = None, use_cache: bool = True) -> EmbedResult:
    """One vector per sample of ``ds`` (float32 N x D); cached on disk by content and embedder.  A cached result
    comes back memory-mapped (copy-on-write: changing it never changes the file), so large sets are paged in as
    they are read rather than loaded whole."""
    emb = get_embedder(embedder) if isinstance(embedder, str) else embedder
    check_modality(ds, emb.info.modality, f"embedder {emb.info.id!r}")
    reason = emb.unavailable()
    if reason:
        raise EmbedderUnavailable(f"{emb.info.id}: {reason}")
    if emb.fits_on_data and not emb.fitted:  # tfidf alone: its vocabulary from this dataset
        emb.fit([ds])
    start = time.perf_counter()
    path = _cache_path(ds, emb) if use_cache else None
    if path is not None and path.exists():
        try:
            vectors = np.load(path, allow_pickle=False, mmap_mode="c")
            if len(vectors) == len(ds):
                return EmbedResult(vectors, emb.info.id, "cache", time.perf_counter() - start, True)
        except Exception:  # a damaged cache file (empty, truncated, pickled, 0-d) is recomputed, never fatal
            pass
    dev = pick_device(device)
    if dev.type not in emb.info.devices:
        dev = pick_device("cpu")
    emb.model(dev, progress)  # loading reports its own progress (digits-cnn trains on first use)
    vectors = run_model(emb, ds.content, dev, batch_size or emb.batch_size(dev), progress)
    if path is not None:  # whole or not at all; a full or read-only cache costs only the next call's speed
        config.write_cache_file(path, lambda tmp: np.save(tmp, vectors))
    return EmbedResult(vectors, emb.info.id, describe_device(dev), time.perf_counter() - start, False)


def embed_pair(source: Dataset, target: Dataset, embedder: str | Embedder = DEFAULT_EMBEDDER,
               device: str = "auto", progress: Any = None) -> tuple[np.ndarray, np.ndarray, EmbedResult]:
    """Embed both domains with one embedder; a joint PCA (pixels) or vocabulary (tfidf) is fitted on both so they
    share axes."""
    emb = get_embedder(embedder) if isinstance(embedder, str) else embedder
    if emb.fits_on_data:  # tfidf: one vocabulary and one set of axes for both domains
        check_modality(source, emb.info.modality, f"embedder {emb.info.id!r}")
        emb.fit([source, target])
    half = (lambda lo, hi: (lambda f, m: progress(lo + (hi - lo) * f, m))) if progress else (lambda lo, hi: None)
    a = embed(source, emb, device, progress=half(0.0, 0.5))
    b = embed(target, emb, device, progress=half(0.5, 1.0))
    xs, xt = a.vectors, b.vectors
    if emb.joint_pca and xs.shape[1] > emb.joint_pca:
        mean, comps = fit_joint_pca([xs, xt], emb.joint_pca)
        xs = ((xs - mean) @ comps).astype(np.float32)
        xt = ((xt - mean) @ comps).astype(np.float32)
    info = EmbedResult(np.empty(0), a.embedder, b.device if not b.cached else a.device,
                       a.seconds + b.seconds, a.cached and b.cached)
    return xs, xt, info
