"""The Augmentation lab on a text pair (Streamlit AppTest): text ops only in the editor, the concrete sentence
of the strength on an example text, original and augmented texts with a coloured word diff for several draws,
the synonym source, the pipeline export, and the over-augmentation chart on request."""

from __future__ import annotations

import json

import pytest
from _helpers import app_on_pair
from streamlit.testing.v1 import AppTest

from da_core.augment import get_op
from da_core.augment.editor import addable_ops
from da_core.augment.text_ops import default_text_pipeline, synonym_source

SOURCE = "builtin:reviews-movies?n=120"
TARGET = "builtin:tweets?n=100"
pytestmark = pytest.mark.skipif(synonym_source() is None, reason="no synonym source on this machine")


@pytest.fixture()
def lab() -> AppTest:
    at = app_on_pair(SOURCE, TARGET)
    at.switch_page("pages/augment.py").run()
    _ok(at)
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_text_lab_lists_text_ops_and_shows_the_diff_and_the_sentence(lab: AppTest) -> None:
    assert lab.title[0].value == "Augmentation lab"
    default = default_text_pipeline()
    assert lab.session_state["augt_ops"] == [op.name for op in default.ops]
    options = lab.selectbox(key="augt_add").options  # shown as "label · group"
    text_ops = [n for n in addable_ops(["synonym_replacement", "random_deletion"], modality="text")]
    assert options == [f"{get_op(n).label} · {get_op(n).group}" for n in text_ops]
    assert all(get_op(n).modality == "text" for n in text_ops) and "Rotation" not in " ".join(options)
    said = lab.info[0].value
    assert said.startswith("**At s = 0.45:** synonym replacement: replaces") and "random deletion" in said
    assert any("Synonyms: " in c.value for c in lab.caption)
    md = _markdown(lab)
    assert "text-decoration:line-through" in md or "#0969da" in md  # the coloured diff
    assert md.count("\n3. ") >= 4  # three draws for each of the four texts
    assert {"Pipeline JSON", "Python"} <= {b.label for b in lab.get("download_button")}
    # the strength knob: s = 0 is the identity (no coloured word), the sentence follows it
    lab.slider(key="augt_strength").set_value(0.0).run()
    _ok(lab)
    assert "no augmentation (identity)" in lab.info[0].value
    assert all("(unchanged)" in line for line in _markdown(lab).splitlines() if line[:3] in ("1. ", "2. ", "3. "))
    lab.slider(key="augt_strength").set_value(1.0).run()
    assert "α = 0.5" in lab.info[0].value


def test_adding_an_op_and_restoring_a_pipeline(lab: AppTest) -> None:
    lab.selectbox(key="augt_add").select_index(
        addable_ops(lab.session_state["augt_ops"], modality="text").index("aeda")).run()
    _ok(lab)
    assert lab.session_state["augt_ops"][-1] == "aeda"
    assert "punctuation insertion" in lab.info[0].value
    text = json.dumps({"ops": [{"name": "char_noise"}], "strength": 0.7, "seed": 3})
    lab.text_area(key="augt_paste").set_value(text).run()
    lab.button(key="augt_paste_restore").click().run()
    _ok(lab)
    assert lab.session_state["augt_ops"] == ["char_noise"] and lab.slider(key="augt_strength").value == 0.7
    assert lab.info[0].value.startswith("**At s = 0.70:** character noise")
    # an image pipeline is refused with a message, the text pipeline kept
    lab.text_area(key="augt_paste").set_value(json.dumps({"ops": [{"name": "rotation"}]})).run()
    lab.button(key="augt_paste_restore").click().run()
    assert any("Cannot restore" in e.value for e in lab.error)
    assert lab.session_state["augt_ops"] == ["char_noise"]


def test_measure_draws_the_chart_and_the_sweet_spot(lab: AppTest) -> None:
    assert lab.selectbox(key="augt_embedder").value == "minilm"
    assert lab.number_input(key="augt_max").value == 400
    lab.selectbox(key="augt_embedder").set_value("tfidf").run()
    lab.button(key="augt_measure").click().run()
    _ok(lab)
    said = " ".join(m.value for m in [*lab.success, *lab.warning])
    assert "Sweet spot" in said
    assert any("tfidf" in c.value and "held-out" in c.value for c in lab.caption)
    charts = [json.loads(c.proto.spec) for c in lab.get("plotly_chart")]
    assert charts and any(len(c["data"]) >= 2 for c in charts)
    lab.button(key="augt_selftest").click().run()
    _ok(lab)
    assert any("grow with s" in s.value for s in lab.success)
