"""A damaged, read-only or full run history: one clear message naming the file and what to do, never a traceback.

Tests run as root, which ignores permission bits, so a read-only file is simulated the way sqlite itself sees
one (a ``mode=ro`` connection), and a disk that fills with sqlite's own page limit (``max_page_count``), which
fails writes with the real ``SQLITE_FULL``.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from da_core import config
from da_core.cli import main
from da_core.errors import StoreDamagedError, StoreError, StoreReadOnlyError
from da_core.train import store as store_mod
from da_core.train.config import TrainConfig
from da_core.train.jobs import JobManager
from da_core.train.store import RunStore, get_store, set_aside

ReadOnly = Callable[[], None]
APP = str(Path(__file__).resolve().parents[1] / "app.py")
SMALL = {"source": "builtin:printed-digits?n=600", "target": "builtin:handwritten-digits?n=600",
         "batch_size": 32, "device": "cpu"}
CLI_SMALL = ["--source", SMALL["source"], "--target", SMALL["target"], "--batch-size", "32", "--device", "cpu"]


@pytest.fixture()
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh DA_DATA_DIR for this test (the default store and job manager follow it)."""
    folder = tmp_path / "data"
    monkeypatch.setenv("DA_DATA_DIR", str(folder))
    return folder


def _history(path: Path, runs: int = 3) -> list[int]:
    """A real history file with finished runs and their metrics, closed as a stopped server leaves it."""
    store = RunStore(path)
    ids = []
    for i in range(runs):
        run_id = store.create_run({"seed": i, "mode": "full", "note": "x" * 500}, "running")
        store.add_metrics(run_id, [(s, 1, "train_loss", 1.0 / s) for s in range(1, 120)])
        store.set_status(run_id, "finished", final={"target_acc": 0.5 + i / 10})
        ids.append(run_id)
    store.close()
    return ids


def _damage(path: Path, how: str) -> bytes:
    data = path.read_bytes()
    damaged = {"random": os.urandom(len(data)), "header": data[:60], "half": data[: len(data) // 2]}[how]
    for side in ("-wal", "-shm"):
        Path(f"{path}{side}").unlink(missing_ok=True)
    path.write_bytes(damaged)
    return damaged


@pytest.fixture()
def read_only(monkeypatch: pytest.MonkeyPatch) -> ReadOnly:
    """Call it to make every history open as sqlite opens a write-protected file: a read-only connection."""
    real = RunStore._connect

    def connect(self: RunStore, readonly: bool = False, immutable: bool = False) -> sqlite3.Connection:
        if not self.path.exists():  # a read-only folder: the file cannot be created
            raise _cantopen()
        return real(self, readonly=True, immutable=immutable)

    return lambda: monkeypatch.setattr(RunStore, "_connect", connect)


def _cantopen() -> sqlite3.OperationalError:
    err = sqlite3.OperationalError("unable to open database file")
    err.sqlite_errorname = "SQLITE_CANTOPEN"  # type: ignore[attr-defined]
    return err


def _fill_disk_after_first_metrics(store: RunStore) -> None:
    """After the first metrics are written, the database may not grow any more: sqlite's own SQLITE_FULL."""
    real = store.add_metrics
    done = []

    def add(run_id: int, rows: Any) -> int:
        written = real(run_id, rows)
        if not done:
            done.append(True)
            with store._lock:
                pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
                store._conn.execute(f"PRAGMA max_page_count = {pages}")
        return written

    store.add_metrics = add  # type: ignore[method-assign]


def _lift_limit(store: RunStore) -> None:
    with store._lock:
        store._conn.execute("PRAGMA max_page_count = 1073741823")


# ------------------------------------------------------------------------------------ damaged file


@pytest.mark.parametrize("how", ["random", "header", "half"])
def test_a_damaged_history_is_refused_by_name_and_set_aside_only_on_request(tmp_path: Path, how: str) -> None:
    path = tmp_path / "runs.sqlite"
    _history(path)
    damaged = _damage(path, how)
    with pytest.raises(StoreDamagedError) as caught:
        RunStore(path)
    message = str(caught.value)
    assert str(path) in message and "--reset-store" in message and "damaged-" in message
    assert "\n" not in message
    assert path.read_bytes() == damaged  # refusing touches nothing

    moved = set_aside(path)
    assert moved is not None and moved.name.startswith("runs.sqlite.damaged-")
    assert moved.read_bytes() == damaged and not path.exists()  # renamed, never deleted
    fresh = get_store(path)
    assert fresh.list_runs() == [] and not fresh.readonly
    assert fresh.get_run(fresh.create_run({"seed": 9})) is not None


def test_set_aside_keeps_the_wal_beside_the_copy_and_never_overwrites_an_earlier_copy(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    store = RunStore(path)
    store.create_run({"seed": 1})  # the WAL is not checkpointed while the connection is open
    assert Path(f"{path}-wal").exists()
    first = set_aside(path)  # closes nothing it does not own: this store is not the cached one
    assert first is not None and Path(f"{first}-wal").exists() and not Path(f"{path}-wal").exists()
    store.close()
    assert [r.config for r in RunStore(first).list_runs()] == [{"seed": 1}]  # the copy still opens with its WAL
    RunStore(path).create_run({"seed": 2})
    second = set_aside(path)
    assert second is not None and second != first and first.exists() and second.exists()
    assert set_aside(tmp_path / "missing.sqlite") is None


def test_cli_refuses_a_damaged_history_in_one_line_and_resets_it_with_the_flag(
        data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = data_dir / "runs.sqlite"
    data_dir.mkdir()
    _history(path)
    damaged = _damage(path, "random")
    assert main(["train", *CLI_SMALL, "--max-steps", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and "--reset-store" in err
    assert path.read_bytes() == damaged

    assert main(["train", *CLI_SMALL, "--max-steps", "2", "--reset-store", "--json"]) == 0
    captured = capsys.readouterr()
    copies = list(data_dir.glob("runs.sqlite.damaged-*"))
    assert len(copies) == 1 and copies[0].read_bytes() == damaged
    assert str(copies[0]) in captured.err and "Traceback" not in captured.err
    runs = get_store().list_runs()
    assert [r.status for r in runs] == ["finished"]
    # on a healthy history the flag changes nothing
    assert main(["train", *CLI_SMALL, "--max-steps", "1", "--reset-store"]) == 0
    assert len(list(data_dir.glob("runs.sqlite.damaged-*"))) == 1 and len(get_store().list_runs()) == 2


# ------------------------------------------------------------------------------ read-only history


def test_a_read_only_history_shows_its_runs_and_refuses_writes_saying_why(tmp_path: Path, read_only: ReadOnly) -> None:
    path = tmp_path / "runs.sqlite"
    ids = _history(path)
    read_only()
    store = RunStore(path)
    assert store.readonly and "read-only" in store.readonly_reason
    assert [r.id for r in store.list_runs()] == sorted(ids, reverse=True)
    assert len(store.metrics(ids[0])) == 119 and store.runs_frame()["target_acc"].notna().all()
    assert store.mark_interrupted() == 0  # start-up does not fail on it
    for write in (lambda: store.create_run({"seed": 5}), lambda: store.delete_runs(ids),
                  lambda: store.set_status(ids[0], "failed")):
        with pytest.raises(StoreReadOnlyError) as caught:
            write()
        assert str(path) in str(caught.value) and "DA_DATA_DIR" in str(caught.value)
    assert len(RunStore(path).list_runs()) == 3  # nothing changed


def test_a_read_only_folder_without_a_history_opens_empty(tmp_path: Path, read_only: ReadOnly) -> None:
    read_only()
    store = RunStore(tmp_path / "runs.sqlite")
    assert store.readonly and store.list_runs() == [] and store.list_sweeps() == []
    with pytest.raises(StoreReadOnlyError):
        store.create_sweep({"strengths": [0]})


def test_a_data_dir_that_cannot_be_created_opens_an_empty_read_only_history(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "ro" / "data"
    real_mkdir = Path.mkdir

    def mkdir(self: Path, *args: Any, **kwargs: Any) -> None:
        if self == folder:
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    store = RunStore(folder / "runs.sqlite")
    assert store.readonly and "Read-only file system" in store.readonly_reason and store.list_runs() == []


def test_cli_train_on_a_read_only_history_says_why_before_any_work(
        data_dir: Path, read_only: ReadOnly, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir.mkdir()
    _history(data_dir / "runs.sqlite")
    read_only()
    import da_core.train.jobs as jobs

    monkeypatch.setattr(jobs, "execute_run", lambda *a, **k: pytest.fail("training started"))
    assert main(["train", *CLI_SMALL, "--max-steps", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot be written" in err and str(data_dir / "runs.sqlite") in err


# ----------------------------------------------------------------------- data dir that is a file


def test_a_data_dir_that_is_a_file_is_named_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("DA_DATA_DIR", str(blocker))
    with pytest.raises(StoreError, match="DA_DATA_DIR"):
        config.data_dir()
    with pytest.raises(StoreError, match="is a file"):
        get_store()
    assert main(["train", *CLI_SMALL, "--max-steps", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(blocker) in err and "DA_DATA_DIR" in err
    assert blocker.read_text() == "x"


# ---------------------------------------------------------------------------- writes fail mid-run


def _config(**changes: object) -> TrainConfig:
    return TrainConfig.from_dict({**SMALL, "epochs": 60, "max_steps": 600, **changes})


def test_a_disk_that_fills_mid_run_fails_the_run_with_its_metrics_so_far_and_frees_the_slot(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    manager = JobManager(RunStore(path))
    store = manager.store
    _fill_disk_after_first_metrics(store)
    job = manager.submit(_config(), session="full")
    assert job.wait(300)
    snap = job.snapshot()
    assert snap["status"] == "failed" and "disk is full" in snap["message"] and str(path) in snap["message"]
    assert manager.slot.busy == []  # the compute slot is free again
    run = store.get_run(job.run_id)
    assert run.status == "failed" and run.final and run.final["partial"] and run.final["steps"] < 600
    saved = len(store.metrics(job.run_id))
    assert 0 < saved < len(job.metrics())  # what could be written stays; the live metrics are all in memory

    _lift_limit(store)  # space again: the next write also records an end that could not be written before
    store.create_run({"seed": 99}, "finished")
    again = RunStore(path).get_run(job.run_id)  # as another process sees it
    assert again.status == "failed" and "disk is full" in again.message and again.ended is not None
    assert len(RunStore(path).metrics(job.run_id)) == saved
    follow = manager.submit(_config(max_steps=3), session="full")  # the slot really is free
    assert follow.wait(180) and follow.snapshot()["status"] == "finished"


def test_a_history_that_turns_read_only_mid_run_never_leaves_the_run_running(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "runs.sqlite"
    manager = JobManager(RunStore(path))
    store = manager.store
    real = store.add_metrics

    def add(run_id: int, rows: Any) -> int:
        written = real(run_id, rows)
        with store._lock:  # from now on the file can only be read
            old, store._conn = store._conn, store._connect(readonly=True)
            old.close()
        return written

    store.add_metrics = add  # type: ignore[method-assign]
    job = manager.submit(_config(), session="ro")
    assert job.wait(300)
    assert job.snapshot()["status"] == "failed" and "cannot be written" in job.snapshot()["message"]
    assert manager.slot.busy == []
    shown = store.get_run(job.run_id)
    assert shown.status == "failed" and store.unsaved == [job.run_id]  # shown as failed, not "running"
    assert store.list_runs()[0].status == "failed"
    # the next process (another owner token) marks what the disk still says is running as interrupted
    monkeypatch.setattr(store_mod, "_PROCESS_TOKEN", "next-process")
    later = RunStore(path)
    assert later.mark_interrupted() == 1
    after = later.get_run(job.run_id)
    assert after.status == "interrupted" and len(later.metrics(job.run_id)) > 0


def test_cli_train_whose_disk_fills_mid_run_exits_2_in_one_line(
        data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = get_store()
    _fill_disk_after_first_metrics(store)
    code = main(["train", *CLI_SMALL, "--epochs", "60", "--max-steps", "600"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "disk is full" in err and str(store.path) in err and "run #" in err
    run = store.list_runs()[0]
    assert run.status == "failed"


# ------------------------------------------------------------------------------------------- pages


def _page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["source_spec"] = SMALL["source"]
    at.session_state["target_spec"] = SMALL["target"]
    at.run()
    at.switch_page(page).run()
    return at


@pytest.mark.parametrize("page", ["pages/runs.py", "pages/train.py"])
def test_pages_on_a_damaged_history_explain_and_set_it_aside_with_a_button(data_dir: Path, page: str) -> None:
    data_dir.mkdir()
    path = data_dir / "runs.sqlite"
    _history(path)
    damaged = _damage(path, "half")
    at = _page(page)
    assert not at.exception, [e.value for e in at.exception]
    assert any(str(path) in e.value and "damaged" in e.value for e in at.error)
    assert path.read_bytes() == damaged  # nothing happens before the user agrees
    at.button(key="store_set_aside").click().run()
    assert not at.exception, [e.value for e in at.exception]
    copies = list(data_dir.glob("runs.sqlite.damaged-*"))
    assert len(copies) == 1 and copies[0].read_bytes() == damaged
    assert any("renamed" in s.value for s in at.success) and not at.error
    assert get_store().list_runs() == []


def test_runs_page_shows_a_read_only_history_and_cannot_delete(data_dir: Path, read_only: ReadOnly) -> None:
    data_dir.mkdir()
    ids = _history(data_dir / "runs.sqlite")
    read_only()
    at = _page("pages/runs.py")
    assert not at.exception, [e.value for e in at.exception]
    assert any("Read-only run history" in w.value for w in at.warning)
    assert sorted(at.dataframe[0].value["id"].tolist()) == ids
    assert at.button(key="runs_delete_go").disabled


def test_training_page_on_a_read_only_history_says_why_a_run_cannot_start(data_dir: Path, read_only: ReadOnly) -> None:
    data_dir.mkdir()
    _history(data_dir / "runs.sqlite")
    read_only()
    at = _page("pages/train.py")
    assert not at.exception, [e.value for e in at.exception]
    at.button(key="train_submit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Cannot start the run" in e.value and "cannot be written" in e.value for e in at.error)
    assert "train_job" not in at.session_state


def test_runs_page_with_a_data_dir_that_is_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("DA_DATA_DIR", str(blocker))
    at = _page("pages/runs.py")
    assert not at.exception, [e.value for e in at.exception]
    assert any("DA_DATA_DIR" in e.value and str(blocker) in e.value for e in at.error)


def test_runs_page_survives_a_history_damaged_while_the_app_runs(data_dir: Path) -> None:
    data_dir.mkdir()
    path = data_dir / "runs.sqlite"
    _history(path)
    store = get_store()
    at = _page("pages/runs.py")
    assert not at.exception and at.dataframe
    with store._lock:  # the file is overwritten under the open connection
        store._conn.close()
        _damage(path, "random")
        store._conn = store._connect()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("damaged" in e.value for e in at.error)
