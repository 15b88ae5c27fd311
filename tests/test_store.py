"""Run store: persistence across reopening, interrupted runs marked on start-up, filters, CSV, delete, threads."""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
from pathlib import Path

import pytest

from da_core.train import store as store_mod
from da_core.train.store import RunStore, owner_token


def _store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs.sqlite")


def test_database_is_sqlite_in_wal_mode(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.create_run({"seed": 1})
    mode = sqlite3.connect(tmp_path / "runs.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_run_survives_reopening(tmp_path: Path) -> None:
    store = _store(tmp_path)
    run_id = store.create_run({"lr": 0.01, "source": "builtin:printed-digits"}, "running", origin="cli",
                              session="abc")
    store.add_metrics(run_id, [(1, 1, "train_loss", 2.5), (2, 1, "train_loss", 1.5), (2, 1, "target_acc", 0.75)])
    store.set_status(run_id, "finished", final={"target_acc": 0.75, "train_loss": float("nan")},
                     details={"confusion": [[1, 0], [0, 1]]})
    store.close()

    again = _store(tmp_path)
    run = again.get_run(run_id)
    assert run is not None
    assert run.status == "finished" and run.origin == "cli" and run.session == "abc"
    assert run.config == {"lr": 0.01, "source": "builtin:printed-digits"}
    assert run.final == {"target_acc": 0.75, "train_loss": None}  # NaN is stored as null (strict JSON)
    assert run.details == {"confusion": [[1, 0], [0, 1]]}
    assert run.started is not None and run.ended is not None and run.ended >= run.started
    frame = again.metrics(run_id)
    assert list(frame.columns) == ["run_id", "step", "epoch", "name", "value"]
    assert frame[frame["name"] == "train_loss"]["value"].tolist() == [2.5, 1.5]
    csv = again.metrics_csv([run_id])
    assert csv.splitlines()[0] == "run_id,step,epoch,name,value" and len(csv.splitlines()) == 4


def test_interrupted_runs_are_marked_on_start_up(tmp_path: Path) -> None:
    store = _store(tmp_path)
    dead = store.create_run({"seed": 0}, "running")
    queued = store.create_run({"seed": 1}, "queued")
    mine = store.create_run({"seed": 2}, "running")  # owned by this live process
    done = store.create_run({"seed": 3}, "running")
    store.add_metrics(dead, [(1, 1, "train_loss", 1.0)])
    store.set_status(done, "finished")
    host = socket.gethostname()
    with sqlite3.connect(tmp_path / "runs.sqlite") as conn:  # as left behind by a server that was killed
        conn.execute("UPDATE runs SET owner = ? WHERE id IN (?, ?)", (f"{host}:{os.getpid()}:oldtoken", dead, queued))
    store.close()

    reopened = _store(tmp_path)
    assert reopened.mark_interrupted() == 2
    assert reopened.get_run(dead).status == "interrupted"
    assert "interrupted" in reopened.get_run(dead).message and "running" in reopened.get_run(dead).message
    assert reopened.get_run(queued).status == "interrupted"
    assert reopened.get_run(mine).status == "running"
    assert reopened.get_run(done).status == "finished"
    assert reopened.metrics(dead)["value"].tolist() == [1.0]  # metrics kept
    assert reopened.mark_interrupted() == 0


def test_live_owner_in_another_process_is_left_alone(tmp_path: Path) -> None:
    store = _store(tmp_path)
    run_id = store.create_run({}, "running")
    parent = os.getppid()  # a live process on this host that is not us
    with sqlite3.connect(tmp_path / "runs.sqlite") as conn:
        conn.execute("UPDATE runs SET owner = ? WHERE id = ?", (f"{socket.gethostname()}:{parent}:x", run_id))
    assert store.mark_interrupted() == 0
    assert store.get_run(run_id).status == "running"
    assert owner_token().split(":")[1] == str(os.getpid())


def test_list_filters_frame_and_delete(tmp_path: Path) -> None:
    store = _store(tmp_path)
    a = store.create_run({"mode": "full", "dann": True, "seed": 0}, "finished", origin="page", name="with dann")
    b = store.create_run({"mode": "linear", "seed": 1}, "failed", origin="cli")
    sweep = store.create_sweep({"strengths": [0, 1]}, "finished")
    c = store.create_run({"mode": "full", "seed": 2}, "finished", sweep_id=sweep)
    running = store.create_run({"mode": "full"}, "running")
    assert [r.id for r in store.list_runs()] == [running, c, b, a]
    assert [r.id for r in store.list_runs(status="finished")] == [c, a]
    assert [r.id for r in store.list_runs(status=["failed"], origin="cli")] == [b]
    assert [r.id for r in store.list_runs(include_sweeps=False, status="finished")] == [a]
    assert [r.id for r in store.list_runs(sweep_id=sweep)] == [c]
    assert [r.id for r in store.list_runs(text="dann")] == [a]
    frame = store.runs_frame(status="finished")
    assert frame["id"].tolist() == [c, a] and frame.loc[frame["id"] == a, "dann"].item()
    assert store.get_run(a).label == f"#{a} with dann"

    store.add_metrics(a, [(1, 1, "lr", 0.1)])
    assert store.delete_runs([a, running]) == 1  # an active run is refused
    assert store.get_run(a) is None and store.metrics(a).empty
    assert store.get_run(running) is not None
    assert store.delete_sweep(sweep)
    assert store.get_run(c) is None and store.get_sweep(sweep) is None


def test_unknown_status_is_refused(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(ValueError, match="unknown run status"):
        store.create_run({}, "paused")


def test_threads_write_concurrently(tmp_path: Path) -> None:
    store = _store(tmp_path)
    ids = [store.create_run({"i": i}, "running") for i in range(4)]

    def write(run_id: int) -> None:
        for step in range(50):
            store.add_metrics(run_id, [(step, 0, "train_loss", step * 0.1), (step, 0, "lr", 0.01)])
            store.get_run(run_id)

    threads = [threading.Thread(target=write, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    frame = store.metrics(ids)
    assert len(frame) == 4 * 50 * 2
    assert frame.groupby("run_id").size().tolist() == [100] * 4


def test_a_history_from_before_studies_is_brought_up_to_date(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    old = sqlite3.connect(path)
    old.executescript(store_mod.SCHEMA.replace(",\n    kind TEXT NOT NULL DEFAULT 'sweep'", ""))
    old.execute("INSERT INTO sweeps (created, status, config) VALUES (1.0, 'finished', '{}')")
    old.commit()
    old.close()
    store = RunStore(path)
    (sweep,) = store.list_sweeps()
    assert sweep.kind == "sweep" and store.list_sweeps(kind="study") == []
    study = store.create_sweep({"arms": []}, "finished", kind="study")
    assert [s.id for s in store.list_sweeps(kind="study")] == [study] and len(store.list_sweeps(kind=None)) == 2
    with pytest.raises(ValueError, match="unknown group kind"):
        store.create_sweep({}, kind="nope")
