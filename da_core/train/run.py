"""One recorded run: a :class:`Job` (thread-safe live state and metrics) and :func:`execute_run`, which trains a
config into a row of the run store.

Used by the background workers (:mod:`da_core.train.jobs`), the sweep runner and the command line, so every
run is recorded the same way.  When the run store cannot be written mid-run (disk full, read-only, damaged),
the run stops, is marked ``failed`` with its metrics so far (those that could be saved, and a partial
``final`` from the last evaluation); a status that cannot be written is shown by the store from memory (see
:meth:`RunStore.set_status`), never left ``running``.
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
from da_core.train.store import RunStore

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.5
STEP_METRICS = ("train_loss", "train_acc", "domain_loss", "dann_lambda", "lr", "throughput", "aug_strength", "adv_eps")
EVAL_METRICS = ("source_acc", "target_acc")  # and every validator's val_* score the evaluation reports


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
    _manager: Any = field(default=None, repr=False)  # the JobManager whose queue it waits in

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

    def _drop(self, run_id: int) -> None:
        with self._lock:
            self._rows = [row for row in self._rows if row[0] != run_id]

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
                "device", "backbone", "sizes", "baseline", "affinity", "batch_size", "conversions", "notes",
                "parameters", "mode")})
        elif event == "step":
            self.pending += self.job._add(self.run_id, payload["step"], payload["epoch"], payload, STEP_METRICS)
            self.progress(payload["step"] / self.total)
        elif event == "eval":
            names = EVAL_METRICS + tuple(k for k in payload if k.startswith("val_"))
            self.pending += self.job._add(self.run_id, payload["step"], payload["epoch"], payload, names)
        if event in ("eval", "epoch", "end") or time.perf_counter() - self.last_flush > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write the pending metrics; on a :class:`StoreError` they stay pending (and in memory) and it re-raises."""
        self.last_flush = time.perf_counter()
        if self.pending:
            self.store.add_metrics(self.run_id, self.pending)
            self.pending = []

    def restart(self) -> None:
        """Forget this run's metrics so far (its attempt is being retried from the start)."""
        self.pending = []
        self.job._drop(self.run_id)
        self.store.clear_metrics(self.run_id)

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


def record_end(store: RunStore, run_id: int, status: str, message: str, **extra: Any) -> bool:
    """Write a run's end; False when the store refused (the store then shows it from memory)."""
    try:
        store.set_status(run_id, status, message, **extra)
    except StoreError as exc:
        log.warning("run %s: could not record its end (%s): %s", run_id, status, exc)
        return False
    return True


def execute_run(config: TrainConfig, store: RunStore, run_id: int, job: Job | None = None,
                stop: threading.Event | None = None, progress: Callable[[float], None] | None = None,
                extra_callbacks: list[Any] | None = None, data: Any = None,
                train: Callable[..., Any] | None = None) -> dict[str, Any]:
    """Run one training config into an existing run row: status running -> finished/stopped/diverged/failed.

    Used by the job workers, the sweep runner and the command line, so every run is recorded the same way.
    ``train(config, data, callbacks, stop, restart)`` trains elsewhere (a Ray task, :mod:`da_core.scale`) and
    replays its events through ``callbacks`` here; ``restart()`` drops the metrics of an attempt that is being
    retried.  Returns ``{"status", "message", "final", "history", "details", "seconds"}`` (plus ``user_error``
    when a :class:`DAError`, such as a bad dataset, failed it).
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
        recorded = record_end(store, run_id, "failed", message, final=final, details=details)
        history = list(trainer.history) if trainer is not None else []
        return {"status": "failed", "message": message, "final": final, "history": history, "details": None,
                "seconds": time.perf_counter() - t, "recorded": recorded, **flags}

    callbacks = [sink, *(extra_callbacks or [])]
    try:
        store.set_status(run_id, "running")
        if train is None:
            trainer = Trainer(config, data, callbacks=callbacks, stop=stop or job._stop)
            result = trainer.run()
        else:
            result = train(config, data, callbacks, stop or job._stop, sink.restart)
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
    recorded = record_end(store, run_id, result.status, result.message, final=result.final, details=result.details)
    if result.film:
        try:
            store.save_film(run_id, result.film)
        except StoreError as exc:  # the run is recorded; only its film is missing
            log.warning("run %s: its training film could not be kept: %s", run_id, exc)
    return {"status": result.status, "message": result.message, "final": result.final, "history": result.history,
            "details": result.details, "seconds": result.seconds, "recorded": recorded}
