"""What the pages show about text, computed in da_core: samples per class, text lengths, vocabulary overlap with
stop words removed, the map's hover texts, the selection's text table, and the text figures."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from da_core import viz
from da_core.data import Dataset, textstats
from da_core.gap_workflow import EmbeddedPair, map_hover_texts, selection_texts
from da_core.select import figures


def _ds(texts: list[str], domain: str, ratings: bool = False) -> Dataset:
    meta = pd.DataFrame({"uid": [f"{domain}:{i}" for i in range(len(texts))]})
    if ratings:
        meta["rating"] = np.linspace(-2, 2, len(texts))
    return Dataset.from_texts(texts, [i % 2 for i in range(len(texts))], ["neg", "pos"], meta, domain)


FOOD = ["the soup was salty and the bread stale", "great pasta and fresh bread", "the waiter brought cold soup",
        "lovely pasta, lovely wine"] * 5
FILM = ["the actor was wooden and the plot thin", "a gripping plot and a great actor", "the film dragged on",
        "the director's best film"] * 5


def test_vocabulary_overlap_counts_shared_top_words_without_stop_words() -> None:
    food, film, food2 = _ds(FOOD, "food"), _ds(FILM, "film"), _ds(FOOD[::-1], "food2")
    words = [w for w, _ in textstats.top_words(FOOD, 5)]
    assert "the" not in words and "and" not in words
    assert words[:4] == ["bread", "lovely", "pasta", "soup"]  # ten each: ties by word
    overlap = textstats.vocabulary_overlap({"food": food, "film": film, "food2": food2}, top=10)
    assert list(overlap.index) == ["food", "film", "food2"] and np.allclose(np.diag(overlap), 1.0)
    assert overlap.loc["food", "food2"] == 1.0 and overlap.loc["food", "film"] < 0.2
    assert textstats.distinctive_words(food, film, top=10)[:3] == ["bread", "lovely", "pasta"]
    fig = viz.vocabulary_overlap_figure(overlap)
    assert fig.data[0].z.shape == (3, 3)


def test_samples_per_class_and_lengths() -> None:
    ds = _ds(FILM, "film", ratings=True)
    rows = textstats.samples_per_class(ds, 3, seed=1)
    assert list(rows.columns) == ["class", "text", "uid", "rating"] and rows["class"].value_counts().to_dict() == {
        "neg": 3, "pos": 3}
    assert all(ds.texts[ds.uids.index(u)] == t for u, t in zip(rows["uid"], rows["text"]))
    assert rows.equals(textstats.samples_per_class(ds, 3, seed=1))
    assert textstats.text_lengths(ds).tolist() == [len(t.split()) for t in FILM]
    assert textstats.text_lengths(ds, "chars")[0] == len(FILM[0])
    fig = viz.text_length_figure({"source": ds, "target": _ds(FOOD, "food")})
    assert len(fig.data) == 2 and abs(sum(fig.data[0].y) - 1.0) < 1e-9
    assert viz.summary_rows({"source": ds})[0]["words (median)"] == float(np.median(textstats.text_lengths(ds)))


def test_hover_texts_and_the_selection_table() -> None:
    long = "word " * 100 + "<b>end</b>"
    src, tgt = _ds(["short one", long], "s"), _ds(["target text"], "t")
    pair = EmbeddedPair("tfidf", "cpu", src, tgt, np.zeros((2, 2)), np.zeros((1, 2)), 0.0)
    hover = map_hover_texts(pair, width=40, limit=120)
    assert hover[0] == "short one" and hover[2] == "target text" and len(hover) == 3
    assert hover[1].endswith("…") and "<br>" in hover[1] and "<b>" not in hover[1]
    table = selection_texts(pair, [2, 0])
    assert table.to_dict("records") == [{"domain": "source", "uid": "s:0", "class": "neg", "text": "short one"},
                                        {"domain": "target", "uid": "t:0", "class": "neg", "text": "target text"}]
    fig = viz.embedding_map_figure(np.zeros((3, 2)), np.array(["source", "source", "target"]), np.array([0, 1, 0]),
                                   ["neg", "pos"], hover_texts=hover)
    shown = [t for trace in json.loads(fig.to_json())["data"] for t in trace["text"]]
    assert sorted(shown) == sorted(hover) and "%{text}" in fig.data[0].hovertemplate
    weights = figures.weight_map_figure(np.zeros((3, 2)), np.array([0.2, 0.9]), np.array([False, True]),
                                        hover_texts=hover)
    assert [list(t.text) for t in weights.data] == [[hover[2]], [hover[0]], [hover[1]]]
