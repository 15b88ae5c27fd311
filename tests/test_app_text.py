"""The pages on a text pair (Streamlit AppTest): the Datasets page shows text tables, length histograms, class
balance and the vocabulary overlap; the Gap map embeds with minilm by default and hovers show the texts; the
Selection page lists DSIR and shows texts in its galleries; the default-text-pair button sets both domains."""

from __future__ import annotations

import json

import pytest
from _helpers import app_on_pair
from streamlit.testing.v1 import AppTest

from da_core.config import DEFAULT_TEXT_SOURCE, DEFAULT_TEXT_TARGET

SOURCE = "builtin:reviews-movies?n=120"
TARGET = "builtin:tweets?n=100"


@pytest.fixture()
def app() -> AppTest:
    return app_on_pair(SOURCE, TARGET)


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_datasets_page_on_text(app: AppTest) -> None:
    app.switch_page("pages/datasets.py").run()
    _ok(app)
    heads = [h.value for h in app.subheader]
    assert {"Samples per class", "Class balance", "Text lengths", "Vocabulary overlap"} <= set(heads)
    assert "Pixel intensities" not in heads
    tables = [t.value for t in app.dataframe]
    samples = next(t for t in tables if "text" in t.columns and "class" in t.columns)
    assert set(samples["class"]) == {"negative", "positive"} and samples["text"].str.len().min() > 0
    assert any("only the source's" in t.columns for t in tables)
    summary = next(t for t in tables if "words (mean)" in t.columns)
    assert list(summary.index) == ["source", "target"]


def test_the_text_pair_button_sets_both_domains() -> None:
    at = app_on_pair("builtin:printed-digits?n=100", "builtin:handwritten-digits?n=100")
    at.switch_page("pages/datasets.py").run()
    at.button(key="text_pair").click().run()
    assert at.session_state["source_spec"].startswith(DEFAULT_TEXT_SOURCE)
    assert at.session_state["target_spec"].startswith(DEFAULT_TEXT_TARGET)
    _ok(at)


def test_gap_page_on_text_defaults_to_minilm_and_hovers_show_texts(app: AppTest) -> None:
    app.switch_page("pages/gap.py").run()
    _ok(app)
    box = app.selectbox(key="gap_embedder")
    assert box.value == "minilm" and box.options[:2] == ["minilm", "tfidf"] and "digits-cnn" not in box.options
    charts = [json.loads(c.proto.spec) for c in app.get("plotly_chart")]
    texts = [t for c in charts for trace in c["data"] for t in trace.get("text") or []]
    assert len(texts) >= 220 and any("<br>" in t or len(t) > 20 for t in texts)
    assert any("%{text}" in trace.get("hovertemplate", "") for c in charts for trace in c["data"])


def test_selection_page_lists_dsir_for_text_and_shows_texts(app: AppTest) -> None:
    app.switch_page("pages/select.py").run()
    _ok(app)
    assert "DSIR (importance resampling on n-grams)" in app.selectbox(key="sel_method").options
    app.selectbox(key="sel_method").set_value("dsir").run()
    app.selectbox(key="sel_embedder").set_value("tfidf").run()
    app.button(key="sel_compute").click().run()
    _ok(app)
    assert any("KL reduction" in c.value for c in app.caption)
    charts = [json.loads(c.proto.spec) for c in app.get("plotly_chart")]
    weighted = [t for c in charts for t in c["data"] if "weight %{customdata[1]" in t.get("hovertemplate", "")]
    assert weighted and all(t.get("text") for t in weighted)  # the weight map's hovers show the texts too
    galleries = [t.value for t in app.dataframe if "text" in t.value.columns]
    assert len(galleries) == 3 and all(len(g) > 0 for g in galleries)


def test_a_csv_uploaded_on_the_datasets_page_becomes_the_source() -> None:
    at = app_on_pair(SOURCE, TARGET)
    at.switch_page("pages/datasets.py").run()
    at.selectbox(key="source_kind").set_value("Text file upload (CSV/JSONL)").run()
    assert any("Upload a file with a text column" in i.value for i in at.info)
    rows = "".join(f'"{w} film, really {w}",{lab}\n' for w, lab in [("great", "positive"), ("awful", "negative")] * 10)
    at.file_uploader(key="source_text_upload").set_value(("mine.csv", ("id,review,sentiment\n" + "".join(
        f"{i},{line}" for i, line in enumerate(rows.splitlines(keepends=True)))).encode(), "text/csv")).run()
    _ok(at)
    assert at.selectbox(key="source_text_col").value == "review"  # guessed from the header
    assert at.selectbox(key="source_label_col").value == "sentiment"
    spec = at.session_state["source_spec"]
    assert spec.startswith("csv:") and "label=sentiment" in spec and "text=review" in spec
    summary = next(t.value for t in at.dataframe if "words (mean)" in t.value.columns)
    assert summary.loc["source", "samples"] == 20 and summary.loc["source", "classes"] == 2


def test_the_study_page_says_it_is_image_only_for_now(app: AppTest) -> None:
    app.switch_page("pages/study.py").run()
    assert not app.exception, [e.value for e in app.exception]
    assert any("text fine-tuning" in i.value for i in app.info)
