"""DSIR (Xie et al. 2023) as a selector: hashed unigram and bigram features in 10,000 buckets, bag-of-n-gram models
of target and source, log importance weights, resampling without replacement (Gumbel top-k, seeded), and the KL
reduction it reports; listed for text only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from da_core.data import Dataset, load_dataset
from da_core.errors import ModalityError
from da_core.select import SelectorInput, dsir, get_selector, select_source, select_top, selectors

FOOTBALL = ["the striker scored a late goal", "a penalty in the final minute", "the keeper saved the shot",
            "fans cheered the winning goal", "the coach praised the defence", "a red card for the midfielder"]
COOKING = ["simmer the sauce for ten minutes", "add garlic and a pinch of salt", "bake the bread until golden",
           "whisk the eggs with sugar", "chop the onions finely", "season the soup with pepper"]


def _mix(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    is_target_like = rng.random(n) < 0.5
    texts = [str(rng.choice(FOOTBALL if t else COOKING)) + f" ({i})" for i, t in enumerate(is_target_like)]
    return texts, is_target_like


def _inputs(texts_s: list[str], texts_t: list[str], seed: int = 0) -> SelectorInput:
    xs, xt = np.zeros((len(texts_s), 2)), np.zeros((len(texts_t), 2))
    return SelectorInput(xs, xt, np.arange(len(texts_s)) % 2, None, pd.DataFrame(index=range(len(texts_s))), 2,
                         seed, texts_s, texts_t)


def test_hashed_features_count_unigrams_and_bigrams_in_10000_buckets() -> None:
    counts = dsir.hashed_ngrams(["red car", "red red"])
    assert counts.shape == (2, dsir.BUCKETS) == (2, 10_000)
    assert counts[0].sum() == 3 and counts[1].sum() == 3  # two words and one pair each
    assert counts[1].max() == 2  # "red" twice


def test_log_importance_favours_target_like_texts_and_selection_reduces_kl() -> None:
    texts_s, target_like = _mix(400, 0)
    texts_t = [f"{t} again" for t in FOOTBALL * 10]
    selector = get_selector("dsir")
    weights = selector.fn(_inputs(texts_s, texts_t), selector.resolve({"resample": False}))
    assert weights.weights[target_like].min() > weights.weights[~target_like].max()
    kept = select_top(selector, weights, np.zeros(400), target_like.mean())
    assert np.array_equal(kept, target_like)  # the top fraction is exactly the target-like texts
    counts = dsir.hashed_ngrams(texts_s)
    p_t = dsir.ngram_model(dsir.hashed_ngrams(texts_t))
    # closer to the target than random subsets of the same size; the other texts are farther than chance
    assert dsir.kl_reduction(counts, p_t, kept) > 0.01 > -0.01 > dsir.kl_reduction(counts, p_t, ~kept)
    assert any("KL reduction" in note for note in weights.notes)


def test_resampling_is_seeded_and_in_proportion_to_the_weights() -> None:
    texts_s, target_like = _mix(400, 1)
    texts_t = FOOTBALL * 5 + COOKING  # mostly football: cooking texts have some weight too
    selector = get_selector("dsir")
    runs = [selector.fn(_inputs(texts_s, texts_t, seed), selector.resolve({"seed": s})).weights
            for seed, s in ((0, 0), (0, 0), (0, 1))]
    assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], runs[2])
    kept = select_top(selector, dsir_weights := selector.fn(_inputs(texts_s, texts_t), selector.resolve({})),
                      np.zeros(400), 0.3)
    assert target_like[kept].mean() > 0.8
    assert len(np.unique(np.flatnonzero(kept))) == kept.sum()  # without replacement
    assert any("Gumbel" in note for note in dsir_weights.notes)


def test_dsir_on_the_text_pair_and_refused_on_images() -> None:
    assert "dsir" in selectors("text") and "dsir" not in selectors("image")
    source = load_dataset("builtin:reviews-movies?n=150")
    target = load_dataset("builtin:tweets?n=100")
    result = select_source(source, target, "dsir", {}, 0.5, embedder="tfidf")
    assert result.embedder == "tfidf" and result.selected.sum() == 75 and len(result.weights) == 150
    assert result.to_dict()["notes"][0].startswith("KL reduction")
    digits = load_dataset("builtin:printed-digits?n=40")
    with pytest.raises(ModalityError, match="selector 'dsir' takes text data"):
        select_source(digits, digits, "dsir")
    blank = Dataset.from_texts(["a", "b"], [0, 1], ["x", "y"])
    inputs = SelectorInput(np.zeros((2, 1)), np.zeros((2, 1)), np.array([0, 1]), None, blank.meta, 2)
    with pytest.raises(Exception, match="selector dsir reads text"):
        get_selector("dsir").fn(inputs, get_selector("dsir").resolve({}))
