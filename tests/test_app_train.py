"""Training and Runs pages (Streamlit AppTest): start a short run, see it finish, find it in the history."""

from __future__ import annotations

from _helpers import app_on_pair
from streamlit.testing.v1 import AppTest

from da_core.train.jobs import get_manager
from da_core.train.store import get_store
from da_core.train.sweep import add_diversity, summarize

SOURCE = "builtin:printed-digits?n=600"
TARGET = "builtin:handwritten-digits?n=600"


def _app() -> AppTest:
    return app_on_pair(SOURCE, TARGET, timeout=180)


def test_training_page_starts_a_run_and_sees_it_finish() -> None:
    at = _app()
    at.switch_page("pages/train.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("No run yet" in i.value for i in at.info)
    at.number_input(key="tr_max_steps").set_value(6)
    at.number_input(key="tr_batch").set_value(32)
    at.selectbox(key="tr_device").set_value("cpu")
    at.button(key="train_submit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    job = get_manager().get(at.session_state["train_job"])
    assert job is not None and job.config["max_steps"] == 6 and job.config["source"] == SOURCE
    assert job.wait(120), "the run did not finish"
    at.run()  # the fragment's next tick: the page notices the end and draws the result
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Result" in [h.value for h in at.subheader]
    labels = [m.label for m in at.metric]
    assert "Target accuracy" in labels and "Source accuracy" in labels
    assert any(e.label.startswith("Validators") for e in at.expander)
    table = next(d.value for d in at.dataframe if "validator" in d.value.columns)
    assert "IWV" in table["validator"].tolist() and table["oracle"].sum() == 1
    assert any(e.label.startswith("Robustness") for e in at.expander)
    assert "Mean corruption accuracy" in labels and "ε at half accuracy" in labels
    rob = job.snapshot()["final"]["robustness"]
    assert any(f"{rob['corruption_acc']:.1%}" == m.value for m in at.metric)  # the measured number, not a canned one
    assert job.snapshot()["status"] == "finished"
    run = get_store().get_run(job.run_id)
    assert run.status == "finished" and run.origin == "page" and run.config["max_steps"] == 6

    # another browser session does not see this session's run
    other = _app()
    other.switch_page("pages/train.py").run()
    assert any("No run yet" in i.value for i in other.info)
    assert "Result" not in [h.value for h in other.subheader]

    # the Runs page lists it, overlays it and offers its metrics as CSV
    at.switch_page("pages/runs.py").run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    assert job.run_id in table["id"].tolist()
    assert job.run_id in at.multiselect(key="runs_chosen").value
    assert at.get("plotly_chart"), "no overlay chart"
    assert any(b.label.startswith("Download metrics") for b in at.get("download_button"))

    at.multiselect(key="runs_delete").set_value([job.run_id]).run()
    at.checkbox(key="runs_delete_sure").check().run()
    at.button(key="runs_delete_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert get_store().get_run(job.run_id) is None
    assert any("Deleted 1 runs" in s.value for s in at.success)


def test_runs_page_shows_a_sweep() -> None:
    store = get_store()
    rows = []
    for seed in (0, 1):
        for strength, acc, loss in ((0.0, 0.70, 0.2), (0.5, 0.80 + seed / 100, 0.5), (1.0, 0.55, 1.2)):
            rows.append({"strength": strength, "seed": seed, "lr": 0.005, "target_acc": acc, "source_acc": 0.99,
                         "train_loss": loss, "affinity": 1 - strength / 2, "status": "finished", "run_id": None,
                         "corruption_acc": acc - 0.3, "adv_acc": 0.1 + strength / 5, "eps_half": 0.03})
    add_diversity(rows)
    summary, best, best_lr = summarize(rows)
    sweep_id = store.create_sweep({"strengths": [0, 0.5, 1], "seeds": [0, 1]}, "running")
    store.set_sweep_status(sweep_id, "finished", result={"results": rows, "summary": summary, "best_strength": best,
                                                         "best_lr": best_lr})
    at = _app()
    at.switch_page("pages/runs.py").run()
    assert not at.exception, [e.value for e in at.exception]
    at.selectbox(key="runs_sweep").set_value(sweep_id).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("peaks at strength 0.5" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) >= 3  # strength, the Affinity-Diversity plane, clean vs adversarial
