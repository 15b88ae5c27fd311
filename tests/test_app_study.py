"""The Study page (Streamlit AppTest): set up and start a small study, see its recommendation, table and figures,
find it among the saved studies, resume a stopped one, delete it; the grid's run count before starting."""

from __future__ import annotations

import threading

from _helpers import app_on_pair
from streamlit.testing.v1 import AppTest

from da_core.study import StudySpec, run_study
from da_core.train.config import TrainConfig
from da_core.train.jobs import get_manager
from da_core.train.store import get_store

SOURCE = "builtin:printed-digits?n=600"
TARGET = "builtin:handwritten-digits?n=600"


def _app() -> AppTest:
    at = app_on_pair(SOURCE, TARGET, timeout=180)
    at.switch_page("pages/study.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _settle(at: AppTest, job_id: str) -> None:
    job = get_manager().get(job_id)
    assert job is not None and job.wait(240), "the study did not finish"
    at.run()
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def test_study_page_runs_a_study_and_shows_what_it_found() -> None:
    at = _app()
    at.multiselect(key="st_arms").set_value(["source-only", "dann"])
    at.number_input(key="st_seeds").set_value(2)
    at.number_input(key="st_epochs").set_value(1)
    at.number_input(key="st_k").set_value(2).run()
    assert any("4 runs" in i.value for i in at.info)
    at.button(key="study_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    job_id = at.session_state["study_job"]
    _settle(at, job_id)
    job = get_manager().get(job_id)
    assert job.snapshot()["status"] == "finished"
    result = get_store().get_sweep(job.sweep_id).result
    assert [a["name"] for a in result["arms"]] == ["source-only", "dann"]
    assert any(result["recommendation"] == s.value for s in at.success)
    table = at.dataframe[0].value
    assert table["seeds"].tolist() == [2, 2] and len(at.get("plotly_chart")) >= 3
    assert at.selectbox(key="study_open").value == job.sweep_id
    assert {b.label for b in at.get("download_button")} >= {"Runs (CSV)", "Study (JSON)"}
    at.button(key="study_delete").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert get_store().get_sweep(job.sweep_id) is None


def test_the_grid_says_how_many_runs_before_starting() -> None:
    at = _app()
    at.multiselect(key="st_arms").set_value(["source-only", "augmented", "dann"])
    at.toggle(key="st_grid").set_value(True).run()
    at.text_input(key="st_ks").set_value("0, 5").run()
    at.text_input(key="st_shares").set_value("1, 0.2").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("24 runs" in i.value and "4 cells" in i.value for i in at.info)  # 3 arms × 2 seeds × 4 cells
    at.text_input(key="st_ks").set_value("0, five").run()
    assert any("comma-separated numbers" in e.value for e in at.error)
    assert at.button(key="study_start").disabled


def test_a_stopped_study_resumes_from_the_page() -> None:
    stop = threading.Event()
    base = TrainConfig(source=SOURCE, target=TARGET, max_steps=4, batch_size=32, evals_per_epoch=1,
                       target_labels_per_class=2)
    spec = StudySpec(base, ["source-only", "dann"], [0, 1], name="to resume")
    first = run_study(spec, get_store(), stop=stop, on_run=lambda r, i, n, label: stop.set() if i == 1 else None)
    assert first.status == "stopped"
    at = _app()
    at.selectbox(key="study_open").set_value(first.study_id).run()
    resume = at.button(key="study_resume")
    assert not resume.disabled
    resume.click().run()
    assert not at.exception, [e.value for e in at.exception]
    _settle(at, at.session_state["study_job"])
    stored = get_store().get_sweep(first.study_id)
    assert stored.status == "finished" and stored.result["runs_done"] == 4


def test_a_saved_grid_shows_its_map() -> None:
    base = TrainConfig(source=SOURCE, target=TARGET, max_steps=3, batch_size=32, evals_per_epoch=1)
    spec = StudySpec(base, ["source-only", "dann"], [0], ks=[0, 2], shares=[1.0], name="a map")
    study = run_study(spec, get_store())
    assert study.status == "finished"
    at = _app()
    at.selectbox(key="study_open").set_value(study.study_id).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "When does each win" in [h.value for h in at.subheader]
    assert any("cells are ties" in m.value for m in at.markdown)
    assert len(at.get("plotly_chart")) >= 4  # accuracy, paired gains, cost, and the map
