"""The Tuning page (Streamlit AppTest): a small search around the Training page's settings runs in the
background, shows its trials, Optuna's figures and the validator agreement table, and every trial is a run."""

from __future__ import annotations

from _helpers import app_on_pair

from da_core.train.jobs import get_manager
from da_core.train.store import get_store

SOURCE = "builtin:printed-digits?n=300"
TARGET = "builtin:handwritten-digits?n=300"


def test_the_tuning_page_runs_a_search_and_judges_the_validators() -> None:
    at = app_on_pair(SOURCE, TARGET, timeout=180)
    at.session_state["tr_max_steps"] = 3
    at.session_state["tr_device"] = "cpu"
    at.switch_page("pages/tune.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert set(at.multiselect(key="tu_options").value) >= {"lr", "batch_size", "weight_decay"}
    at.multiselect(key="tu_options").set_value(["lr"]).run()
    at.number_input(key="tu_trials").set_value(3)
    at.selectbox(key="tu_pruner").set_value("none")
    at.selectbox(key="tu_validator").set_value("iwv").run()
    at.button(key="tune_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    job = get_manager().get(at.session_state["tune_job"])
    assert job is not None and job.wait(240), "the search did not finish"
    at.run()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    snap = job.snapshot()
    assert snap["status"] == "finished" and len(snap["result"]["trials"]) == 3
    runs = get_store().list_runs(sweep_id=job.sweep_id)
    assert len(runs) == 3 and all(r.config["max_steps"] == 3 for r in runs)
    assert len(at.get("plotly_chart")) >= 3  # history, parallel coordinates, slice (and importance)
    tables = [d.value for d in at.dataframe]
    assert any("iwv" in t.columns for t in tables)  # the trials with their validator score
    assert any("Spearman with target accuracy" in t.columns for t in tables)
