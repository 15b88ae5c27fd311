"""The Lesson page (Streamlit AppTest): every step on the default image pair — predict, run, reveal — the study
step through a small study whose DANN run's film is shown, its reuse from the history, and the presenter mode."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from da_core import lesson
from da_core.study import StudySpec
from da_core.train.config import config_for
from da_core.train.jobs import get_manager

APP = "../app.py"


def _small_study(modality: str, source: str, target: str, quick: bool = False) -> StudySpec:
    """Step 5's study at test size: the same arms, one seed, one short epoch on 300 samples per domain."""
    base = config_for(modality, {"source": "builtin:printed-digits?n=300", "target": "builtin:handwritten-digits?n=300",
                                 "epochs": 1, "robustness": False})
    return StudySpec(base=base, arms=list(lesson.COMPARE_ARMS), seeds=[0])


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setattr(lesson, "study_spec", _small_study)
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.switch_page("pages/lesson.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _step(at: AppTest, key: str, guess: int) -> str:
    at.session_state["lesson_step"] = key
    at.run()
    assert at.subheader[0].value == lesson.step(key).title
    assert not any(m.value.startswith("### ") for m in at.markdown)  # nothing is revealed before the class predicts
    assert any("This step:" in c.value for c in at.caption)
    at.radio(key=f"lesson_image_{key}_guess").set_value(guess).run()
    at.button(key=f"lesson_image_{key}_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return key


def _revealed(at: AppTest) -> tuple[str, list[str]]:
    verdicts = [m.value for m in [*at.success, *at.info] if "predicted" in m.value]
    assert verdicts, "no verdict shown"
    return verdicts[0], [m.value for m in at.markdown]


def test_every_step_predicts_runs_and_reveals_on_the_default_pair(app: AppTest) -> None:
    assert app.session_state["source_spec"] == "builtin:printed-digits"
    for key in ("domains", "gap", "augment", "select"):
        _step(app, key, 0)
        verdict, text = _revealed(app)
        answers = lesson.step(key).answers
        assert verdict.startswith(f"The class predicted **{answers[0]}**")
        assert any(t.startswith("### ") for t in text)  # the headline of what was measured
    assert len(app.get("plotly_chart")) >= 1  # the selection's gap curve
    # step 5: a study in the background, then the reveal with the DANN run's film
    _step(app, "compare", 2)
    job = get_manager().get(app.session_state["lesson_job_image"])
    assert job is not None and job.wait(300), "the lesson's study did not finish"
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    verdict, text = _revealed(app)
    result = get_manager().store.get_sweep(job.sweep_id).result
    assert verdict == lesson.reveal_compare(result).verdict(2, lesson.step("compare").answers)
    assert any(t.startswith("Target accuracy: source only") for t in text)
    charts = [json.loads(c.proto.spec) for c in app.get("plotly_chart")]
    assert any(c.get("frames") for c in charts)  # the film: an animation with one frame per evaluation
    # a second visit reuses the finished study: nothing runs again
    again = AppTest.from_file(APP, default_timeout=300)
    again.run()
    again.switch_page("pages/lesson.py").run()
    again.session_state["lesson_step"] = "compare"
    again.run()
    assert not any("Target accuracy:" in m.value for m in again.markdown)  # the class predicts first
    assert any("in the history already" in c.value for c in again.caption)
    again.button(key="lesson_image_compare_go").click().run()
    assert any("Target accuracy:" in m.value for m in again.markdown)
    assert "lesson_job_image" not in again.session_state


def test_presenter_mode_enlarges_type_and_figures_and_drops_controls(app: AppTest) -> None:
    _step(app, "select", 1)
    plain = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert app.get("page_link") and not app.selectbox(key="lesson_pair").disabled
    app.toggle(key="lesson_presenter").set_value(True).run()
    assert not app.exception, [e.value for e in app.exception]
    big = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert big["layout"]["font"]["size"] == 18 and big["layout"]["height"] > plain["layout"].get("height", 450)
    assert any("font-size: 21px" in h.proto.body for h in app.get("html"))
    assert not app.get("page_link") and app.selectbox(key="lesson_pair").disabled


def test_the_text_pair_is_the_lesson_s_other_story(app: AppTest) -> None:
    app.selectbox(key="lesson_pair").set_value("text").run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.session_state["source_spec"] == "builtin:reviews-movies"
    assert app.radio(key="lesson_text_domains_guess").options  # step 1 of the text story waits for the class
    assert len(app.dataframe) == 2  # a few texts per class of each domain
