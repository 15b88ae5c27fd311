"""Run history: a SQLite database (stdlib ``sqlite3``, WAL mode) under ``DA_DATA_DIR``.

Tables: ``runs`` (id, created, config JSON, status, final metrics JSON, message, ...), ``metrics`` (run id,
step, epoch, name, value) and ``sweeps``.  The page, background jobs and the command line all write here,
so a run started anywhere shows up in the history.  One connection per store, guarded by a lock, serves
every thread of a process; WAL lets another process (the CLI beside the server) write at the same time.

Each active run records its owner (host, pid and a per-process token).  :meth:`RunStore.mark_interrupted`,
called when a server or CLI starts, marks queued/running runs whose owner process is gone as
``interrupted``; their metrics stay.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from da_core import config as da_config

ACTIVE = ("queued", "running")
TERMINAL = ("finished", "stopped", "diverged", "failed", "interrupted")
STATUSES = ACTIVE + TERMINAL
DB_NAME = "runs.sqlite"

_PROCESS_TOKEN = uuid.uuid4().hex[:12]

SCHEMA = """
CREATE TABLE IF NOT EXISTS sweeps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    ended REAL,
    status TEXT NOT NULL,
    config TEXT NOT NULL,
    result TEXT,
    message TEXT NOT NULL DEFAULT '',
    origin TEXT NOT NULL DEFAULT 'api',
    session TEXT,
    owner TEXT
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    started REAL,
    ended REAL,
    kind TEXT NOT NULL DEFAULT 'train',
    sweep_id INTEGER REFERENCES sweeps(id) ON DELETE CASCADE,
    name TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    config TEXT NOT NULL,
    final TEXT,
    details TEXT,
    message TEXT NOT NULL DEFAULT '',
    origin TEXT NOT NULL DEFAULT 'api',
    session TEXT,
    owner TEXT
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    name TEXT NOT NULL,
    value REAL
);
CREATE INDEX IF NOT EXISTS metrics_run ON metrics(run_id, name, step);
CREATE INDEX IF NOT EXISTS runs_status ON runs(status);
CREATE INDEX IF NOT EXISTS runs_sweep ON runs(sweep_id);
"""


def owner_token() -> str:
    """Who owns a run started by this process: ``host:pid:token``."""
    return f"{socket.gethostname()}:{os.getpid()}:{_PROCESS_TOKEN}"


def _owner_alive(owner: str | None) -> bool:
    """Whether the process that wrote ``owner`` may still be running (conservative: unknown hosts count as alive
    only when they are this host and the pid exists and is not ours under a different token)."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text, _, token = rest.partition(":")
    if token == _PROCESS_TOKEN:
        return True
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():  # our pid, an older process's token: that process is gone
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


@dataclass
class RunRecord:
    """One row of ``runs``, with JSON columns decoded."""

    id: int
    created: float
    started: float | None
    ended: float | None
    kind: str
    sweep_id: int | None
    name: str
    status: str
    config: dict[str, Any]
    final: dict[str, Any] | None
    details: dict[str, Any] | None
    message: str
    origin: str
    session: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return dict(self.__dict__)

    @property
    def label(self) -> str:
        """Short name for legends: ``#12 name`` or ``#12 mode, k=10``."""
        if self.name:
            return f"#{self.id} {self.name}"
        cfg = self.config
        parts = [cfg.get("mode", "full")]
        if cfg.get("dann"):
            parts.append("DANN")
        parts.append(f"k={cfg.get('target_labels_per_class', 0)}")
        if cfg.get("pipeline") is not None:
            parts.append(f"s={cfg.get('strength') if cfg.get('strength') is not None else 'pipe'}")
        parts.append(f"seed {cfg.get('seed', 0)}")
        return f"#{self.id} " + ", ".join(str(p) for p in parts)


@dataclass
class SweepRecord:
    """One row of ``sweeps``."""

    id: int
    created: float
    ended: float | None
    status: str
    config: dict[str, Any]
    result: dict[str, Any] | None
    message: str
    origin: str
    session: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return dict(self.__dict__)


def _dumps(obj: Any) -> str | None:
    return None if obj is None else json.dumps(_finite(obj), default=_json_default, allow_nan=False)


def _finite(obj: Any) -> Any:
    """NaN and inf become None (strict JSON)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class RunStore:
    """The run history database (see the module docstring).  Thread-safe."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else da_config.data_dir() / DB_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(str(self.path), timeout=30.0, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute("PRAGMA busy_timeout=30000")
            self._conn.executescript(SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._conn.execute(sql, params)

    def _write(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                cur = self._conn.execute(sql, params)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            return cur

    # ------------------------------------------------------------------------------------ runs

    def create_run(self, config: dict[str, Any], status: str = "queued", origin: str = "api",
                   session: str | None = None, sweep_id: int | None = None, name: str = "", kind: str = "train") -> int:
        """Insert a run and return its id."""
        _check_status(status)
        now = time.time()
        cur = self._write(
            "INSERT INTO runs (created, started, kind, sweep_id, name, status, config, origin, session, owner) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (now, now if status == "running" else None, kind, sweep_id, name or config.get("name", ""), status,
             _dumps(config), origin, session, owner_token() if status in ACTIVE else None))
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def set_status(self, run_id: int, status: str, message: str | None = None, final: dict[str, Any] | None = None,
                   details: dict[str, Any] | None = None) -> None:
        """Move a run to ``status`` (recording start/end times), optionally with a message and results."""
        _check_status(status)
        sets, params = ["status = ?"], [status]
        now = time.time()
        if status == "running":
            sets += ["started = COALESCE(started, ?)", "owner = ?"]
            params += [now, owner_token()]
        elif status in TERMINAL:
            sets.append("ended = ?")
            params.append(now)
        if message is not None:
            sets.append("message = ?")
            params.append(message)
        if final is not None:
            sets.append("final = ?")
            params.append(_dumps(final))
        if details is not None:
            sets.append("details = ?")
            params.append(_dumps(details))
        params.append(run_id)
        self._write(f"UPDATE runs SET {', '.join(sets)} WHERE id = ?", params)

    def add_metrics(self, run_id: int, rows: Iterable[tuple[int, int, str, float | None]]) -> int:
        """Append metric rows ``(step, epoch, name, value)``; returns how many were written."""
        data = [(run_id, int(s), int(e), str(n), None if v is None else float(v)) for s, e, n, v in rows]
        if not data:
            return 0
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany("INSERT INTO metrics (run_id, step, epoch, name, value) VALUES (?, ?, ?, ?, ?)",
                                       data)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        return len(data)

    def get_run(self, run_id: int) -> RunRecord | None:
        """One run, or None."""
        row = self._execute("SELECT * FROM runs WHERE id = ?", (int(run_id),)).fetchone()
        return None if row is None else _run(row)

    def list_runs(self, status: str | Sequence[str] | None = None, sweep_id: int | None = None,
                  include_sweeps: bool = True, session: str | None = None, origin: str | None = None,
                  text: str | None = None, limit: int | None = None) -> list[RunRecord]:
        """Runs, newest first, filtered by status(es), sweep, session, origin or a text in name/config."""
        where, params = _filters(status, sweep_id, include_sweeps, session, origin, text)
        sql = f"SELECT * FROM runs {where} ORDER BY id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [_run(r) for r in self._execute(sql, params).fetchall()]

    def runs_frame(self, **filters: Any) -> pd.DataFrame:
        """The runs table as shown on the Runs page: one row per run with the main settings and results."""
        rows = []
        for r in self.list_runs(**filters):
            cfg, fin = r.config, r.final or {}
            rows.append({
                "id": r.id, "created": pd.Timestamp(r.created, unit="s").tz_localize("UTC").tz_convert(None)
                if r.created else None,
                "status": r.status, "name": r.label.split(" ", 1)[1], "origin": r.origin,
                "source": cfg.get("source"), "target": cfg.get("target"), "mode": cfg.get("mode"),
                "dann": bool(cfg.get("dann")), "k": cfg.get("target_labels_per_class"),
                "strength": cfg.get("strength") if cfg.get("pipeline") is not None else None,
                "lr": cfg.get("lr"), "seed": cfg.get("seed"),
                "target_acc": fin.get("target_acc"), "source_acc": fin.get("source_acc"),
                "baseline_target_acc": fin.get("baseline_target_acc"), "train_loss": fin.get("train_loss"),
                "steps": fin.get("steps"), "seconds": fin.get("seconds"), "sweep": r.sweep_id, "message": r.message,
            })
        columns = ["id", "created", "status", "name", "origin", "source", "target", "mode", "dann", "k", "strength",
                   "lr", "seed", "target_acc", "source_acc", "baseline_target_acc", "train_loss", "steps", "seconds",
                   "sweep", "message"]
        return pd.DataFrame(rows, columns=columns)

    def metrics(self, run_ids: int | Sequence[int], names: Sequence[str] | None = None) -> pd.DataFrame:
        """Metrics of one or more runs as a long table: run_id, step, epoch, name, value."""
        ids = [int(run_ids)] if isinstance(run_ids, int) else [int(i) for i in run_ids]
        columns = ["run_id", "step", "epoch", "name", "value"]
        if not ids:
            return pd.DataFrame(columns=columns)
        sql = f"SELECT {', '.join(columns)} FROM metrics WHERE run_id IN ({','.join('?' * len(ids))})"
        params: list[Any] = list(ids)
        if names:
            sql += f" AND name IN ({','.join('?' * len(names))})"
            params += list(names)
        sql += " ORDER BY run_id, step, rowid"
        rows = self._execute(sql, params).fetchall()
        frame = pd.DataFrame([tuple(r) for r in rows], columns=columns)
        return frame.astype({"run_id": "int64", "step": "int64", "epoch": "int64", "value": "float64"})

    def metrics_csv(self, run_ids: int | Sequence[int]) -> str:
        """CSV text of :meth:`metrics` (long format, one row per run, step and metric)."""
        return self.metrics(run_ids).to_csv(index=False)

    def delete_runs(self, run_ids: int | Sequence[int]) -> int:
        """Delete runs and their metrics; returns how many runs went.  Active runs are refused (stop them first)."""
        ids = [int(run_ids)] if isinstance(run_ids, int) else [int(i) for i in run_ids]
        if not ids:
            return 0
        marks = ",".join("?" * len(ids))
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(f"DELETE FROM metrics WHERE run_id IN ({marks}) AND run_id IN "
                                   f"(SELECT id FROM runs WHERE status NOT IN ('queued', 'running'))", ids)
                cur = self._conn.execute(f"DELETE FROM runs WHERE id IN ({marks}) "
                                         "AND status NOT IN ('queued', 'running')", ids)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        return cur.rowcount

    # ---------------------------------------------------------------------------------- sweeps

    def create_sweep(self, config: dict[str, Any], status: str = "queued", origin: str = "api",
                     session: str | None = None) -> int:
        """Insert a sweep and return its id."""
        _check_status(status)
        cur = self._write("INSERT INTO sweeps (created, status, config, origin, session, owner) "
                          "VALUES (?, ?, ?, ?, ?, ?)",
                          (time.time(), status, _dumps(config), origin, session, owner_token()))
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def set_sweep_status(self, sweep_id: int, status: str, message: str | None = None,
                         result: dict[str, Any] | None = None) -> None:
        """Update a sweep's status (and its result summary)."""
        _check_status(status)
        sets, params = ["status = ?"], [status]
        if status == "running":
            sets.append("owner = ?")
            params.append(owner_token())
        if status in TERMINAL:
            sets.append("ended = ?")
            params.append(time.time())
        if message is not None:
            sets.append("message = ?")
            params.append(message)
        if result is not None:
            sets.append("result = ?")
            params.append(_dumps(result))
        params.append(sweep_id)
        self._write(f"UPDATE sweeps SET {', '.join(sets)} WHERE id = ?", params)

    def get_sweep(self, sweep_id: int) -> SweepRecord | None:
        """One sweep, or None."""
        row = self._execute("SELECT * FROM sweeps WHERE id = ?", (int(sweep_id),)).fetchone()
        return None if row is None else _sweep(row)

    def list_sweeps(self, limit: int | None = None) -> list[SweepRecord]:
        """Sweeps, newest first."""
        sql = "SELECT * FROM sweeps ORDER BY id DESC" + (f" LIMIT {int(limit)}" if limit is not None else "")
        return [_sweep(r) for r in self._execute(sql).fetchall()]

    def delete_sweep(self, sweep_id: int) -> bool:
        """Delete a finished sweep with its runs and their metrics."""
        sweep = self.get_sweep(sweep_id)
        if sweep is None or sweep.status in ACTIVE:
            return False
        self.delete_runs([r.id for r in self.list_runs(sweep_id=sweep_id)])
        self._write("DELETE FROM sweeps WHERE id = ?", (int(sweep_id),))
        return True

    # ------------------------------------------------------------------------------- start-up

    def mark_interrupted(self) -> int:
        """Mark queued/running runs and sweeps whose owning process is gone as ``interrupted``.

        Called when a server (or the CLI) starts; runs owned by a live process (a CLI run beside the server)
        are left alone.  Returns the number of runs marked.
        """
        marked = 0
        for row in self._execute("SELECT id, status, owner FROM runs WHERE status IN ('queued', 'running')").fetchall():
            if not _owner_alive(row["owner"]):
                self.set_status(row["id"], "interrupted",
                                f"interrupted: the process running it stopped while it was {row['status']}")
                marked += 1
        for row in self._execute("SELECT id, status, owner FROM sweeps WHERE status IN ('queued', 'running')"):
            if not _owner_alive(row["owner"]):
                self.set_sweep_status(row["id"], "interrupted", "interrupted: the process running it stopped")
        return marked


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"unknown run status {status!r}; one of {', '.join(STATUSES)}")


def _filters(status: str | Sequence[str] | None, sweep_id: int | None, include_sweeps: bool, session: str | None,
             origin: str | None, text: str | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if status:
        statuses = [status] if isinstance(status, str) else list(status)
        clauses.append(f"status IN ({','.join('?' * len(statuses))})")
        params += statuses
    if sweep_id is not None:
        clauses.append("sweep_id = ?")
        params.append(int(sweep_id))
    elif not include_sweeps:
        clauses.append("sweep_id IS NULL")
    if session is not None:
        clauses.append("session = ?")
        params.append(session)
    if origin is not None:
        clauses.append("origin = ?")
        params.append(origin)
    if text:
        clauses.append("(name LIKE ? OR config LIKE ? OR message LIKE ?)")
        params += [f"%{text}%"] * 3
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def _run(row: sqlite3.Row) -> RunRecord:
    return RunRecord(id=row["id"], created=row["created"], started=row["started"], ended=row["ended"],
                     kind=row["kind"], sweep_id=row["sweep_id"], name=row["name"], status=row["status"],
                     config=_loads(row["config"]) or {}, final=_loads(row["final"]), details=_loads(row["details"]),
                     message=row["message"], origin=row["origin"], session=row["session"])


def _sweep(row: sqlite3.Row) -> SweepRecord:
    return SweepRecord(id=row["id"], created=row["created"], ended=row["ended"], status=row["status"],
                       config=_loads(row["config"]) or {}, result=_loads(row["result"]), message=row["message"],
                       origin=row["origin"], session=row["session"])


_STORES: dict[str, RunStore] = {}
_STORES_LOCK = threading.Lock()


def get_store(path: str | Path | None = None) -> RunStore:
    """The process-wide store for ``path`` (default: ``DA_DATA_DIR/runs.sqlite``)."""
    resolved = str((Path(path) if path is not None else da_config.data_dir() / DB_NAME).resolve())
    with _STORES_LOCK:
        if resolved not in _STORES:
            _STORES[resolved] = RunStore(resolved)
        return _STORES[resolved]
