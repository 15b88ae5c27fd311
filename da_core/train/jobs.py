"""Background jobs: training runs and sweeps on worker threads, one compute slot at a time.

The page submits a job and returns at once; a worker thread (which never calls streamlit) waits for the
compute slot, runs the trainer, streams its metrics into memory (readable from any thread) and into the run
store.  Jobs are owned by a session id, so two browser sessions each see their own live runs.  Stop ends a
running job within one batch, or cancels a queued one.

:func:`get_manager` returns the process-wide manager; creating it marks runs left active by a previous
process as interrupted.

When the run store cannot be written mid-run (disk full, read-only, damaged), the run stops, is marked
``failed`` with its metrics so far (those that could be saved, and a partial ``final`` from the last
evaluation), and its compute slot is freed; a status that cannot be written is shown by the store from
memory (see :meth:`RunStore.set_status`), never left ``running``.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from da_core.errors import DAError, StoreError
from da_core.train.config import TrainConfig
from da_core.train.store import RunStore, get_store

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.5
KEEP_FINISHED = 32  # finished jobs kept in memory (with their live metrics) per process
STEP_METRICS = ("train_loss", "train_acc", "domain_loss", "dann_lambda", "lr", "throughput")
EVAL_METRICS = ("source_acc", "target_acc")


class ComputeSlot:
    """A first-come-first-served semaphore: ``slots`` jobs compute at once, the rest wait in order."""

    def __init__(self, slots: int = 1) -> None:
        self.slots = slots
        self._cond = threading.Condition()
        self._waiting: list[str] = []
        self._holders: list[str] = []

    def acquire(self, key: str, cancelled: threading.Event, poll: float = 0.2) -> bool:
        """Wait for a slot in arrival order; False when ``cancelled`` is set first."""
        with self._cond:
            self._waiting.append(key)
            try:
                while not (len(self._holders) < self.slots and self._waiting[0] == key):
                    if cancelled.is_set():
                        return False
                    self._cond.wait(poll)
                self._holders.append(key)
                return True
            finally:
                self._waiting.remove(key)
                self._cond.notify_all()

    def release(self, key: str) -> None:
        """Give the slot back."""
        with self._cond:
            if key in self._holders:
                self._holders.remove(key)
            self._cond.notify_all()

    def position(self, key: str) -> int:
        """How many jobs are ahead of a waiting one (running ones included); 0 when computing or unknown."""
        with self._cond:
            if key not in self._waiting:
                return 0
            return len(self._holders) + self._waiting.index(key)

    @property
    def busy(self) -> list[str]:
        """Keys holding a slot now."""
        with self._cond:
            return list(self._holders)


@dataclass
class Job:
    """A background run or sweep.  Read its state with :meth:`snapshot`; everything here is thread-safe."""

    id: str
    kind: str
    session: str
    config: dict[str, Any]
    created: float = field(default_factory=time.time)
    status: str = "queued"
    message: str = ""
    run_id: int | None = None
    sweep_id: int | None = None
    progress: float = 0.0
    total_steps: int | None = None
    final: dict[str, Any] | None = None
    details: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    _rows: list[tuple[int, int, int, str, float]] = field(default_factory=list, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _done: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _manager: JobManager | None = field(default=None, repr=False)

    def stop(self) -> None:
        """Ask the job to stop: a running trainer ends within one batch; a queued job never starts."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """Whether Stop was pressed."""
        return self._stop.is_set()

    @property
    def done(self) -> bool:
        """Whether the worker has finished (any terminal status)."""
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends (True) or ``timeout`` passes (False)."""
        return self._done.wait(timeout)

    @property
    def queue_position(self) -> int:
        """0 unless queued; else how many runs are ahead of it for the compute slot."""
        if self.status != "queued" or self._manager is None:
            return 0
        return self._manager.slot.position(self.id)

    def metrics(self, run_id: int | None = None) -> pd.DataFrame:
        """Live metrics as a long table (run_id, step, epoch, name, value), like ``RunStore.metrics``."""
        with self._lock:
            rows = [r for r in self._rows if run_id is None or r[0] == run_id]
        frame = pd.DataFrame(rows, columns=["run_id", "step", "epoch", "name", "value"])
        return frame.astype({"run_id": "int64", "step": "int64", "epoch": "int64", "value": "float64"})

    def snapshot(self) -> dict[str, Any]:
        """Status, progress, message, ids and results, copied under the lock."""
        with self._lock:
            return {"id": self.id, "kind": self.kind, "status": self.status, "message": self.message,
                    "progress": self.progress, "run_id": self.run_id, "sweep_id": self.sweep_id,
                    "queue_position": self.queue_position, "final": self.final, "details": self.details,
                    "result": self.result, "info": dict(self.info), "created": self.created,
                    "stopping": self.stopping}

    # ---------------------------------------------------------------------- worker side

    def _set(self, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(self, key, value)

    def _add(self, run_id: int, step: int, epoch: int, values: dict[str, Any], names: tuple[str, ...]) -> list[Any]:
        new = [(run_id, step, epoch, name, float(values[name])) for name in names
               if values.get(name) is not None]
        with self._lock:
            self._rows.extend(new)
        return [(s, e, n, v) for _, s, e, n, v in new]


class _MetricSink:
    """Trainer callback: keeps metrics on the job (live) and writes them to the store in batches."""

    def __init__(self, job: Job, store: RunStore, run_id: int, progress: Callable[[float], None]) -> None:
        self.job, self.store, self.run_id, self.progress = job, store, run_id, progress
        self.pending: list[Any] = []
        self.last_flush = time.perf_counter()
        self.total = 1

    def __call__(self, event: str, payload: dict[str, Any]) -> None:
        if event == "start":
            self.total = int(payload["total_steps"])
            self.job._set(total_steps=self.total, info={k: payload.get(k) for k in (
                "device", "backbone", "sizes", "baseline", "affinity", "batch_size", "conversions", "notes")})
        elif event == "step":
            self.pending += self.job._add(self.run_id, payload["step"], payload["epoch"], payload, STEP_METRICS)
            self.progress(payload["step"] / self.total)
        elif event == "eval":
            self.pending += self.job._add(self.run_id, payload["step"], payload["epoch"], payload, EVAL_METRICS)
        if event in ("eval", "epoch", "end") or time.perf_counter() - self.last_flush > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write the pending metrics; on a :class:`StoreError` they stay pending (and in memory) and it re-raises."""
        self.last_flush = time.perf_counter()
        if self.pending:
            self.store.add_metrics(self.run_id, self.pending)
            self.pending = []

    def try_flush(self) -> StoreError | None:
        """:meth:`flush`, returning the store error instead of raising it."""
        try:
            self.flush()
        except StoreError as exc:
            return exc
        return None

    def partial_final(self) -> dict[str, Any] | None:
        """The last logged value of each headline metric, for a run that ended early (None when none was logged)."""
        last: dict[str, Any] = {}
        steps = 0
        with self.job._lock:
            for run_id, step, _epoch, name, value in self.job._rows:
                if run_id == self.run_id:
                    steps = max(steps, step)
                    if name in ("source_acc", "target_acc", "train_loss"):
                        last[name] = value
        if not last:
            return None
        return {**last, "steps": steps, "total_steps": self.total, "partial": True}


def _record_end(store: RunStore, run_id: int, status: str, message: str, **extra: Any) -> bool:
    """Write a run's end; False when the store refused (the store then shows it from memory)."""
    try:
        store.set_status(run_id, status, message, **extra)
    except StoreError as exc:
        log.warning("run %s: could not record its end (%s): %s", run_id, status, exc)
        return False
    return True


def execute_run(config: TrainConfig, store: RunStore, run_id: int, job: Job | None = None,
                stop: threading.Event | None = None, progress: Callable[[float], None] | None = None,
                extra_callbacks: list[Any] | None = None, data: Any = None) -> dict[str, Any]:
    """Run one training config into an existing run row: status running -> finished/stopped/diverged/failed.

    Used by the job workers, the sweep runner and the command line, so every run is recorded the same way.
    Returns ``{"status", "message", "final", "history", "details", "seconds"}`` (plus ``user_error`` when a
    :class:`DAError`, such as a bad dataset, failed it).
    """
    from da_core.train.trainer import Trainer

    job = job or Job(uuid.uuid4().hex[:10], "train", "", config.to_dict())
    sink = _MetricSink(job, store, run_id, progress or (lambda f: None))
    t = time.perf_counter()
    trainer = None

    def failed(message: str, final: dict[str, Any] | None = None, details: dict[str, Any] | None = None,
               **flags: Any) -> dict[str, Any]:
        problem = sink.try_flush()  # the metrics so far, where they can be saved
        if problem is not None and final is None:
            message += f" (its last metrics could not be saved: {problem})"
        recorded = _record_end(store, run_id, "failed", message, final=final, details=details)
        history = list(trainer.history) if trainer is not None else []
        return {"status": "failed", "message": message, "final": final, "history": history, "details": None,
                "seconds": time.perf_counter() - t, "recorded": recorded, **flags}

    try:
        store.set_status(run_id, "running")
        trainer = Trainer(config, data, callbacks=[sink, *(extra_callbacks or [])], stop=stop or job._stop)
        result = trainer.run()
    except StoreError as exc:  # the history cannot be written (disk full, read-only, damaged): stop, keep the rest
        what = "could not start" if trainer is None else "stopped"
        return failed(f"the run {what}: {exc}", final=sink.partial_final(), user_error=True, store_error=True)
    except DAError as exc:
        return failed(str(exc), user_error=True)
    except Exception as exc:  # a bug or an environment problem: keep the run, say what happened
        log.exception("training run %s failed", run_id)
        return failed(f"{type(exc).__name__}: {exc}", details={"traceback": traceback.format_exc(limit=20)})
    problem = sink.try_flush()
    if problem is not None:  # trained to the end, but the history is incomplete: say so rather than "finished"
        return failed(f"the run trained to the end but its metrics could not all be saved: {problem}",
                      final=result.final, details=result.details, user_error=True, store_error=True)
    recorded = _record_end(store, run_id, result.status, result.message, final=result.final, details=result.details)
    return {"status": result.status, "message": result.message, "final": result.final, "history": result.history,
            "details": result.details, "seconds": result.seconds, "recorded": recorded}


class JobManager:
    """Owns the jobs of this process and the compute slot they share."""

    def __init__(self, store: RunStore | None = None, slots: int = 1) -> None:
        self.store = store or get_store()
        self.slot = ComputeSlot(slots)
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self.interrupted_on_start = self.store.mark_interrupted()

    # ------------------------------------------------------------------------------ submit

    def submit(self, config: TrainConfig, session: str, origin: str = "page") -> Job:
        """Queue a training run for ``session``; returns at once with the job (its run id is already stored)."""
        config.validate()
        job = Job(uuid.uuid4().hex[:10], "train", session, config.to_dict(), _manager=self)
        job.run_id = self.store.create_run(job.config, "queued", origin=origin, session=session)
        self._start(job, lambda: self._train(job, config))
        return job

    def submit_sweep(self, spec: Any, session: str, origin: str = "page") -> Job:
        """Queue a sweep (:class:`da_core.train.sweep.SweepSpec`) for ``session``."""
        spec.validate()
        job = Job(uuid.uuid4().hex[:10], "sweep", session, spec.to_dict(), _manager=self)
        job.sweep_id = self.store.create_sweep(job.config, "queued", origin=origin, session=session)
        self._start(job, lambda: self._sweep(job, spec))
        return job

    def _start(self, job: Job, target: Callable[[], None]) -> None:
        with self._lock:
            self._jobs[job.id] = job
            done = sorted((j for j in self._jobs.values() if j.done), key=lambda j: j.created)
            for old in done[:max(0, len(done) - KEEP_FINISHED)]:  # their runs stay in the store
                del self._jobs[old.id]
        thread = threading.Thread(target=self._guard, args=(job, target), name=f"da-job-{job.id}", daemon=True)
        thread.start()

    def _guard(self, job: Job, target: Callable[[], None]) -> None:
        try:
            if not self.slot.acquire(job.id, job._stop):
                job._set(status="stopped", message="stopped before it started")
                self._settle(job, "stopped", "stopped before it started")
                return
            try:
                job._set(status="running")
                target()
            finally:
                self.slot.release(job.id)
        except Exception as exc:  # never let a worker die silently, nor leave its run or sweep active
            if isinstance(exc, DAError):
                message = str(exc)
            else:
                log.exception("job %s crashed", job.id)
                message = f"{type(exc).__name__}: {exc}"
            job._set(status="failed", message=message)
            self._settle(job, "failed", message)
        finally:
            job._done.set()

    def _settle(self, job: Job, status: str, message: str) -> None:
        """Give the job's run and sweep ``status`` if they are still queued/running (best effort)."""
        try:
            if job.run_id is not None:
                run = self.store.get_run(job.run_id)
                if run is not None and run.status in ("queued", "running"):
                    _record_end(self.store, job.run_id, status, message)
            if job.sweep_id is not None:
                sweep = self.store.get_sweep(job.sweep_id)
                if sweep is not None and sweep.status in ("queued", "running"):
                    self.store.set_sweep_status(job.sweep_id, status, message)
        except Exception as exc:  # best effort: the job itself already says what happened
            log.warning("job %s: could not record %s: %s", job.id, status, exc)

    # ------------------------------------------------------------------------------ workers

    def _train(self, job: Job, config: TrainConfig) -> None:
        assert job.run_id is not None
        out = execute_run(config, self.store, job.run_id, job=job, progress=lambda f: job._set(progress=f))
        job._set(status=out["status"], message=out["message"], final=out["final"], details=out["details"],
                 result={"history": out["history"], "seconds": out["seconds"]},
                 progress=1.0 if out["status"] == "finished" else job.progress)

    def _sweep(self, job: Job, spec: Any) -> None:
        from da_core.train.sweep import run_sweep

        assert job.sweep_id is not None

        def on_run(run_id: int, index: int, total: int, label: str) -> None:
            job._set(run_id=run_id, message=f"run {index + 1} of {total}: {label}")

        result = run_sweep(spec, self.store, sweep_id=job.sweep_id, stop=job._stop, job=job, on_run=on_run,
                           progress=lambda f: job._set(progress=f))
        job._set(status=result.status, message=result.message, result=result.to_dict(),
                 progress=1.0 if result.status == "finished" else job.progress)

    # ------------------------------------------------------------------------------- query

    def get(self, job_id: str) -> Job | None:
        """A job by id."""
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self, session: str | None = None, active: bool | None = None) -> list[Job]:
        """This process's jobs, newest first; only a session's when ``session`` is given."""
        with self._lock:
            jobs = list(self._jobs.values())
        if session is not None:
            jobs = [j for j in jobs if j.session == session]
        if active is not None:
            jobs = [j for j in jobs if j.done != active]
        return sorted(jobs, key=lambda j: j.created, reverse=True)

    def forget(self, job_id: str) -> None:
        """Drop a finished job from memory (its run stays in the store)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and job.done:
                del self._jobs[job_id]


_MANAGER: JobManager | None = None
_MANAGER_LOCK = threading.Lock()


def get_manager() -> JobManager:
    """The process-wide job manager over the default store (created on first use)."""
    global _MANAGER
    with _MANAGER_LOCK:
        if _MANAGER is None or _MANAGER.store is not get_store():  # a new path, or a history set aside
            _MANAGER = JobManager(get_store())
        return _MANAGER
