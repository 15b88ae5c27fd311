"""A search through Ray Tune (imported only for the ``ray`` backend of :func:`da_core.tune.runner.run_tune`).

The search is a ``ray.tune.Tuner``: Optuna's own sampler (TPE, random, or its grid sampler) behind Tune's
``OptunaSearch``, writing the same Optuna study as a local search (so the Tuning page's figures read it the same
way), and a Tune scheduler in the pruner's place: ``median`` is ``MedianStoppingRule``, ``halving`` is
``ASHAScheduler``, ``none`` is FIFO.  Each trial is an actor asking for the CPUs and GPUs of the
:class:`~da_core.scale.RayOptions`; as many run at once as the session has slots.

One writer: a trial never opens the store.  Its actor trains with the body a sweep's Ray task runs
(:func:`da_core.scale.ray_runs.run_attempt`: events batched into the session's queue, the stop flag watched), and
reports the validator's score to Tune at each evaluation, waiting there for Tune's answer so that a pruned trial
ends at the step where the scheduler stopped it, as locally.  On the driver, a Tune callback makes each trial a
recorded run of the search's ``tune`` group when it starts, and a thread replays the trial's events into it
through :func:`da_core.train.run.execute_run`'s ``train`` hook (:meth:`RaySession.replay`, routed by the trial
id), so the history and the live charts are those of a local search.

- A trial whose attempt raises is retried once (``FailureConfig(max_failures=1)``; the retry's events replace the
  failed attempt's), then recorded failed; the other trials go on.
- A trial the scheduler stops ends within the batch (its run ``stopped``, "pruned by the … pruner after step N");
  its Optuna trial is PRUNED, as locally.
- Stop sets the session's flag (running trials end within one batch) and the searcher suggests no more; the
  ``minutes`` budget, as locally, only stops new trials from starting.
- Cross-validation (``cv_folds``) is refused on Ray (:func:`da_core.tune.runner.check_backend_spec`).
- Tune reuses a finished trial's actor for the next one (``reset_config``), sparing a process start per trial.
  A pruned trial's trainer is told to end at once (``stop_run``); one pruned at its very last evaluation still
  finishes (as locally), and if that was the search's last trial Tune gives its actor some 10 s before killing it
  (its run is then recorded pruned, with its metrics so far but no final scores).

The runner's helpers (a trial's config and record, the sampler) come in as arguments, so this module does not
import :mod:`da_core.tune.runner` (which imports it).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ray import tune
from ray.tune.schedulers import MedianStoppingRule, TrialScheduler
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from da_core.scale import RayOptions
from da_core.scale.ray_runs import RaySession, as_result, run_attempt
from da_core.train.store import RunStore
from da_core.train.validators import validators

log = logging.getLogger(__name__)

METRIC = "score"  # what a trial reports to Tune: the validator's score
NUMBER = "_trial_number"  # the Optuna trial number, carried in each Tune trial's config
ASHA_MAX_T = 4 ** 8  # evaluations: more than any run makes, so ASHA never ends a trial for reaching it
END_GRACE_S = 60.0  # how long the driver waits for a trial's result once Tune says it ended
ERROR_GRACE_S = 5.0  # ... and for its error, once Tune says it failed
JOIN_S = 300.0  # how long a stopped trial's actor waits for its trainer to end (one batch, then the final eval)


class _Search(OptunaSearch):
    """Tune's Optuna searcher that suggests nothing more once ``should_end()``, and tells Optuna a trial's state
    as a local search would: COMPLETE with its score, PRUNED when stopped (by the scheduler or Stop), else FAIL."""

    def __init__(self, *args: Any, should_end: Callable[[], bool], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._should_end = should_end

    def __getstate__(self) -> dict[str, Any]:  # Tune pickles its searcher; this search is never resumed
        state = self.__dict__.copy()
        state.pop("_should_end", None)
        return state

    def save(self, checkpoint_path: str) -> None:
        """Nothing: Tune's experiment checkpoints are not kept (the history is the record)."""

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if self._should_end():
            return Searcher.FINISHED
        return super().suggest(trial_id)

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        import optuna

        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return
        outcome = None if error else (result or {}).get("outcome")
        state = {"complete": optuna.trial.TrialState.COMPLETE, "failed": optuna.trial.TrialState.FAIL}.get(
            outcome, optuna.trial.TrialState.FAIL if error else optuna.trial.TrialState.PRUNED)
        value = float(result[METRIC]) if state == optuna.trial.TrialState.COMPLETE and result else None
        try:
            self._ot_study.tell(self._ot_trials[trial_id], value, state=state)
        except Exception as exc:  # the grid sampler's study.stop() outside optimize(): the state is stored anyway
            log.debug("optuna tell for trial %s: %s", trial_id, exc)
        self._completed_trials.add(trial_id)


class _Trial(tune.Trainable):
    """One trial in its actor: the run trains in a thread (:func:`run_attempt`); each ``step`` hands Tune the next
    evaluation's score, the trainer waiting meanwhile, and the last one the final score (``done``).  A trial Tune
    stops (``cleanup``, or ``reset_config`` when the actor is reused for the next trial) halts its trainer, which
    ends within one batch and sends its result to the driver."""

    def setup(self, config: dict[str, Any], config_of: Callable[[int, dict[str, Any]], Any] | None = None,
              score_of: Callable[[dict[str, Any]], float | None] | None = None, dims: tuple[str, ...] = (),
              metric: str = "", data: Any = None, events: Any = None, flag: Any = None, body: Any = None,
              threads: int = 1) -> None:
        assert config_of is not None and score_of is not None
        self.config_of, self.score_of, self.dims = config_of, score_of, dims
        self.metric, self.data, self.events, self.flag, self.body, self.threads = (
            metric, data, events, flag, body, threads)
        self._begin(config)

    def _begin(self, config: dict[str, Any]) -> None:
        self.run_config = self.config_of(int(config[NUMBER]), {name: config[name] for name in self.dims}).to_dict()
        self.results: queue.Queue = queue.Queue()
        self.resume = threading.Semaphore(0)
        self.halt, self.closing = threading.Event(), threading.Event()
        self.waiting = False
        self.last: tuple[int, float] | None = None
        self.thread: threading.Thread | None = None

    def stop_run(self) -> None:
        """The driver's word that Tune pruned this trial: end the run now (Tune may keep the actor for reuse)."""
        self.closing.set()
        self.halt.set()
        self.resume.release()

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        """The actor serves a new trial (Tune reuses actors): the last trial's trainer ends first."""
        self.cleanup()
        self._begin(new_config)
        return True

    def _train(self) -> None:
        try:
            out = run_attempt(self.body, self.run_config, self.data, self.trial_id, self.events, self.flag,
                              self.threads, stop=self.halt, listen=self._listen)
            self.results.put(("end", out))
        except BaseException as exc:  # Tune sees it raised by step(): a retry, then the trial failed
            self.results.put(("error", exc))

    def _listen(self, event: str, payload: dict[str, Any]) -> None:
        """At an evaluation with a score: hand it to ``step`` and wait until Tune asks for more (or stops us)."""
        score = payload.get(self.metric) if event == "eval" else None
        if score is None or payload.get("step", 0) == 0 or self.closing.is_set():
            return
        self.results.put(("eval", (int(payload["step"]), float(score))))
        self.resume.acquire()

    def step(self) -> dict[str, Any]:
        if self.thread is None:
            self.thread = threading.Thread(target=self._train, daemon=True, name="da-trial")
            self.thread.start()
        elif self.waiting:
            self.waiting = False
            self.resume.release()
        kind, value = self.results.get()
        if kind == "error":
            raise value
        if kind == "eval":
            self.waiting, self.last = True, value
            return {METRIC: value[1], "at_step": value[0]}
        final = value.get("final") or {}
        score = self.score_of(value)  # the runner's run_score: None unless finished with a finite score
        complete = score is not None
        outcome = "complete" if complete else "stopped" if value["status"] == "stopped" else "failed"
        if not complete:
            score = self.last[1] if self.last else float("nan")
        return {METRIC: float(score), "at_step": int(final.get("steps") or 0), "final": 1, "outcome": outcome,
                "done": True}

    def cleanup(self) -> None:
        self.stop_run()
        if self.thread is not None:
            self.thread.join(timeout=JOIN_S)


class _Trials:
    """The driver's side: each trial a recorded run (made when Tune starts it), replayed from its events by a
    thread of its own; the trials' records as they end."""

    def __init__(self, spec: Any, store: RunStore, search_id: int, session: RaySession, stop: threading.Event,
                 on_trial: Callable[[dict[str, Any]], None] | None, origin: str, user: str | None,
                 config_of: Callable[[int, dict[str, Any]], Any], record_of: Callable[..., dict[str, Any]]) -> None:
        self.spec, self.store, self.search_id, self.session, self.stop = spec, store, search_id, session, stop
        self.on_trial, self.origin, self.user, self.config_of, self.record_of = (
            on_trial, origin, user, config_of, record_of)
        self.threads: dict[str, threading.Thread] = {}
        self.ended: dict[str, tuple[float, BaseException | None]] = {}
        self.pruned: dict[str, dict[str, Any]] = {}
        self.records: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.over_at: float | None = None  # when the Tuner returned

    def start(self, trial: Any) -> None:
        """Tune started ``trial`` (or its retry): record it as a run and follow its events."""
        key = trial.trial_id
        if self.stop.is_set():  # suggested just before Stop: it ends at once, unrecorded
            self.session.stop()
            return
        with self.lock:
            if key in self.threads:
                return  # a retry: the same run, its metrics replaced as the new attempt starts
            number = int(trial.config[NUMBER])
            params = {name: trial.config[name] for name in self.spec.dims}
            config = self.config_of(number, params)
            run_id = self.store.create_run(config.to_dict(), "queued", origin=self.origin, session=self.user,
                                           sweep_id=self.search_id)
            self.session.route(key)
            thread = threading.Thread(target=self._record, args=(key, number, params, config, run_id), daemon=True,
                                      name=f"da-tune-trial-{number}")
            self.threads[key] = thread
        thread.start()

    def end(self, trial: Any, error: BaseException | None = None) -> None:
        """Tune ended ``trial``: pruned when its last result was not its final one (and Stop was not pressed)."""
        last = trial.last_result or {}
        pruned = error is None and not last.get("final") and not self.stop.is_set() and "at_step" in last
        with self.lock:
            if pruned:
                self.pruned[trial.trial_id] = {"step": int(last["at_step"]), "score": float(last[METRIC])}
            self.ended[trial.trial_id] = (time.monotonic(), error)
        actor = trial.temporary_state.ray_actor
        if pruned and actor is not None:  # its trainer waits at that evaluation: end it now, not when Tune
            with contextlib.suppress(Exception):  # next reuses or stops the actor
                actor.stop_run.remote()

    def _record(self, key: str, number: int, params: dict[str, Any], config: Any, run_id: int) -> None:
        from da_core.train.run import execute_run

        t0 = time.perf_counter()
        out = execute_run(config, self.store, run_id, stop=self.stop, train=self._train(key))
        with self.lock:
            pruned = self.pruned.get(key)
        record = self.record_of(number, params, run_id, out, pruned, time.perf_counter() - t0)
        with self.lock:
            self.records.append(record)
            if self.on_trial:
                self.on_trial(record)

    def _train(self, key: str) -> Callable[..., Any]:
        """``execute_run``'s ``train`` for trial ``key``: replay its events until its result (or its end) comes."""

        def notice() -> tuple[float, BaseException | None] | None:
            with self.lock:
                return self.ended.get(key)

        def over(done: bool, failed: bool) -> bool:
            if done:
                return True
            ended = notice()
            now = time.monotonic()
            if ended is None:  # the Tuner returned without a word about it: give up after the grace
                return self.over_at is not None and now - self.over_at > END_GRACE_S
            if ended[1] is not None:
                return failed or now - ended[0] > ERROR_GRACE_S
            return now - ended[0] > END_GRACE_S

        def train(config: Any, data: Any, callbacks: list[Any], stop: threading.Event,
                  restart: Callable[[], None]) -> Any:
            done, error = self.session.replay(key, callbacks, stop, restart, over)
            if done is not None:
                return as_result(done["result"])
            ended = notice()
            raise error or (ended[1] if ended else None) or RuntimeError(
                "the trial's worker ended before it sent its result")

        return train

    def join(self) -> None:
        """Wait for every trial's run to be recorded."""
        self.over_at = time.monotonic()
        for thread in list(self.threads.values()):
            thread.join()


class _Driver(tune.Callback):
    """Tune's callback on the driver: trial starts and ends, to :class:`_Trials`."""

    def __init__(self, trials: _Trials) -> None:
        self.trials = trials

    def __getstate__(self) -> dict[str, Any]:  # Tune pickles its callbacks; the driver's state stays here
        return {}

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.trials.start(trial)

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.trials.end(trial)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.trials.end(trial, _trial_error(trial))


def _trial_error(trial: Any) -> BaseException:
    """What a failed trial raised (the cause inside Ray's wrapper), or a RuntimeError saying it failed."""
    error = None
    with contextlib.suppress(Exception):
        error = trial.get_pickled_error()
    cause = getattr(error, "cause", None)
    if isinstance(cause, BaseException):
        return cause
    return error if isinstance(error, BaseException) else RuntimeError(f"trial {trial.trial_id} failed")


class _MedianStopping(MedianStoppingRule):
    """Tune's median stopping rule, except that a trial with too few others to compare with goes on rather than
    pausing for a waiting trial (a pause needs a checkpoint, and a run here has none): Optuna's median pruner
    does not prune then either."""

    def _on_insufficient_samples(self, tune_controller: Any, trial: Any, time: float) -> str:
        return TrialScheduler.CONTINUE


def _scheduler(spec: Any, mode: str) -> Any:
    """Tune's scheduler in the pruner's place, at the trial's evaluations (``training_iteration``)."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if spec.pruner == "median":  # like Optuna's MedianPruner(n_startup_trials=2): two others to compare with
        return _MedianStopping(time_attr="training_iteration", metric=METRIC, mode=mode, grace_period=1,
                               min_samples_required=2)
    if spec.pruner == "halving":  # like Optuna's SuccessiveHalvingPruner: rungs at 1, 4, 16, ... evaluations
        return ASHAScheduler(time_attr="training_iteration", metric=METRIC, mode=mode, max_t=ASHA_MAX_T,
                             grace_period=1, reduction_factor=4)
    return FIFOScheduler()


@contextlib.contextmanager
def _quiet_tune() -> Iterator[None]:
    """Tune without its file loggers, its trial actors in the driver's working folder, its log at WARNING."""
    names = {"TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1", "RAY_CHDIR_TO_TRIAL_DIR": "0", "RAY_AIR_NEW_OUTPUT": "0"}
    saved = {name: os.environ.get(name) for name in names}
    loggers = [logging.getLogger(n) for n in ("ray.tune", "ray.train", "ray.air")]
    levels = [lg.level for lg in loggers]
    os.environ.update(names)
    for lg in loggers:
        lg.setLevel(max(lg.level, logging.WARNING))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def tune_on_ray(spec: Any, store: RunStore, search_id: int, data: Any, options: RayOptions, stop: threading.Event,
                on_trial: Callable[[dict[str, Any]], None] | None, origin: str, session: str | None, *,
                config_of: Callable[[int, dict[str, Any]], Any], record_of: Callable[..., dict[str, Any]],
                score_of: Callable[[dict[str, Any]], float | None], sampler: Any, storage: str,
                study: str) -> list[dict[str, Any]]:
    """Run ``spec`` (a validated :class:`~da_core.tune.runner.TuneSpec`) through Ray Tune into the ``tune`` group
    ``search_id``; the trial records by trial number.  ``config_of(number, params)`` is a trial's config (it
    travels to the actors), ``score_of(out)`` a finished run's score (or None), ``record_of(number, params, run_id,
    out, pruned, seconds)`` its record;
    ``sampler``, ``storage`` and ``study``: the Optuna sampler, the storage URL and the study's name."""
    import optuna
    from ray.tune.logger import JsonLoggerCallback  # Tune reads its trials' results back from these files

    metric = validators()[spec.validator].metric
    mode = "max" if spec.direction == "maximize" else "min"
    t0 = time.perf_counter()

    def should_end() -> bool:
        return stop.is_set() or (spec.minutes is not None and time.perf_counter() - t0 > spec.minutes * 60)

    def space(trial: Any) -> dict[str, Any]:  # define-by-run, in the order a local search suggests
        for dim in spec.dims.values():
            dim.suggest(trial)
        return {NUMBER: trial.number}

    samples = spec.trials
    if spec.sampler == "grid":  # each grid point once, as Optuna's grid sampler stops a local search
        samples = min(samples, math.prod(len(dim.grid()) for dim in spec.dims.values()))
    optuna.create_study(storage=storage, study_name=study, direction=spec.direction)  # a new one, as locally
    with RaySession(options) as ray_session, _quiet_tune():  # the data goes to the trials by with_parameters
        log.info("search on %s", ray_session.describe())
        trials = _Trials(spec, store, search_id, ray_session, stop, on_trial, origin, session, config_of, record_of)
        search = _Search(space=space, metric=METRIC, mode=mode, sampler=sampler, study_name=study,
                         storage=optuna.storages.RDBStorage(storage), should_end=should_end)
        trainable = tune.with_resources(
            tune.with_parameters(_Trial, config_of=config_of, score_of=score_of, dims=tuple(spec.dims), metric=metric,
                                 data=data, events=ray_session.events, flag=ray_session.flag,
                                 body=ray_session.body, threads=max(1, int(options.cpus_per_run))),
            {"cpu": options.cpus_per_run, "gpu": options.gpus_per_run})
        folder = tempfile.mkdtemp(prefix="da-tune-")  # Tune's own files, never the product's history
        try:
            tune.Tuner(trainable, tune_config=tune.TuneConfig(
                search_alg=search, scheduler=_scheduler(spec, mode), num_samples=samples,
                max_concurrent_trials=ray_session.slots, reuse_actors=True,
                trial_name_creator=lambda t: f"trial-{t.trial_id}", trial_dirname_creator=lambda t: t.trial_id),
                run_config=tune.RunConfig(name=study, storage_path=folder, verbose=0,
                                          callbacks=[_Driver(trials), JsonLoggerCallback()],
                                          failure_config=tune.FailureConfig(max_failures=1),
                                          checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False))).fit()
        finally:
            trials.join()
            shutil.rmtree(folder, ignore_errors=True)
    return sorted(trials.records, key=lambda r: r["number"])
