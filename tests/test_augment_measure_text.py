"""Over-augmentation measured on a text pair: affinity 1 at s = 0, label flips that grow with the strength of
random deletion, reproducible numbers for a seed, the sample cap reported, and the per-op self-test on texts
(the share of words edited is 0 at s = 0 and grows with s)."""

from __future__ import annotations

import math

import pytest

from da_core.augment import OpConfig, Pipeline
from da_core.augment.measure import (
    TEXT_MAX_SAMPLES,
    measure_over_augmentation,
    self_test,
    sweet_spot,
    word_change,
)
from da_core.augment.text_ops import default_text_pipeline, synonym_source
from da_core.data import load_dataset
from da_core.embed import get_embedder

SOURCE, TARGET = "builtin:reviews-movies?n=120", "builtin:tweets?n=100"
DELETION = Pipeline([OpConfig("random_deletion")], 0.5, 0)
GRID = (0.0, 0.45, 0.7, 1.0)


@pytest.fixture(scope="module")
def pair() -> tuple:
    return load_dataset(SOURCE), load_dataset(TARGET)


@pytest.fixture(scope="module")
def deletion(pair: tuple):
    return measure_over_augmentation(DELETION, *pair, strengths=GRID, embedder="tfidf", seed=0)


def test_affinity_is_one_at_zero_and_flips_grow_with_deletion(deletion) -> None:
    r = deletion.results
    assert [x.strength for x in r] == list(GRID)
    assert r[0].affinity == 1.0 and r[0].label_flip_rate == 0.0 and r[0].gap_to_target == deletion.clean_gap
    flips = [x.label_flip_rate for x in r]
    assert flips[-1] > flips[1] >= 0 and flips[-1] > 0.05
    assert all(b >= a - 0.02 for a, b in zip(flips, flips[1:]))  # grows (within noise)
    assert all(math.isfinite(x.gap_to_target) and x.embedding_shift >= 0 for x in r)
    assert r[-1].embedding_shift > r[1].embedding_shift > 0
    assert "deletes each word" in r[1].description
    assert deletion.embedder == "tfidf" and deletion.n_train + deletion.n_held_out == 120 and deletion.n_target == 100
    spot, why = sweet_spot(deletion.results, deletion.threshold)
    assert (spot, why) == (deletion.sweet_spot, deletion.explanation) and why


def test_same_seed_same_numbers_and_another_seed_differs(pair: tuple, deletion) -> None:
    again = measure_over_augmentation(DELETION, *pair, strengths=tuple(reversed(GRID)), embedder="tfidf", seed=0)
    assert [x.to_dict() for x in again.results] == [x.to_dict() for x in deletion.results]
    other = measure_over_augmentation(DELETION, *pair, strengths=(1.0,), embedder="tfidf", seed=1)
    assert other.results[0].to_dict() != deletion.results[-1].to_dict()


def test_text_defaults_cap_at_400_and_say_so(pair: tuple) -> None:
    source = load_dataset("builtin:reviews-movies?n=500")
    report = measure_over_augmentation(DELETION, source, pair[1], strengths=(0.0, 1.0), embedder="tfidf", seed=0)
    assert report.n_train + report.n_held_out == TEXT_MAX_SAMPLES
    assert any("used 400 of 500 source" in n for n in report.notes)
    assert report.to_dict()["notes"] == report.notes


def test_image_ops_on_a_text_pair_are_refused(pair: tuple) -> None:
    from da_core.errors import ModalityError

    with pytest.raises(ModalityError, match="rotation"):
        measure_over_augmentation(Pipeline([OpConfig("rotation")]), *pair, strengths=(0, 1), embedder="tfidf")


@pytest.mark.skipif(get_embedder("minilm").unavailable() is not None, reason="MiniLM is not installed")
def test_minilm_measure_on_a_small_pair(pair: tuple) -> None:
    source, target = load_dataset("builtin:reviews-movies?n=60"), load_dataset("builtin:tweets?n=40")
    report = measure_over_augmentation(DELETION, source, target, strengths=(0.0, 1.0), seed=0)
    assert report.embedder == "minilm"
    assert report.results[0].affinity == 1.0 and report.results[0].label_flip_rate == 0.0
    assert report.results[1].embedding_shift > 0 and report.results[1].gap_to_target != report.clean_gap


def test_word_change() -> None:
    assert word_change("a b c d", "a b c d") == 0.0
    assert word_change("a b c d", "a c d") == 0.25
    assert word_change("a b c d", "a x c d") == 0.25
    assert word_change("a b c d", "a b , c d") == 0.25


@pytest.mark.skipif(synonym_source() is None, reason="no synonym source on this machine")
def test_self_test_on_texts_grows_with_strength(pair: tuple) -> None:
    ops = ["synonym_replacement", "random_insertion", "random_swap", "random_deletion", "aeda", "char_noise"]
    texts = pair[0].texts[:40]
    results = self_test(Pipeline([OpConfig(n) for n in ops]), texts, strengths=(0.0, 0.25, 0.5, 0.75, 1.0))
    assert [r.name for r in results] == ops
    for r in results:
        assert r.pixel_effect[0] == 0.0 and r.effect == r.pixel_effect, r.name  # words only: s = 0 is identity
        assert r.pixel_effect[-1] > r.pixel_effect[1] > 0, r.name
        assert not r.warnings, (r.name, r.warnings)
        assert len(r.values) == 5
    # EDA's α = 0.5·s²: deletion at s = 1 removes about half the words
    deletion = results[3]
    assert 0.35 < deletion.pixel_effect[-1] < 0.65
    # an op whose α is set to 0 changes nothing at any strength: flagged
    (pinned,) = self_test(Pipeline([OpConfig("random_deletion", knobs={"alpha": 0.0})]), texts, strengths=(0, 1))
    assert pinned.warnings and "changes nothing on these texts" in pinned.warnings[0]


def test_default_text_pipeline_is_eda_at_alpha_0_1() -> None:
    pipe = default_text_pipeline()
    assert pipe.modality == "text" and pipe.strength == 0.45
    assert abs(pipe.resolve()[0].values["alpha"] - 0.1) < 0.005
