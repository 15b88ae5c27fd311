"""The Study page's form as data: the selection it takes over from the Selection page (never one made for the
other modality), and the spec it builds on an image and on a text pair."""

from __future__ import annotations

from da_core.study import form
from da_core.train.config import TEXT_DEFAULTS

TEXT = ("builtin:reviews-movies?n=120", "builtin:tweets?n=80")
IMAGE = ("builtin:printed-digits?n=200", "builtin:handwritten-digits?n=200")


def test_the_selection_pages_settings_are_taken_over_for_their_own_modality_only() -> None:
    dsir = {"sel_method": "dsir", "sel_fraction": 30.0, "sel_embedder": None}
    taken = form.selection_from_state(dsir, modality="text")
    assert (taken.method, taken.fraction, taken.from_page) == ("dsir", 0.3, True)
    refused = form.selection_from_state(dsir, modality="image")  # DSIR reads texts: the default instead
    assert (refused.method, refused.from_page) == (form.DEFAULT_METHOD, False)
    knn = {"sel_method": "knn-similarity", "sel_fraction": 40.0, "sel_embedder": "digits-cnn"}
    assert form.selection_from_state(knn, modality="image").embedder == "digits-cnn"
    assert not form.selection_from_state(knn, modality="text").from_page  # an image embedder on texts
    assert not form.selection_from_state({**knn, "sel_embedder": "no-such"}, modality="image").from_page


def test_a_text_study_counts_its_budget_in_steps() -> None:
    values = {**form.form_values({}), "steps": 7, "epochs": 5, "arms": ["source-only", "augmented"]}
    selection = form.selection_from_state({}, modality="text")
    text = form.study_spec(values, *TEXT, selection, modality="text")
    assert text.base.backbone == "minilm" and text.base.max_steps == 7 and text.base.mode == TEXT_DEFAULTS["mode"]
    image = form.study_spec(values, *IMAGE, selection)
    assert image.base.backbone == "digits-cnn" and image.base.epochs == 5 and image.base.max_steps is None
