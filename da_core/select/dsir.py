"""DSIR, data selection with importance resampling (Xie et al. 2023, "Data Selection for Language Models via
Importance Resampling"), for text.

Each text becomes hashed counts of its words and word pairs (unigrams and bigrams in 10,000 buckets, scikit-learn's
``HashingVectorizer``).  A bag-of-n-grams model is fitted to the target and one to the source (bucket frequencies,
add-``smoothing`` counts); a source text's log importance weight is the sum over its n-grams of
log p_target − log p_source.  Resampling without replacement in proportion to the importance weights is the top
fraction of the log weights plus Gumbel noise (the Gumbel top-k trick, seeded), so :func:`select_top` draws it.
The note reports the KL reduction at a few fractions: KL(target ‖ random subset) − KL(target ‖ selection) for random
subsets of the same size, the paper's measure of how much closer the selection's n-gram distribution is to the
target's than chance (in nats; > 0 is closer).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from da_core.data.spec import Param
from da_core.errors import SpecError
from da_core.select.selectors import SelectorInput, Weights, get_selector, register_selector, select_top

BUCKETS = 10_000
KL_FRACTIONS = (0.1, 0.25, 0.5)


def hashed_ngrams(texts: list[str], buckets: int = BUCKETS) -> Any:
    """Sparse counts (n × ``buckets``, CSR) of each text's lower-cased unigrams and bigrams, hashed."""
    from sklearn.feature_extraction.text import HashingVectorizer

    vectorizer = HashingVectorizer(n_features=buckets, ngram_range=(1, 2), alternate_sign=False, norm=None,
                                   lowercase=True)
    return vectorizer.transform(texts)


def ngram_model(counts: Any, smoothing: float = 1.0) -> np.ndarray:
    """Bucket probabilities of a bag-of-n-grams model fitted to ``counts`` (rows summed, add-``smoothing``)."""
    totals = np.asarray(counts.sum(axis=0), dtype=np.float64).ravel() + smoothing
    return totals / totals.sum()


def log_importance(counts: Any, p_target: np.ndarray, p_source: np.ndarray) -> np.ndarray:
    """Per text: the sum over its n-grams of log p_target − log p_source."""
    return np.asarray(counts @ (np.log(p_target) - np.log(p_source)), dtype=np.float64).ravel()


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p ‖ q) in nats for two distributions over the same buckets (q > 0 everywhere)."""
    mask = p > 0
    return float((p[mask] * (np.log(p[mask]) - np.log(q[mask]))).sum())


def kl_reduction(counts_s: Any, p_target: np.ndarray, mask: np.ndarray, smoothing: float = 1.0, seed: int = 0,
                 draws: int = 5) -> float:
    """The paper's KL reduction: mean KL(target ‖ a random subset of the source of the same size) − KL(target ‖
    the source texts in ``mask``), every n-gram model smoothed alike (so a small subset is not penalised for its
    sparser counts: the random ones are as small)."""
    kept = np.flatnonzero(mask)
    selected = kl_divergence(p_target, ngram_model(counts_s[kept], smoothing))
    rng = np.random.default_rng(seed)
    n = counts_s.shape[0]
    random = [kl_divergence(p_target, ngram_model(counts_s[np.sort(rng.choice(n, size=len(kept), replace=False))],
                                                  smoothing)) for _ in range(draws)]
    return float(np.mean(random)) - selected


@register_selector(
    "dsir", "DSIR (importance resampling on n-grams)",
    "Xie et al. 2023: hashed unigram and bigram features (10,000 buckets), bag-of-n-gram models of target and "
    "source, importance weights log p_target − log p_source per text, resampled without replacement (Gumbel "
    "top-k); reports the KL reduction. Text only; it reads the texts, not the embeddings.",
    (Param("smoothing", float, 1.0, "pseudo-count added to every bucket of both n-gram models", min=1e-6, max=100.0),
     Param("resample", bool, True, "resample in proportion to the importance weights (Gumbel top-k); off: keep the "
                                   "highest log weights"),
     Param("seed", int, 0, "seed of the resampling", min=0)),
    modality="text")
def _dsir(inputs: SelectorInput, params: dict[str, Any]) -> Weights:
    if inputs.texts_s is None or inputs.texts_t is None:
        raise SpecError("selector dsir reads text: the source and target must be text datasets")
    counts_s, counts_t = hashed_ngrams(inputs.texts_s), hashed_ngrams(inputs.texts_t)
    p_target = ngram_model(counts_t, params["smoothing"])
    p_source = ngram_model(counts_s, params["smoothing"])
    log_w = log_importance(counts_s, p_target, p_source)
    keys = log_w
    if params["resample"]:
        keys = log_w + np.random.default_rng([inputs.seed, params["seed"]]).gumbel(size=len(log_w))
    me = get_selector("dsir")
    reductions = []
    for f in KL_FRACTIONS:
        kept = select_top(me, Weights(keys), inputs.ys, f)
        reduction = kl_reduction(counts_s, p_target, kept, params["smoothing"], seed=inputs.seed)
        reductions.append(f"{f:.0%} {reduction:+.3f}")
    notes = [f"KL reduction of the n-gram distribution to the target's against random subsets of the same size "
             f"(nats; > 0 is closer): {', '.join(reductions)} kept",
             f"n-gram KL(target ‖ source) before selection: "
             f"{kl_divergence(p_target, p_source):.3f} nats over {BUCKETS:,} hashed buckets"]
    if params["resample"]:
        notes.append("weights are log importance weights plus seeded Gumbel noise, so the top fraction is a sample "
                     "without replacement in proportion to the importance weights")
    return Weights(keys, notes)
