"""Runs as Ray tasks, recorded by the driver (imported only for the ``ray`` backend: it needs Ray installed).

A :class:`RaySession` serves one group of runs (a sweep, a study, a search).  It joins a cluster or starts a
local Ray, puts the group's prepared data into the object store once, and keeps one event queue and one stop
flag (two small actors) for all its runs.  :meth:`RaySession.train` gives
:func:`da_core.train.run.execute_run` a ``train`` function: it submits the run as a task and replays the task's
events (start, step, eval, epoch, end) through the run's callbacks on the driver, so metrics land in the same
history and the same live charts as a local run's, written by the driver alone.  A Ray Tune trial
(:mod:`da_core.tune.ray_tune`) runs the same attempt (:func:`run_attempt`) in its actor and is replayed by the
same :meth:`RaySession.replay`, routed by its trial id.

- A task that raises is retried once (Ray's ``max_retries=1, retry_exceptions=True``); the retry's events
  replace the failed attempt's (the run's metrics so far are cleared when a new attempt starts).  A second
  failure raises on the driver, where ``execute_run`` records the run as failed; the others go on.
- Stop sets the flag: each running task's trainer ends within one batch (status stopped, metrics kept), and the
  sweep submits nothing more.
- Randomness comes from each config's seeds and the data is the driver's, so a run on Ray gives the metrics it
  gives locally (on the CPU, with the same number of torch threads: a task uses as many as it has CPUs).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
from ray.util.queue import Queue

from da_core.scale import RayOptions
from da_core.train.config import TrainConfig

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.25  # a task sends its step events at most this often (evaluations and the end at once)
POLL_SECONDS = 0.2  # how often a task looks at the stop flag
TaskBody = Callable[[dict[str, Any], Any, Callable[[str, dict[str, Any]], None], threading.Event], dict[str, Any]]


def train_body(config: dict[str, Any], data: Any, emit: Callable[[str, dict[str, Any]], None],
               stop: threading.Event) -> dict[str, Any]:
    """What a task runs: the trainer on the config and the driver's data, reporting through ``emit``; its result's
    ``to_dict`` form with the training film beside it (bytes, for the driver's store)."""
    from da_core.train.trainer import Trainer

    result = Trainer(TrainConfig.from_dict(config), data, callbacks=[emit], stop=stop).run()
    return {**result.to_dict(), "film": result.film}


@ray.remote(num_cpus=0)
class _StopFlag:
    def __init__(self) -> None:
        self.value = False

    def set(self) -> None:
        self.value = True

    def is_set(self) -> bool:
        return self.value


def run_attempt(body: TaskBody, config: dict[str, Any], data: Any, key: Any, events: Queue, flag: Any,
                threads: int, stop: threading.Event | None = None,
                listen: Callable[[str, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """One attempt at a run, wherever it runs (a task, a Tune trial's actor): its attempt id, its events batched to
    the driver under ``key``, the stop flag watched (and ``stop``, set from outside), ``listen`` told each event
    after it is queued.  The last event is ``_done`` with the result, or ``_error`` with what was raised."""
    import uuid

    import torch

    torch.set_num_threads(max(1, threads))
    attempt = uuid.uuid4().hex[:8]
    stop, over = stop or threading.Event(), threading.Event()
    buffer: list[tuple[Any, str, str, Any]] = []
    last = [time.perf_counter()]

    def flush() -> None:
        if buffer:
            events.put(list(buffer))
            buffer.clear()
        last[0] = time.perf_counter()

    def emit(event: str, payload: dict[str, Any]) -> None:
        buffer.append((key, attempt, event, payload))
        if event != "step" or time.perf_counter() - last[0] > FLUSH_SECONDS:
            flush()
        if listen is not None:
            listen(event, payload)

    def watch() -> None:
        while not over.is_set():
            try:
                if ray.get(flag.is_set.remote(), timeout=10):
                    stop.set()
                    return
            except Exception:  # the flag's actor is gone: the driver ended; stop too
                stop.set()
                return
            over.wait(POLL_SECONDS)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        emit("_attempt", {})
        result = body(config, data, emit, stop)
        emit("_done", {"result": result})
        return result
    except Exception as exc:
        with contextlib.suppress(Exception):  # the driver learns of it anyway, from Ray
            emit("_error", {"error": _portable(exc)})
        raise
    finally:
        over.set()
        flush()


def _portable(exc: BaseException) -> BaseException:
    """``exc`` itself when it survives pickling (the driver re-raises it), else a RuntimeError saying the same."""
    try:
        ray.cloudpickle.loads(ray.cloudpickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def _task(body: TaskBody, config: dict[str, Any], data: Any, run_id: int, events: Queue, flag: Any,
          threads: int) -> dict[str, Any]:
    """The Ray task around a run (see :func:`run_attempt`)."""
    return run_attempt(body, config, data, run_id, events, flag, threads)


def as_result(out: dict[str, Any]) -> Any:
    """A :class:`da_core.train.trainer.TrainResult` from its ``to_dict`` form (what a task returns)."""
    from da_core.train.trainer import TrainResult

    return TrainResult(out["status"], out["final"], out["history"], out["seconds"], out["message"], out["details"],
                       out.get("film"))


class RaySession:
    """One group's connection to Ray (see the module docstring).  Use as a context manager."""

    def __init__(self, options: RayOptions, data: Any = None, body: TaskBody = train_body) -> None:
        self.options = options.validate()
        self.started = False
        if not ray.is_initialized():
            target = options.target
            kwargs: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False,
                                      "include_dashboard": False, "runtime_env": _runtime_env(target)}
            if target is None:
                kwargs["num_cpus"] = options.local_cpus or os.cpu_count() or 1
            ray.init(address=target, **kwargs)
            self.started = True
        self.events = Queue(actor_options={"num_cpus": 0})
        self.flag = _StopFlag.remote()
        self.data = ray.put(data) if data is not None else None
        self.remote = ray.remote(_task).options(num_cpus=options.cpus_per_run, num_gpus=options.gpus_per_run,
                                                max_retries=1, retry_exceptions=True)
        self.body = body
        self.routes: dict[int, queue.Queue] = {}
        self.lock = threading.Lock()
        self.closed = threading.Event()
        self.dispatcher = threading.Thread(target=self._dispatch, daemon=True, name="ray-events")
        self.dispatcher.start()

    # ----------------------------------------------------------------------------------------- shape

    @property
    def slots(self) -> int:
        """How many runs go at once: ``workers``, else as many as the cluster's CPUs (and GPUs) allow."""
        if self.options.workers is not None:
            return self.options.workers
        resources = ray.cluster_resources()
        slots = int(resources.get("CPU", 1) // self.options.cpus_per_run)
        if self.options.gpus_per_run > 0:
            slots = min(slots, int(resources.get("GPU", 0) // self.options.gpus_per_run))
        return max(slots, 1)

    def describe(self) -> str:
        """One line: where the runs go and what each asks for."""
        where = self.options.target or "a local Ray"
        gpus = f", {self.options.gpus_per_run:g} GPU" if self.options.gpus_per_run else ""
        return f"Ray ({where}): {self.slots} runs at once, {self.options.cpus_per_run:g} CPU{gpus} each"

    # ------------------------------------------------------------------------------------------ runs

    def stop(self) -> None:
        """Every running task ends within one batch; tasks that start later stop at once."""
        self.flag.set.remote()

    def route(self, key: Any) -> None:
        """Keep the events sent under ``key`` for :meth:`replay` (call it before the run's task or trial starts)."""
        with self.lock:
            self.routes.setdefault(key, queue.Queue())

    def replay(self, key: Any, callbacks: list[Any], stop: threading.Event, restart: Callable[[], None],
               over: Callable[[bool, bool], bool]) -> tuple[dict[str, Any] | None, BaseException | None]:
        """Replay the events of ``key``'s attempts through ``callbacks`` (a new attempt calls ``restart()``; Stop
        sets the flag) until ``over(done, failed)`` says the run has ended, asked whenever no event is waiting:
        ``done`` once the current attempt sent its result, ``failed`` once it sent an error.  Returns the ``_done``
        payload (None if none came) and the last attempt's error; the route is dropped."""
        self.route(key)
        with self.lock:
            inbox = self.routes[key]
        attempt, done, error, flagged = None, None, None, False
        try:
            while True:
                if stop.is_set() and not flagged:
                    self.stop()
                    flagged = True
                try:
                    _, att, event, payload = inbox.get(timeout=0.05)
                except queue.Empty:
                    if over(done is not None, error is not None):
                        return done, error
                    continue
                if att != attempt:
                    if attempt is not None:
                        restart()  # the retry starts over: the failed attempt's metrics go
                    attempt, done, error = att, None, None
                if event == "_done":
                    done = payload
                elif event == "_error":
                    error = payload.get("error")
                elif not event.startswith("_"):
                    for fn in callbacks:
                        fn(event, payload)
        finally:
            with self.lock:
                self.routes.pop(key, None)

    def train(self, run_id: int) -> Callable[..., Any]:
        """The ``train(config, data, callbacks, stop, restart)`` for :func:`execute_run` of run ``run_id``."""

        def train(config: TrainConfig, data: Any, callbacks: list[Any], stop: threading.Event,
                  restart: Callable[[], None]) -> Any:
            self.route(run_id)
            threads = max(1, int(self.options.cpus_per_run))
            ref = self.remote.remote(self.body, config.to_dict(), self.data if data is None else data, run_id,
                                     self.events, self.flag, threads)

            def over(done: bool, failed: bool) -> bool:
                ready, _ = ray.wait([ref], timeout=0)
                return bool(ready) and (done or _failed(ref))

            self.replay(run_id, callbacks, stop, restart, over)
            try:
                out = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                raise (cause if isinstance(cause, BaseException) else exc) from None
            return as_result(out)

        return train

    def _dispatch(self) -> None:
        """Route the tasks' event batches to each run's inbox (the one reader of the shared queue)."""
        from ray.util.queue import Empty

        while not self.closed.is_set():
            try:
                batch = self.events.get(timeout=0.2)
            except Empty:
                continue
            except Exception:  # the queue's actor went away (the session is closing)
                if self.closed.is_set():
                    return
                log.warning("ray events: the queue failed", exc_info=True)
                time.sleep(0.2)
                continue
            for item in batch:
                with self.lock:
                    inbox = self.routes.get(item[0])
                if inbox is not None:
                    inbox.put(item)

    def close(self) -> None:
        """Stop routing, drop the actors, and shut down a Ray this session started."""
        self.closed.set()
        self.dispatcher.join(timeout=2)
        for actor in (self.flag, self.events.actor):
            with contextlib.suppress(Exception):  # already gone
                ray.kill(actor)
        if self.started:
            ray.shutdown()

    def __enter__(self) -> RaySession:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _failed(ref: Any) -> bool:
    """Whether a finished task ended in an error (its result cannot be read)."""
    try:
        ray.get(ref, timeout=0)
    except Exception:
        return True
    return False


def _runtime_env(target: str | None) -> dict[str, Any]:
    """What the workers need: on a local Ray this checkout on the path and the same caches and data folders; on a
    cluster the da_core package itself (its nodes bring the dependencies and their own folders)."""
    package = Path(__file__).resolve().parents[1]
    if target is not None:
        return {"py_modules": [str(package)]}
    names = [k for k in os.environ if k.startswith("DA_")] + ["HF_HOME", "TRANSFORMERS_OFFLINE", "HF_HUB_OFFLINE"]
    env = {k: os.environ[k] for k in names if k in os.environ}
    env["PYTHONPATH"] = os.pathsep.join([str(package.parent), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {"env_vars": env}


def map_runs(options: RayOptions, data: Any, count: int, one: Callable[[int, Any], str],
             stop: threading.Event) -> list[str]:
    """Run ``one(index, train)`` for every index as Ray tasks, as many at once as the session has slots (``train``:
    :meth:`RaySession.train`); after Stop nothing more starts (those indices give ``"skipped"``).  Returns each
    index's status."""
    from concurrent.futures import ThreadPoolExecutor

    with RaySession(options, data) as session:
        log.info("runs on %s", session.describe())

        def guarded(index: int) -> str:
            return "skipped" if stop.is_set() else one(index, session.train)

        with ThreadPoolExecutor(max_workers=session.slots, thread_name_prefix="ray-run") as pool:
            return list(pool.map(guarded, range(count)))
