"""Run faults leave the history consistent and the app usable: a killed server mid-run (interrupted, metrics
kept), Stop during the first batch, NaN loss, and a data pipeline that fails mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from da_core.train.config import TrainConfig
from da_core.train.jobs import get_manager
from da_core.train.store import get_store

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"source": "builtin:printed-digits?n=600", "target": "builtin:handwritten-digits?n=600",
         "batch_size": 32, "device": "cpu"}


def _config(**changes: object) -> TrainConfig:
    return TrainConfig.from_dict({**SMALL, **changes})


def _wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_server_killed_mid_run_leaves_an_interrupted_run_with_its_metrics(tmp_path: Path) -> None:
    store = get_store()
    before = {r.id for r in store.list_runs()}
    config = tmp_path / "long.json"
    config.write_text(json.dumps({**SMALL, "epochs": 500}))
    proc = subprocess.Popen([sys.executable, "-m", "da_core", "train", "--source", SMALL["source"], "--target",
                             SMALL["target"], "--config", str(config), "--json"],
                            cwd=ROOT, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def started() -> bool:
            new = [r for r in store.list_runs() if r.id not in before]
            return bool(new) and new[0].status == "running" and not store.metrics(new[0].id).empty

        _wait_for(started, 240, "the command-line run to log metrics")
    finally:
        proc.send_signal(signal.SIGKILL)  # no chance to clean up, like a crashed server
        proc.wait(30)
    (run,) = [r for r in store.list_runs() if r.id not in before]
    assert store.get_run(run.id).status == "running"  # what a crash leaves behind
    logged = len(store.metrics(run.id))
    assert store.mark_interrupted() >= 1  # what the next start-up does
    after = store.get_run(run.id)
    assert after.status == "interrupted" and "interrupted" in (after.message or "")
    assert len(store.metrics(run.id)) == logged > 0  # its metrics are kept


def test_stop_in_the_first_batch_nan_loss_and_a_failing_pipeline_leave_a_usable_history(
        monkeypatch: pytest.MonkeyPatch) -> None:
    manager = get_manager()
    session = "fault-runs"

    # Stop before the first batch ends: the run is stopped, not lost
    stopped = manager.submit(_config(max_steps=10_000), session=session)
    stopped.stop()
    assert stopped.wait(120)
    # NaN/inf loss: diverged, metrics so far kept
    diverged = manager.submit(_config(lr=1e6, max_steps=40), session=session)
    assert diverged.wait(180)
    # the augmentation pipeline (the on-the-fly data path) fails on its third batch
    from da_core.augment.pipeline import Pipeline

    calls = {"n": 0}
    real_apply = Pipeline.apply

    def flaky_apply(self: Pipeline, *args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("simulated read error in the data pipeline")
        return real_apply(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "apply", flaky_apply)
    failing = manager.submit(_config(max_steps=40, pipeline={"ops": [{"name": "rotation"}]}, strength=0.5),
                             session=session)
    assert failing.wait(180)
    monkeypatch.setattr(Pipeline, "apply", real_apply)

    store = manager.store
    assert store.get_run(stopped.run_id).status == "stopped"
    d = store.get_run(diverged.run_id)
    assert d.status == "diverged" and not store.metrics(diverged.run_id).empty
    f = store.get_run(failing.run_id)
    assert f.status == "failed" and "simulated read error" in (f.message or "")
    assert not store.metrics(failing.run_id).empty  # the batches before the failure are kept
    assert calls["n"] >= 3

    # the slot is free again: a normal run still works after all of that
    ok = manager.submit(_config(max_steps=5), session=session)
    assert ok.wait(180) and store.get_run(ok.run_id).status == "finished"

    # and the history page renders every one of them without an exception
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    at.switch_page("pages/runs.py").run()
    assert not at.exception, [e.value for e in at.exception]
    frame = store.runs_frame()
    statuses = set(frame.loc[frame["id"].isin([stopped.run_id, diverged.run_id, failing.run_id, ok.run_id]),
                             "status"])
    assert statuses == {"stopped", "diverged", "failed", "finished"}
