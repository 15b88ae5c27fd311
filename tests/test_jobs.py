"""Background jobs: one compute slot (others queue in order), sessions see their own jobs, Stop, failures."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from da_core.train.config import TrainConfig
from da_core.train.jobs import ComputeSlot, JobManager
from da_core.train.store import RunStore

SMALL = {"source": "builtin:printed-digits?n=600", "target": "builtin:handwritten-digits?n=600",
         "batch_size": 32, "device": "cpu"}


def small(**changes: object) -> TrainConfig:
    return TrainConfig.from_dict({**SMALL, **changes})


@pytest.fixture()
def manager(tmp_path: Path) -> JobManager:
    return JobManager(RunStore(tmp_path / "runs.sqlite"))


def test_compute_slot_is_first_come_first_served() -> None:
    slot = ComputeSlot(1)
    never = threading.Event()
    assert slot.acquire("a", never)
    order: list[str] = []

    def worker(key: str) -> None:
        assert slot.acquire(key, never)
        order.append(key)
        slot.release(key)

    threads = []
    for key in ("b", "c", "d"):
        threads.append(threading.Thread(target=worker, args=(key,)))
        threads[-1].start()
        time.sleep(0.1)  # arrive in this order
    assert [slot.position(k) for k in ("b", "c", "d")] == [1, 2, 3]
    assert slot.position("a") == 0 and slot.busy == ["a"]
    slot.release("a")
    for t in threads:
        t.join(5)
    assert order == ["b", "c", "d"]

    cancel = threading.Event()
    assert slot.acquire("x", never)
    cancel.set()
    assert not slot.acquire("y", cancel)  # a cancelled waiter gives up
    slot.release("x")


def test_runs_queue_for_one_slot_and_sessions_see_their_own(manager: JobManager) -> None:
    first = manager.submit(small(max_steps=12), session="alice")
    second = manager.submit(small(max_steps=3, seed=1), session="bob")
    deadline = time.time() + 60
    while first.snapshot()["status"] == "queued" and time.time() < deadline:
        time.sleep(0.05)
    assert first.snapshot()["status"] == "running"
    snap = second.snapshot()
    assert snap["status"] == "queued" and snap["queue_position"] == 1  # one running ahead of it
    assert manager.store.get_run(second.run_id).status == "queued"
    assert [j.id for j in manager.jobs(session="alice")] == [first.id]
    assert [j.id for j in manager.jobs(session="bob")] == [second.id]
    assert first.wait(120) and second.wait(120)
    for job in (first, second):
        snap = job.snapshot()
        assert snap["status"] == "finished", snap["message"]
        assert snap["progress"] == 1.0 and snap["final"]["target_acc"] is not None
        run = manager.store.get_run(job.run_id)
        assert run.status == "finished" and run.session in ("alice", "bob") and run.origin == "page"
        live = job.metrics(job.run_id)
        stored = manager.store.metrics(job.run_id)
        assert len(live) == len(stored) > 0  # what the page drew live is what the history keeps
        assert set(live["name"]) >= {"train_loss", "lr", "source_acc", "target_acc", "throughput"}
    # the slot was held by one run at a time: the second started after the first ended
    r1, r2 = manager.store.get_run(first.run_id), manager.store.get_run(second.run_id)
    assert r2.started >= r1.ended
    assert manager.jobs(active=True) == []


def test_stop_running_and_queued_jobs(manager: JobManager) -> None:
    running = manager.submit(small(epochs=50), session="s")
    queued = manager.submit(small(max_steps=3), session="s")
    deadline = time.time() + 60
    while running.metrics().empty and time.time() < deadline:
        time.sleep(0.05)
    queued.stop()
    assert queued.wait(10)
    assert queued.snapshot()["status"] == "stopped"
    assert manager.store.get_run(queued.run_id).status == "stopped"
    assert manager.store.metrics(queued.run_id).empty  # it never ran
    running.stop()
    assert running.wait(30)
    snap = running.snapshot()
    assert snap["status"] == "stopped" and "stopped by the user" in snap["message"]
    run = manager.store.get_run(running.run_id)
    assert run.status == "stopped" and run.final["steps"] < 50 * 15
    assert not manager.store.metrics(running.run_id).empty  # metrics kept


def test_a_failing_run_is_recorded_with_its_message(manager: JobManager) -> None:
    job = manager.submit(small(source="folder:/no/such/folder", max_steps=2), session="s")
    assert job.wait(60)
    snap = job.snapshot()
    assert snap["status"] == "failed" and "/no/such/folder" in snap["message"]
    run = manager.store.get_run(job.run_id)
    assert run.status == "failed" and run.message == snap["message"]


def test_manager_marks_runs_of_a_dead_server_interrupted(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = store.create_run({}, "running")
    store._write("UPDATE runs SET owner = 'elsewhere:1:gone' WHERE id = ?", (run_id,))
    manager = JobManager(store)
    assert manager.interrupted_on_start == 1
    assert store.get_run(run_id).status == "interrupted"
