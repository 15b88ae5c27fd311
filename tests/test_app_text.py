"""The pages on a text pair (Streamlit AppTest): the Datasets page shows text tables, length histograms, class
balance and the vocabulary overlap; the Gap map embeds with minilm by default and hovers show the texts; the
Selection page lists DSIR and shows texts in its galleries; the default-text-pair button sets both domains."""

from __future__ import annotations

import json
from typing import Any

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


def _finish(app: AppTest, key: str) -> Any:
    from da_core.train.jobs import get_manager

    job = get_manager().get(app.session_state[key])
    assert job is not None and job.wait(240), "the job did not finish"
    app.run()  # the fragment's next tick: the page notices the end and draws the result
    app.run()
    _ok(app)
    return job


def test_the_training_page_fine_tunes_minilm_with_lora(app: AppTest) -> None:
    app.switch_page("pages/train.py").run()
    _ok(app)
    assert "LoRA adapters" in app.selectbox(key="trt_mode").options
    assert app.selectbox(key="trt_backbone").value == "minilm"
    app.selectbox(key="trt_mode").set_value("lora")
    app.number_input(key="trt_lora_rank").set_value(4)
    app.number_input(key="trt_max_steps").set_value(3)
    app.number_input(key="trt_batch").set_value(8)
    app.number_input(key="trt_eval_samples").set_value(40)
    app.selectbox(key="trt_device").set_value("cpu")
    app.selectbox(key="trt_aug").set_value("EDA: synonym replacement + random deletion")
    app.button(key="train_submit").click().run()
    _ok(app)
    job = _finish(app, "train_job")
    config = job.config
    assert (config["mode"], config["lora_rank"], config["backbone"], config["source"]) == ("lora", 4, "minilm", SOURCE)
    assert [op["name"] for op in config["pipeline"]["ops"]] == ["synonym_replacement", "random_deletion"]
    assert job.snapshot()["status"] == "finished"
    trained = [c.value for c in app.caption if "parameters trained" in c.value]
    assert trained and "of 22,7" in trained[0]  # e.g. 37,634 of 22,750,850 parameters trained (0.17%)
    assert "Target accuracy" in [m.label for m in app.metric]


def test_the_study_page_runs_a_text_study_in_steps(app: AppTest) -> None:
    from da_core.train.store import get_store

    app.switch_page("pages/study.py").run()
    _ok(app)
    assert not app.get("number_input") or all(n.key != "st_epochs" for n in app.number_input)
    app.multiselect(key="st_arms").set_value(["source-only", "augmented"])
    app.number_input(key="st_seeds").set_value(1)
    app.number_input(key="st_steps").set_value(2)
    app.radio(key="st_strength_mode").set_value("a fixed strength").run()
    app.number_input(key="st_strength").set_value(0.45).run()
    _ok(app)
    assert any("2 runs" in i.value for i in app.info)
    app.button(key="study_start").click().run()
    _ok(app)
    job = _finish(app, "study_job")
    assert job.snapshot()["status"] == "finished", job.snapshot()["message"]
    study = get_store().get_sweep(job.sweep_id)
    assert [a["name"] for a in study.result["arms"]] == ["source-only", "augmented"]
    runs = get_store().list_runs(sweep_id=job.sweep_id)
    assert {r.config["backbone"] for r in runs} == {"minilm"} and {r.config["max_steps"] for r in runs} == {2}
