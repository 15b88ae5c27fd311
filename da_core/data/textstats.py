"""What the Datasets page shows about text domains: samples per class, text lengths, and vocabulary overlap.

Words are counted by scikit-learn's ``CountVectorizer`` (lower-cased words of two or more letters, its English
stop-word list removed).  The overlap of domain A with domain B is the share of A's ``top`` most frequent words
that are among B's ``top`` most frequent words (1 on the diagonal; symmetric when both have ``top`` words).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from da_core.data.dataset import Dataset

TOP_WORDS = 200


def text_lengths(ds: Dataset, unit: str = "words") -> np.ndarray:
    """Length of every text in words (whitespace-separated) or characters."""
    if ds.texts is None:
        raise ValueError(f"dataset {ds.domain!r} holds images, not texts")
    if unit == "chars":
        return np.array([len(t) for t in ds.texts], dtype=np.int64)
    return np.array([len(t.split()) for t in ds.texts], dtype=np.int64)


def top_words(texts: list[str], top: int = TOP_WORDS) -> list[tuple[str, int]]:
    """The ``top`` most frequent words (stop words removed) with their counts, most frequent first (ties by
    word, so the list is reproducible)."""
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = CountVectorizer(stop_words="english", token_pattern=r"(?u)\b[^\W\d_]{2,}\b")
    try:
        counts = vectorizer.fit_transform(texts)
    except ValueError:  # no word left after removing stop words
        return []
    totals = np.asarray(counts.sum(axis=0)).ravel()
    words = vectorizer.get_feature_names_out()
    order = sorted(range(len(words)), key=lambda i: (-totals[i], words[i]))[:top]
    return [(str(words[i]), int(totals[i])) for i in order]


def vocabulary_overlap(datasets: dict[str, Dataset], top: int = TOP_WORDS) -> pd.DataFrame:
    """Square table, one row and column per domain: row A, column B holds the share of A's top words that are
    among B's top words."""
    tops = {name: {w for w, _ in top_words(ds.texts or [], top)} for name, ds in datasets.items()}
    names = list(datasets)
    values = [[len(tops[a] & tops[b]) / len(tops[a]) if tops[a] else float("nan") for b in names] for a in names]
    return pd.DataFrame(values, index=names, columns=names)


def distinctive_words(a: Dataset, b: Dataset, top: int = TOP_WORDS, show: int = 15) -> list[str]:
    """``a``'s most frequent words that are not among ``b``'s top words: what only one domain talks about."""
    theirs = {w for w, _ in top_words(b.texts or [], top)}
    return [w for w, _ in top_words(a.texts or [], top) if w not in theirs][:show]


def samples_per_class(ds: Dataset, per_class: int = 5, seed: int = 0) -> pd.DataFrame:
    """A seeded sample of ``per_class`` texts of every class: ``class``, ``text``, ``uid`` and, when the meta
    has it, ``rating``."""
    rng = np.random.default_rng(seed)
    labels = ds.labels.numpy()
    rows: list[dict[str, Any]] = []
    for c, name in enumerate(ds.classes):
        idx = np.flatnonzero(labels == c)
        for i in np.sort(rng.permutation(idx)[:per_class]) if len(idx) else []:
            row = {"class": name, "text": ds.texts[i] if ds.texts is not None else "", "uid": ds.uids[i]}
            if "rating" in ds.meta.columns:
                row["rating"] = float(ds.meta["rating"].iat[i])
            rows.append(row)
    return pd.DataFrame(rows)
