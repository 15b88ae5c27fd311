"""Hyperparameter search with Optuna, judged by a validator instead of target labels.

:func:`run_tune` runs an Optuna study (TPE by default, or its grid or random sampler) over a space
(:mod:`da_core.tune.space`) around a base config.  Every trial is a recorded run in the product's history, tagged
with the search (a ``sweeps`` row of kind ``tune``); its objective is the chosen validator's score at the run's
end.  A pruner (median or successive halving) sees the validator at each of the run's evaluations and may stop a
poor trial there: the run then ends within one batch, keeps its metrics so far and says it was pruned, and the
trial is recorded as PRUNED.  Optuna's own storage is one SQLite file under ``DA_DATA_DIR``.  With
``backend="ray"`` the search goes through Ray Tune instead (:mod:`da_core.tune.ray_tune`): the same sampler, Tune's
scheduler in the pruner's place, the trials as Ray actors and the driver alone writing the history.

:func:`agreement` says how far each validator could be trusted on the finished trials when the target has labels:
the Spearman rank correlation between its score (sign-flipped where lower is better) and the target accuracy, and
its regret (the best target accuracy minus that of the trial it would pick).
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from da_core.errors import SpecError
from da_core.train.config import TrainConfig
from da_core.train.store import RunStore, get_store
from da_core.train.validators import validators
from da_core.tune.space import Dim, check_values, default_space

log = logging.getLogger(__name__)

SAMPLERS = ("tpe", "grid", "random")
PRUNERS = ("median", "halving", "none")
CV_VALIDATORS = ("source-acc", "iwv")  # read the held-out source: k-fold cross-validation can serve them
DEFAULT_VALIDATOR = "im"  # on the default image pair the one validator that picked the best unsupervised step


@dataclass
class TuneSpec:
    """A search: the base config, the space (None: :func:`default_space`), the validator it maximises (or
    minimises, as the validator says), sampler, pruner, and a budget in trials and/or minutes."""

    base: TrainConfig
    space: dict[str, Dim] | None = None
    validator: str = DEFAULT_VALIDATOR
    sampler: str = "tpe"
    pruner: str = "median"
    trials: int = 20
    minutes: float | None = None
    seed: int = 0
    name: str = ""
    cv_folds: int = 0
    dims: dict[str, Dim] = field(init=False, default_factory=dict)

    @property
    def cross_validates(self) -> bool:
        """Whether each trial is scored by k-fold cross-validation on the source (for the source-accuracy and
        IWV validators, the ones that read the held-out source)."""
        return self.cv_folds >= 2 and self.validator in CV_VALIDATORS

    def validate(self) -> TuneSpec:
        """Check every field; :class:`SpecError` names the bad one."""
        if self.validator not in validators():
            raise SpecError(f"validator: unknown {self.validator!r}; one of {', '.join(validators())}")
        if self.sampler not in SAMPLERS:
            raise SpecError(f"sampler: expected one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        if self.pruner not in PRUNERS:
            raise SpecError(f"pruner: expected one of {', '.join(PRUNERS)}, got {self.pruner!r}")
        if isinstance(self.trials, bool) or not isinstance(self.trials, int) or self.trials < 1:
            raise SpecError(f"trials: expected a positive integer, got {self.trials!r}")
        if isinstance(self.cv_folds, bool) or not isinstance(self.cv_folds, int) or not (
                self.cv_folds == 0 or 2 <= self.cv_folds <= 20):
            raise SpecError(f"cv_folds: expected 0 (no cross-validation) or 2 to 20 folds, got {self.cv_folds!r}")
        if self.cv_folds and self.validator not in CV_VALIDATORS:
            raise SpecError(f"cv_folds: cross-validation serves the validators that read the held-out source "
                            f"({', '.join(CV_VALIDATORS)}), not {self.validator!r}")
        if self.minutes is not None and not (isinstance(self.minutes, int | float) and self.minutes > 0):
            raise SpecError(f"minutes: expected a positive number, got {self.minutes!r}")
        self.dims = dict(self.space) if self.space is not None else default_space(self.base)
        check_values(self.base, self.dims)
        return self

    @property
    def direction(self) -> str:
        """Optuna's direction for the validator."""
        return "maximize" if validators()[self.validator].higher_is_better else "minimize"

    def to_dict(self) -> dict[str, Any]:
        """JSON form, stored with the search."""
        return {"base": self.base.to_dict(), "space": {k: d.to_dict() for k, d in self.dims.items()},
                "validator": self.validator, "sampler": self.sampler, "pruner": self.pruner, "trials": self.trials,
                "minutes": self.minutes, "seed": self.seed, "name": self.name, "cv_folds": self.cv_folds}


def _sampler(spec: TuneSpec) -> Any:
    import optuna

    if spec.sampler == "grid":
        return optuna.samplers.GridSampler({k: d.grid() for k, d in spec.dims.items()}, seed=spec.seed)
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=spec.seed)
    return optuna.samplers.TPESampler(seed=spec.seed)


def _pruner(spec: TuneSpec) -> Any:
    import optuna

    if spec.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    if spec.pruner == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def study_name(search_id: int) -> str:
    """The name of the Optuna study behind the search ``search_id`` (in :func:`optuna_storage`)."""
    return f"da-tune-{search_id}"


def optuna_storage() -> str:
    """The SQLite URL of Optuna's storage under ``DA_DATA_DIR``."""
    from da_core.config import data_dir

    return f"sqlite:///{data_dir() / 'optuna.sqlite'}"


def trial_config(spec: TuneSpec, search_id: int, number: int, params: dict[str, Any],
                 fold: int | None = None) -> TrainConfig:
    """The config of trial ``number`` (of ``fold`` when cross-validating): the base with the trial's params, named
    and tagged with the search (the same on either backend).  A trial keeps no training film: a search has many
    trials, and each film would add some 270 KB (images) to 800 KB (MiniLM) to the history."""
    changes: dict[str, Any] = {**params, "film": False, "name": f"tune {search_id} · trial {number}"
                               + ("" if fold is None else f" · fold {fold + 1}/{spec.cv_folds}"),
                               "extra": {**spec.base.extra, "tune": search_id, "trial": number,
                                         **({} if fold is None else {"cv_fold": fold})}}
    if fold is not None:
        changes["source_fold"] = [fold, spec.cv_folds]
    return spec.base.replace(**changes)


def pruned_message(spec: TuneSpec, step: int, score: float) -> str:
    """What a pruned trial's run says: ``"pruned by the median pruner after step 40 (im = 0.5)"``."""
    return f"pruned by the {spec.pruner} pruner after step {step} ({spec.validator} = {score:.4g})"


def run_score(spec: TuneSpec, out: dict[str, Any]) -> float | None:
    """The validator's score of a recorded run (``execute_run``'s answer); None unless it finished with a finite
    score."""
    score = ((out["final"] or {}).get("validators") or {}).get(validators()[spec.validator].metric)
    if out["status"] != "finished" or score is None or not math.isfinite(score):
        return None
    return float(score)


def check_backend_spec(spec: TuneSpec, backend: str) -> str:
    """``backend`` when it can run ``spec`` (Ray installed; no cross-validation on Ray), else a
    :class:`SpecError` saying why."""
    from da_core.scale import check_backend

    check_backend(backend)
    if backend == "ray" and spec.cv_folds:
        raise SpecError("cv_folds: cross-validation runs only on the local backend (on Ray each trial is one run); "
                        "choose the local backend or no cross-validation folds")
    return backend


def run_tune(spec: TuneSpec, store: RunStore | None = None, stop: threading.Event | None = None,
             on_trial: Callable[[dict[str, Any]], None] | None = None, origin: str = "api",
             session: str | None = None, search_id: int | None = None, backend: str = "local",
             ray: Any = None) -> dict[str, Any]:
    """Run the search to its budget (or until ``stop``) and return its record (see :func:`summary`); into the
    ``tune`` group ``search_id`` when given (the job layer creates it before queueing), else a new one.
    ``on_trial(record)`` is called as each trial ends.  ``backend`` ``"ray"`` runs it through Ray Tune
    (``ray``: :class:`da_core.scale.RayOptions`; see :mod:`da_core.tune.ray_tune`)."""
    import optuna

    from da_core.train.trainer import prepare_data

    spec.validate()
    check_backend_spec(spec, backend)
    store = store or get_store()
    stop = stop or threading.Event()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if search_id is None:
        search_id = store.create_sweep(spec.to_dict(), "running", origin=origin, session=session, kind="tune")
    store.set_sweep_status(search_id, "running")
    t0 = time.perf_counter()
    if backend == "ray":
        from da_core.scale import RayOptions
        from da_core.tune.ray_tune import tune_on_ray

        trials = tune_on_ray(spec, store, search_id, prepare_data(spec.base), ray or RayOptions(), stop, on_trial,
                             origin, session, config_of=functools.partial(trial_config, spec, search_id),
                             record_of=functools.partial(trial_record, spec, store),
                             score_of=functools.partial(run_score, spec), sampler=_sampler(spec),
                             storage=optuna_storage(), study=study_name(search_id))
    else:
        trials = _tune_locally(spec, store, search_id, stop, on_trial, origin, session)
    status = "stopped" if stop.is_set() else "finished"
    result = summary(spec, trials, search_id, time.perf_counter() - t0, study_name(search_id))
    store.set_sweep_status(search_id, status, "", result=result)
    return {**result, "status": status}


def _tune_locally(spec: TuneSpec, store: RunStore, search_id: int, stop: threading.Event,
                  on_trial: Callable[[dict[str, Any]], None] | None, origin: str,
                  session: str | None) -> list[dict[str, Any]]:
    """The search as an Optuna study in this process, trial after trial; its trial records in the order they
    ended."""
    import optuna

    from da_core.train.run import execute_run
    from da_core.train.trainer import prepare_data

    metric = validators()[spec.validator].metric
    study = optuna.create_study(storage=optuna_storage(), study_name=study_name(search_id),
                                direction=spec.direction, sampler=_sampler(spec), pruner=_pruner(spec))
    folds: list[int | None] = list(range(spec.cv_folds)) if spec.cross_validates else [None]
    fold_data = {fold: prepare_data(spec.base if fold is None else  # one split per fold, shared by every trial
                                    spec.base.replace(source_fold=[fold, spec.cv_folds])) for fold in folds}
    t0 = time.perf_counter()
    trials: list[dict[str, Any]] = []

    def objective(trial: Any) -> float:
        params = {name: dim.suggest(trial) for name, dim in spec.dims.items()}
        record: dict[str, Any] = {"number": trial.number, "params": params, "run_id": None, "run_ids": [],
                                  "validators": {}, "target_acc": None}
        finals: list[dict[str, Any]] = []
        t_trial = time.perf_counter()

        def finish(state: str, message: str = "") -> None:
            """Record the trial (its folds' mean scores so far) and report it."""
            record.update(_mean(finals), state=state, seconds=round(time.perf_counter() - t_trial, 2),
                          **({"message": message} if message else {}))
            trials.append(record)
            if on_trial:
                on_trial(record)

        for fold in folds:
            config = trial_config(spec, search_id, trial.number, params, fold)
            run_id = store.create_run(config.to_dict(), "queued", origin=origin, session=session,
                                      sweep_id=search_id)
            record["run_ids"].append(run_id)
            record["run_id"] = record["run_id"] or run_id
            trial.set_user_attr("run_ids", record["run_ids"])
            halt = threading.Event()
            pruned: dict[str, Any] = {}

            def report(event: str, payload: dict[str, Any], halt: threading.Event = halt,
                       pruned: dict[str, Any] = pruned, in_cv: bool = fold is not None) -> None:
                if stop.is_set():
                    halt.set()
                if in_cv or event != "eval" or payload["step"] == 0 or payload.get(metric) is None:
                    return  # cross-validation reports once per fold instead
                trial.report(float(payload[metric]), int(payload["step"]))
                if trial.should_prune():
                    pruned.update(step=payload["step"], score=payload[metric])
                    halt.set()

            out = execute_run(config, store, run_id, stop=halt, extra_callbacks=[report], data=fold_data[fold])
            record["status"] = out["status"]
            if pruned:
                message = pruned_message(spec, pruned["step"], pruned["score"])
                store.set_status(run_id, "stopped", message)
                finals.append(out["final"] or {})
                finish("PRUNED", message)
                raise optuna.TrialPruned(message)
            if run_score(spec, out) is None:
                finish("FAIL", out["message"] or f"{spec.validator} could not be scored")
                raise optuna.TrialPruned(record["message"]) if out["status"] == "stopped" else _TrialFailed(record)
            finals.append(out["final"])
            if fold is not None and fold < len(folds) - 1:  # the running cross-validated mean, fold by fold
                running = _mean(finals)["validators"][spec.validator]
                trial.report(float(running), fold)
                if trial.should_prune():
                    finish("PRUNED", f"pruned by the {spec.pruner} pruner after fold {fold + 1} ({spec.validator} = "
                                     f"{running:.4g}, the mean so far)")
                    raise optuna.TrialPruned(record["message"])
        if spec.cross_validates:
            record["cv"] = {"folds": spec.cv_folds, spec.validator: [f["validators"][metric] for f in finals]}
        finish("COMPLETE")
        return float(record["validators"][spec.validator])

    def budget_left(study: Any, trial: Any) -> None:
        if stop.is_set() or (spec.minutes is not None and time.perf_counter() - t0 > spec.minutes * 60):
            study.stop()

    study.optimize(objective, n_trials=spec.trials, callbacks=[budget_left], catch=(_TrialFailed,))
    return trials


def trial_record(spec: TuneSpec, store: RunStore, number: int, params: dict[str, Any], run_id: int,
                 out: dict[str, Any], pruned: dict[str, Any] | None, seconds: float) -> dict[str, Any]:
    """One trial's record from its recorded run, as :func:`run_tune` keeps it locally: state ``COMPLETE``,
    ``PRUNED`` (``pruned``: the ``step`` and ``score`` where the pruner stopped it; its run is then marked stopped
    with :func:`pruned_message`) or ``FAIL``, its validators' scores and target accuracy."""
    record: dict[str, Any] = {"number": number, "params": params, "run_id": run_id, "run_ids": [run_id],
                              "validators": {}, "target_acc": None, "status": out["status"]}
    if pruned:
        state, message = "PRUNED", pruned_message(spec, pruned["step"], pruned["score"])
        store.set_status(run_id, "stopped", message)
        finals = [out["final"] or {}]
    elif run_score(spec, out) is None:
        state, message, finals = "FAIL", out["message"] or f"{spec.validator} could not be scored", []
    else:
        state, message, finals = "COMPLETE", "", [out["final"]]
    record.update(_mean(finals), state=state, seconds=round(seconds, 2), **({"message": message} if message else {}))
    return record


def _mean(finals: list[dict[str, Any]]) -> dict[str, Any]:
    """A trial's ``validators`` ({validator name: score}) and ``target_acc``: one run's, or their means over the
    folds it ran."""
    scored = [f for f in finals if f]
    validators_mean = {}
    for v in validators().values():
        values = [f["validators"][v.metric] for f in scored if (f.get("validators") or {}).get(v.metric) is not None]
        if values:
            validators_mean[v.name] = float(sum(values) / len(values))
    accs = [f["target_acc"] for f in scored if f.get("target_acc") is not None]
    return {"validators": validators_mean, "target_acc": float(sum(accs) / len(accs)) if accs else None}


class _TrialFailed(Exception):
    """A trial whose run failed or could not be scored (recorded, the search goes on)."""


def summary(spec: TuneSpec, trials: list[dict[str, Any]], search_id: int, seconds: float,
            study_name: str) -> dict[str, Any]:
    """The search's record: its trials, the best trial by each validator, and the validators' agreement."""
    done = [t for t in trials if t["state"] == "COMPLETE"]
    best = {}
    for v in validators().values():
        pick = v.pick(done, lambda t, name=v.name: t["validators"].get(name))
        if pick is not None:
            best[v.name] = {"trial": pick["number"], "params": pick["params"], "score": pick["validators"][v.name],
                            "target_acc": pick["target_acc"]}
    return {"search_id": search_id, "study": study_name, "validator": spec.validator, "sampler": spec.sampler,
            "pruner": spec.pruner, "trials": trials, "best": best, "agreement": agreement(done),
            "seconds": round(seconds, 2),
            "trials_per_minute": round(len(trials) / (seconds / 60), 2) if seconds > 0 else None}


def agreement(trials: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Per validator over finished trials with a target accuracy: ``spearman`` (its score, sign-flipped where
    lower is better, against target accuracy; None with fewer than 3 trials or no spread) and ``regret`` (the
    best target accuracy minus that of the trial it would pick)."""
    from scipy.stats import spearmanr

    labelled = [t for t in trials if t.get("target_acc") is not None]
    if not labelled:
        return {}
    top = max(t["target_acc"] for t in labelled)
    out: dict[str, dict[str, float | None]] = {}
    for v in validators().values():
        scored = [t for t in labelled if t["validators"].get(v.name) is not None]
        if not scored:
            continue
        sign = 1.0 if v.higher_is_better else -1.0
        scores = [sign * t["validators"][v.name] for t in scored]
        accs = [t["target_acc"] for t in scored]
        rho = None
        if len(scored) >= 3 and len(set(scores)) > 1 and len(set(accs)) > 1:
            rho = float(spearmanr(scores, accs).statistic)
        pick = v.pick(scored, lambda t, name=v.name: t["validators"][name])
        out[v.name] = {"spearman": rho, "regret": top - pick["target_acc"]}
    return out
