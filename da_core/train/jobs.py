"""Background jobs: training runs, sweeps and studies on worker threads, one compute slot at a time.

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
import uuid
from collections.abc import Callable
from typing import Any

from da_core.errors import DAError
from da_core.train.config import TrainConfig
from da_core.train.run import Job, execute_run, record_end
from da_core.train.store import RunStore, get_store

log = logging.getLogger(__name__)

KEEP_FINISHED = 32  # finished jobs kept in memory (with their live metrics) per process


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

    def submit_sweep(self, spec: Any, session: str, origin: str = "page", backend: str = "local",
                     ray: Any = None) -> Job:
        """Queue a sweep (:class:`da_core.train.sweep.SweepSpec`) for ``session``; ``backend`` ``ray`` runs its
        runs as Ray tasks (``ray``: :class:`da_core.scale.RayOptions`)."""
        from da_core.scale import check_backend

        spec.validate()
        check_backend(backend)
        job = Job(uuid.uuid4().hex[:10], "sweep", session, spec.to_dict(), _manager=self)
        job.sweep_id = self.store.create_sweep(job.config, "queued", origin=origin, session=session)
        self._start(job, lambda: self._sweep(job, spec, backend, ray))
        return job

    def submit_study(self, spec: Any, session: str, origin: str = "page", study_id: int | None = None,
                     backend: str = "local", ray: Any = None) -> Job:
        """Queue a comparison study (:class:`da_core.study.StudySpec`) for ``session``; given the id of a stored
        study, resume it (its finished runs are kept); ``backend`` ``ray`` runs its runs as Ray tasks."""
        from da_core.scale import check_backend

        spec.validate()
        check_backend(backend)
        job = Job(uuid.uuid4().hex[:10], "study", session, spec.to_dict(), _manager=self)
        if study_id is None:
            study_id = self.store.create_sweep(job.config, "queued", origin=origin, session=session, kind="study")
        else:
            self.store.set_sweep_status(study_id, "queued")
        job.sweep_id = study_id
        self._start(job, lambda: self._study(job, spec, backend, ray))
        return job

    def submit_tune(self, spec: Any, session: str, origin: str = "page", backend: str = "local",
                    ray: Any = None) -> Job:
        """Queue a hyperparameter search (:class:`da_core.tune.TuneSpec`) for ``session``; its result grows trial
        by trial (``result``: the search's record so far); ``backend`` ``ray`` runs it through Ray Tune."""
        from da_core.tune.runner import check_backend_spec

        spec.validate()
        check_backend_spec(spec, backend)
        job = Job(uuid.uuid4().hex[:10], "tune", session, spec.to_dict(), _manager=self)
        job.sweep_id = self.store.create_sweep(job.config, "queued", origin=origin, session=session, kind="tune")
        self._start(job, lambda: self._tune(job, spec, backend, ray))
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
                    record_end(self.store, job.run_id, status, message)
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

    def _sweep(self, job: Job, spec: Any, backend: str = "local", ray: Any = None) -> None:
        from da_core.train.sweep import run_sweep

        assert job.sweep_id is not None

        def on_run(run_id: int, index: int, total: int, label: str) -> None:
            job._set(run_id=run_id, message=f"run {index + 1} of {total}: {label}")

        result = run_sweep(spec, self.store, sweep_id=job.sweep_id, stop=job._stop, job=job, on_run=on_run,
                           progress=lambda f: job._set(progress=f), backend=backend, ray=ray)
        job._set(status=result.status, message=result.message, result=result.to_dict(),
                 progress=1.0 if result.status == "finished" else job.progress)

    def _study(self, job: Job, spec: Any, backend: str = "local", ray: Any = None) -> None:
        from da_core.study import run_study

        assert job.sweep_id is not None

        def on_run(run_id: int, index: int, total: int, label: str) -> None:
            job._set(run_id=run_id, message=f"run {index + 1} of {total}: {label}")

        result = run_study(spec, self.store, study_id=job.sweep_id, stop=job._stop, job=job, on_run=on_run,
                           progress=lambda f: job._set(progress=f),
                           on_setup=lambda f, m: job._set(message=f"set-up: {m}"), backend=backend, ray=ray)
        job._set(status=result.status, message=result.message, result=result.to_dict(),
                 progress=1.0 if result.status == "finished" else job.progress)

    def _tune(self, job: Job, spec: Any, backend: str = "local", ray: Any = None) -> None:
        from da_core.tune.runner import run_tune, study_name, summary

        trials: list[dict[str, Any]] = []

        def on_trial(record: dict[str, Any]) -> None:
            trials.append(record)
            job._set(run_id=record["run_id"], progress=min(len(trials) / spec.trials, 1.0),
                     message=f"trial {record['number'] + 1} of {spec.trials}: {record['state'].lower()}",
                     result=summary(spec, trials, job.sweep_id, 0.0, study_name(job.sweep_id)))

        result = run_tune(spec, self.store, stop=job._stop, on_trial=on_trial, origin="page", session=job.session,
                          search_id=job.sweep_id, backend=backend, ray=ray)
        job._set(status=result["status"], message=f"{len(result['trials'])} trials", result=result, progress=1.0)

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

    def current(self, job_id: str | None, session: str, kind: str) -> Job | None:
        """The job a page shows: ``job_id`` when it is this session's, else the session's newest job of ``kind``."""
        job = self.get(job_id or "")
        if job is None or job.session != session:
            mine = [j for j in self.jobs(session=session) if j.kind == kind]
            job = mine[0] if mine else None
        return job

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
