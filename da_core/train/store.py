"""Run history: a SQLite database (stdlib ``sqlite3``, WAL mode) under ``DA_DATA_DIR``.

Tables: ``runs`` (id, created, config JSON, status, final metrics JSON, message, ...), ``metrics`` (run id,
step, epoch, name, value) and ``sweeps``: groups of runs, of ``kind`` ``sweep`` (strength × seeds) or
``study`` (arms × seeds, see :mod:`da_core.study`); a group's runs carry its id in ``sweep_id``.  The page,
background jobs and the command line all write here, so a run started anywhere shows up in the history.  One
connection per store, guarded by a lock, serves every thread of a process; WAL lets another process (the CLI
beside the server) write at the same time.

Each active run records its owner (host, pid and a per-process token).  :meth:`RunStore.mark_interrupted`,
called when a server or CLI starts, marks queued/running runs whose owner process is gone as
``interrupted``; their metrics stay.

Faults are found where the store opens and turned into :class:`~da_core.errors.StoreError` messages that
name the file and the fix: a damaged file (random bytes, truncated) raises :class:`StoreDamagedError` until
the user agrees to :func:`set_aside` it (renamed ``runs.sqlite.damaged-<time>``, never deleted); a file,
folder or disk that cannot be written opens read-only, so the history still shows and writes raise
:class:`StoreReadOnlyError`; a write that fails later (disk full) raises :class:`StoreWriteError`, and a
run's end that could not be written is kept in memory and shown (and written once the disk allows).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from da_core import config as da_config
from da_core.errors import StoreDamagedError, StoreError, StoreReadOnlyError, StoreWriteError
from da_core.jsonio import dumps

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")
TERMINAL = ("finished", "stopped", "diverged", "failed", "interrupted")
STATUSES = ACTIVE + TERMINAL
DB_NAME = "runs.sqlite"
GROUP_KINDS = ("sweep", "study", "tune")  # what a row of ``sweeps`` groups (tune: the trials of a search)

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
    owner TEXT,
    kind TEXT NOT NULL DEFAULT 'sweep'
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
CREATE TABLE IF NOT EXISTS films (
    run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    data BLOB NOT NULL
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
    kind: str = "sweep"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return dict(self.__dict__)


def _dumps(obj: Any) -> str | None:
    return None if obj is None else dumps(obj)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def store_path() -> Path:
    """The default history file, ``DA_DATA_DIR/runs.sqlite`` (nothing is created here)."""
    return da_config.data_dir_path() / DB_NAME


class RunStore:
    """The run history database (see the module docstring).  Thread-safe.

    ``readonly`` is True when the file, its folder or its disk cannot be written; ``readonly_reason`` says why.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else store_path()
        self._lock = threading.RLock()
        self.readonly = False
        self.readonly_reason = ""
        self._unsaved: dict[tuple[str, int], dict[str, Any]] = {}  # ends of runs/sweeps not yet written
        self._conn = self._open()

    # -------------------------------------------------------------------------------- opening

    def _connect(self, readonly: bool = False, immutable: bool = False) -> sqlite3.Connection:
        """A connection to the file: read-write (created when missing), or read-only through a ``mode=ro`` URI."""
        if readonly:
            target = self.path.resolve().as_uri() + "?mode=ro" + ("&immutable=1" if immutable else "")
        else:
            target = str(self.path)
        conn = sqlite3.connect(target, uri=readonly, timeout=30.0, check_same_thread=False, isolation_level=None)
        conn.row_factory = sqlite3.Row
        return conn

    def _open(self) -> sqlite3.Connection:
        """Open read-write; fall back to read-only when writing is impossible; refuse a damaged file."""
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise StoreError(f"cannot keep the run history in {folder}: it is a file, not a folder. Point DA_DATA_DIR "
                             "at a folder (or unset it to use the default)", self.path) from None
        except OSError as exc:
            return self._open_readonly(f"its folder cannot be created: {exc.strerror or exc}")
        if self.path.is_dir():
            raise StoreError(f"the run history {self.path} is a folder, not a file: move it away or point DA_DATA_DIR "
                             "at another folder", self.path)
        conn: sqlite3.Connection | None = None
        try:
            conn = self._connect()
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.executescript(SCHEMA)
            self._check(conn)
            _migrate(conn)
            conn.execute("DELETE FROM metrics WHERE 0")  # a no-op write: fails now when the file cannot be written
            return conn
        except (sqlite3.Error, StoreError) as exc:
            err = self._failed_open(conn, exc)
            if isinstance(err, StoreWriteError):
                return self._open_readonly(_reason(exc))
            if err is None:
                raise
            raise err from exc

    def _open_readonly(self, reason: str) -> sqlite3.Connection:
        """Open the existing history read-only (or an empty one in memory when there is none yet)."""
        self.readonly, self.readonly_reason = True, reason
        log.warning("the run history %s is read-only (%s)", self.path, reason)
        if not self.path.is_file():
            return self._empty()
        last: sqlite3.Error | None = None
        for immutable in (False, True):  # immutable: a WAL file whose -shm cannot be created in a read-only folder
            conn: sqlite3.Connection | None = None
            try:
                conn = self._connect(readonly=True, immutable=immutable)
                conn.execute("PRAGMA busy_timeout=30000")
                tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                                      "AND name IN ('runs', 'metrics', 'sweeps')").fetchone()[0]
                if tables < 3:  # a file that was never given its tables (the disk filled at once): nothing to show
                    conn.close()
                    return self._empty()
                self._check(conn)
                return conn
            except (sqlite3.Error, StoreError) as exc:
                err = self._failed_open(conn, exc)
                if isinstance(err, StoreDamagedError):
                    raise err from exc
                last = exc
        raise StoreError(f"the run history {self.path} cannot be opened ({last}): check the file and its folder, or "
                         "point DA_DATA_DIR at another folder", self.path)

    def _failed_open(self, conn: sqlite3.Connection | None, exc: Exception) -> StoreError | None:
        """Close a connection that failed while opening; re-raise a :class:`StoreError`, else translate ``exc``."""
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        if isinstance(exc, StoreError):
            raise exc
        return self._translate(exc)

    @staticmethod
    def _empty() -> sqlite3.Connection:
        conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.executescript(SCHEMA)
        return conn

    def _check(self, conn: sqlite3.Connection) -> None:
        """``PRAGMA quick_check``: a truncated or overwritten file can pass the header and fail deeper."""
        rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check").fetchall()]
        if rows != ["ok"]:
            raise StoreDamagedError(self._damaged_message(f"integrity check: {rows[0] if rows else 'no answer'}"),
                                    self.path)

    # --------------------------------------------------------------------------------- errors

    def _damaged_message(self, detail: str) -> str:
        return (f"the run history {self.path} is damaged ({detail}). Set it aside and start a new, empty history: "
                "run the command again with --reset-store, or press “Set it aside and start a new history” on the "
                f"Runs page; it is renamed to {self.path.name}.damaged-<time>, never deleted")

    def readonly_message(self) -> str:
        """Why this history cannot record runs, and what to do about it."""
        return (f"the run history {self.path} cannot be written ({self.readonly_reason}): its runs show, but new "
                f"runs cannot be recorded. Free space or make {self.path.parent} writable (then restart the app), "
                "or point DA_DATA_DIR at a writable folder")

    def require_writable(self) -> None:
        """Raise :class:`StoreReadOnlyError` (why, and what to do) when new runs could not be recorded here."""
        if self.readonly:
            raise StoreReadOnlyError(self.readonly_message(), self.path)

    def _translate(self, exc: sqlite3.Error) -> StoreError | None:
        """A :class:`StoreError` naming the file for an sqlite failure caused by the file or disk; None for others."""
        name = str(getattr(exc, "sqlite_errorname", "") or "")
        text = str(exc)
        if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or (
                not name and type(exc) is sqlite3.DatabaseError and ("not a database" in text or "malformed" in text)):
            return StoreDamagedError(self._damaged_message(text), self.path)
        if name.startswith("SQLITE_READONLY"):
            if not self.readonly:
                self.readonly, self.readonly_reason = True, "the file, its folder or its disk is read-only"
            return StoreReadOnlyError(self.readonly_message(), self.path)
        if name == "SQLITE_FULL":
            return StoreWriteError(f"cannot write the run history {self.path}: the disk is full. Free some space, or "
                                   "point DA_DATA_DIR at another disk", self.path)
        if name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")):
            return StoreWriteError(f"cannot write the run history {self.path} ({text}): check the disk and the "
                                   "folder's permissions, or point DA_DATA_DIR at another folder", self.path)
        if isinstance(exc, sqlite3.ProgrammingError) and "closed" in text:
            return StoreWriteError(f"the run history {self.path} was closed (set aside or reopened): start the run "
                                   "again to record it in the new history", self.path)
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return StoreError(f"the run history {self.path} stayed locked by another program for 30 s; try again",
                              self.path)
        return None

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Rows of a read; a damaged file or a failing disk becomes a :class:`StoreError`."""
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                err = self._translate(exc)
                if err is None:
                    raise
                raise err from exc

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (rolled back on any failure); sqlite failures become :class:`StoreError`."""
        self.require_writable()
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                    self._conn.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:  # sqlite rolls back by itself after some errors (disk full)
                        with contextlib.suppress(sqlite3.Error):
                            self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                err = self._translate(exc)
                if err is None:
                    raise
                raise err from exc

    def _write(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        with self._writing() as conn:
            return conn.execute(sql, params)

    def _remember_unsaved(self, table: str, row_id: int, changes: dict[str, Any]) -> None:
        """Keep the end of a run or sweep that could not be written: reads show it, later writes retry it."""
        with self._lock:
            self._unsaved[(table, int(row_id))] = changes

    def _retry_unsaved(self) -> None:
        """Write the ends kept by :meth:`_remember_unsaved` (quietly: they stay kept while writing fails)."""
        with self._lock:
            pending = list(self._unsaved.items())
        for (table, row_id), changes in pending:
            try:
                self._update(table, row_id, changes["sql"], changes["params"])
            except StoreError:
                return
            with self._lock:
                if self._unsaved.get((table, row_id)) is changes:
                    del self._unsaved[(table, row_id)]

    def _update(self, table: str, row_id: int, sets: list[str], params: list[Any]) -> None:
        self._write(f"UPDATE {table} SET {', '.join(sets)} WHERE id = ?", [*params, int(row_id)])

    def _shown(self, table: str, row_id: int) -> dict[str, Any] | None:
        with self._lock:
            kept = self._unsaved.get((table, int(row_id)))
        return None if kept is None else kept["shown"]

    @property
    def unsaved(self) -> list[int]:
        """Ids of runs whose end could not be written yet (shown with it; written when the disk allows)."""
        with self._lock:
            return sorted(i for t, i in self._unsaved if t == "runs")

    # ------------------------------------------------------------------------------------ runs

    def create_run(self, config: dict[str, Any], status: str = "queued", origin: str = "api",
                   session: str | None = None, sweep_id: int | None = None, name: str = "", kind: str = "train") -> int:
        """Insert a run and return its id."""
        _check_status(status)
        self._retry_unsaved()
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
        self._retry_unsaved()
        try:
            self._update("runs", run_id, sets, params)
        except StoreError:
            if status in TERMINAL:  # shown as ended (not "running") by this process, written when it can be
                shown = {"status": status, "ended": now}
                shown.update({k: v for k, v in (("message", message), ("final", final), ("details", details))
                              if v is not None})
                self._remember_unsaved("runs", run_id, {"sql": sets, "params": params, "shown": shown})
            raise
        with self._lock:
            self._unsaved.pop(("runs", int(run_id)), None)

    def add_metrics(self, run_id: int, rows: Iterable[tuple[int, int, str, float | None]]) -> int:
        """Append metric rows ``(step, epoch, name, value)``; returns how many were written."""
        data = [(run_id, int(s), int(e), str(n), None if v is None else float(v)) for s, e, n, v in rows]
        if not data:
            return 0
        with self._writing() as conn:
            conn.executemany("INSERT INTO metrics (run_id, step, epoch, name, value) VALUES (?, ?, ?, ?, ?)", data)
        return len(data)

    def clear_metrics(self, run_id: int) -> int:
        """Delete a run's metric rows (an attempt retried from the start); returns how many went."""
        with self._writing() as conn:
            return int(conn.execute("DELETE FROM metrics WHERE run_id = ?", (int(run_id),)).rowcount)

    def save_film(self, run_id: int, data: bytes) -> None:
        """Keep a run's training film (:mod:`da_core.train.film`), replacing an earlier one."""
        with self._writing() as conn:
            conn.execute("INSERT OR REPLACE INTO films (run_id, data) VALUES (?, ?)",
                         (int(run_id), sqlite3.Binary(data)))

    def film(self, run_id: int) -> bytes | None:
        """A run's training film, or None (none was kept, or an older read-only history has no film table)."""
        try:
            rows = self._query("SELECT data FROM films WHERE run_id = ?", (int(run_id),))
        except (StoreError, sqlite3.Error):
            return None
        return bytes(rows[0]["data"]) if rows else None

    def has_films(self, run_ids: Sequence[int]) -> set[int]:
        """Which of ``run_ids`` have a film."""
        ids = [int(i) for i in run_ids]
        if not ids:
            return set()
        try:
            rows = self._query(f"SELECT run_id FROM films WHERE run_id IN ({','.join('?' * len(ids))})", ids)
        except (StoreError, sqlite3.Error):
            return set()
        return {int(r["run_id"]) for r in rows}

    def get_run(self, run_id: int) -> RunRecord | None:
        """One run, or None."""
        rows = self._query("SELECT * FROM runs WHERE id = ?", (int(run_id),))
        return self._run_record(rows[0]) if rows else None

    def _run_record(self, row: sqlite3.Row) -> RunRecord:
        return self._with_unsaved("runs", _run(row))

    def _with_unsaved(self, table: str, record: Any) -> Any:
        """``record`` with the changes this process could not write yet (see :meth:`set_status`) applied."""
        shown = self._shown(table, record.id)
        if shown:
            record.__dict__.update(shown)
        return record

    def list_runs(self, status: str | Sequence[str] | None = None, sweep_id: int | None = None,
                  include_sweeps: bool = True, session: str | None = None, origin: str | None = None,
                  text: str | None = None, limit: int | None = None) -> list[RunRecord]:
        """Runs, newest first, filtered by status(es), sweep, session, origin or a text in name/config."""
        where, params = _filters(status, sweep_id, include_sweeps, session, origin, text)
        sql = f"SELECT * FROM runs {where} ORDER BY id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [self._run_record(r) for r in self._query(sql, params)]

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
        rows = self._query(sql, params)
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
        with self._writing() as conn:
            conn.execute(f"DELETE FROM metrics WHERE run_id IN ({marks}) AND run_id IN "
                         f"(SELECT id FROM runs WHERE status NOT IN ('queued', 'running'))", ids)
            cur = conn.execute(f"DELETE FROM runs WHERE id IN ({marks}) AND status NOT IN ('queued', 'running')", ids)
        return cur.rowcount

    # ---------------------------------------------------------------------------------- sweeps

    def create_sweep(self, config: dict[str, Any], status: str = "queued", origin: str = "api",
                     session: str | None = None, kind: str = "sweep") -> int:
        """Insert a sweep (or another group of runs: ``kind`` ``study``) and return its id."""
        _check_status(status)
        if kind not in GROUP_KINDS:
            raise ValueError(f"unknown group kind {kind!r}; one of {', '.join(GROUP_KINDS)}")
        cur = self._write("INSERT INTO sweeps (created, status, config, origin, session, owner, kind) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?)",
                          (time.time(), status, _dumps(config), origin, session, owner_token(), kind))
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
        try:
            self._update("sweeps", sweep_id, sets, params)
        except StoreError:
            if status in TERMINAL:
                shown = {"status": status, "ended": time.time()}
                shown.update({k: v for k, v in (("message", message), ("result", result)) if v is not None})
                self._remember_unsaved("sweeps", sweep_id, {"sql": sets, "params": params, "shown": shown})
            raise
        with self._lock:
            self._unsaved.pop(("sweeps", int(sweep_id)), None)

    def get_sweep(self, sweep_id: int) -> SweepRecord | None:
        """One sweep, or None."""
        rows = self._query("SELECT * FROM sweeps WHERE id = ?", (int(sweep_id),))
        return self._sweep_record(rows[0]) if rows else None

    def _sweep_record(self, row: sqlite3.Row) -> SweepRecord:
        return self._with_unsaved("sweeps", _sweep(row))

    def list_sweeps(self, limit: int | None = None, kind: str | None = "sweep") -> list[SweepRecord]:
        """Sweeps (or the groups of another ``kind``; None: all of them), newest first."""
        where, params = ("", []) if kind is None else ("WHERE kind = ?", [kind])
        if kind is not None and not self._has_kind():
            where, params = ("", []) if kind == "sweep" else ("WHERE 0", [])
        sql = f"SELECT * FROM sweeps {where} ORDER BY id DESC" + (f" LIMIT {int(limit)}" if limit is not None else "")
        return [self._sweep_record(r) for r in self._query(sql, params)]

    def _has_kind(self) -> bool:
        """Whether the groups table has its ``kind`` column (a read-only history from an older version may not)."""
        return any(r[1] == "kind" for r in self._query("PRAGMA table_info(sweeps)"))

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
        are left alone.  Returns the number of runs marked.  A history that cannot be written is left as it is
        (its runs still show; a warning is logged).
        """
        marked = 0
        if self.readonly:
            return 0
        try:
            for row in self._query("SELECT id, status, owner FROM runs WHERE status IN ('queued', 'running')"):
                if not _owner_alive(row["owner"]):
                    self.set_status(row["id"], "interrupted",
                                    f"interrupted: the process running it stopped while it was {row['status']}")
                    marked += 1
            for row in self._query("SELECT id, status, owner FROM sweeps WHERE status IN ('queued', 'running')"):
                if not _owner_alive(row["owner"]):
                    self.set_sweep_status(row["id"], "interrupted", "interrupted: the process running it stopped")
        except StoreWriteError as exc:
            log.warning("could not mark interrupted runs: %s", exc)
        return marked


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a history written by an older version up to this schema (columns added since, with defaults)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(sweeps)").fetchall()}
    if "kind" not in columns:  # before studies, every group was a sweep
        conn.execute("ALTER TABLE sweeps ADD COLUMN kind TEXT NOT NULL DEFAULT 'sweep'")


def _reason(exc: sqlite3.Error) -> str:
    """Why a history cannot be written, in words, from an sqlite error."""
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    if name.startswith("SQLITE_READONLY"):
        return "the file, its folder or its disk is read-only"
    if name == "SQLITE_FULL":
        return "the disk is full"
    if name.startswith("SQLITE_CANTOPEN"):
        return "it cannot be opened for writing"
    return str(exc)


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
                       origin=row["origin"], session=row["session"],
                       kind=row["kind"] if "kind" in row.keys() else "sweep")  # noqa: SIM118 (Row: in tests values)


_STORES: dict[str, RunStore] = {}
_STORES_LOCK = threading.Lock()


def _key(path: str | Path | None) -> str:
    return str((Path(path) if path is not None else store_path()).resolve())


def get_store(path: str | Path | None = None) -> RunStore:
    """The process-wide store for ``path`` (default: ``DA_DATA_DIR/runs.sqlite``).

    Raises :class:`StoreError` (naming the file and the fix) when it cannot be opened; a damaged file stays
    refused until :func:`set_aside` renames it.
    """
    resolved = _key(path)
    with _STORES_LOCK:
        if resolved not in _STORES:
            _STORES[resolved] = RunStore(resolved)
        return _STORES[resolved]


def set_aside(path: str | Path | None = None) -> Path | None:
    """Rename a (damaged) history and its ``-wal``/``-shm`` files to ``runs.sqlite.damaged-<time>``; never deletes.

    The next :func:`get_store` starts a new, empty history.  Returns the new name (None when there was no file);
    :class:`StoreError` when it cannot be renamed.  The renamed copy keeps its WAL, so it can still be examined.
    """
    target = Path(_key(path))
    with _STORES_LOCK:
        old = _STORES.pop(str(target), None)
    if old is not None:
        with contextlib.suppress(sqlite3.Error):
            old.close()
    if not target.exists():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dest, n = target.with_name(f"{target.name}.damaged-{stamp}"), 1
    while any(Path(f"{dest}{suffix}").exists() for suffix in ("", "-wal", "-shm", "-journal")):
        dest, n = target.with_name(f"{target.name}.damaged-{stamp}-{n}"), n + 1
    try:
        os.rename(target, dest)
        for suffix in ("-wal", "-shm", "-journal"):
            side = Path(f"{target}{suffix}")
            if side.exists():
                os.rename(side, f"{dest}{suffix}")
    except OSError as exc:
        raise StoreError(f"cannot set the run history {target} aside ({exc.strerror or exc}): move it away yourself, "
                         "or point DA_DATA_DIR at another folder", target) from None
    log.warning("the run history %s was set aside as %s; a new one starts", target, dest)
    return dest


def reset_if_damaged(path: str | Path | None = None) -> Path | None:
    """Open the history; when it is damaged, :func:`set_aside` it and return the new name (else None)."""
    try:
        get_store(path)
    except StoreDamagedError:
        return set_aside(path)
    return None
