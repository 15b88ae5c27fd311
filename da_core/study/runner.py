"""Run a comparison study: its set-up once (the source pools, the selection on each, the augmentation strength),
then every cell × seed × arm as a normal recorded run, tagged with the study, and the analysis after each.

- **Equal budget.** Every run of a study takes the same number of optimisation steps (a subset trains as many
  steps as the whole source split would), is scored on the same held-out splits (one ``split_seed``) and each
  seed is shared by every arm, so arms compare seed by seed.
- **Set-up.** A cell's source pool is a seeded, class-stratified share of the source (the whole of it at share
  1); the selecting arms train on the selector's top ``fraction`` of the pool (:func:`da_core.select.select_source`);
  the augmenting arms use ``strength`` or, when it is not given, the augmentation lab's measured sweet spot
  for the pipeline (:func:`da_core.augment.measure.measure_over_augmentation`, the lab's default settings).
  It is stored with the study, so a resumed study trains on exactly the same samples.
- **Resume.** Runs already finished are kept: running a stopped study again (same id) trains only what is
  missing.  Stop ends the current run within one batch.
"""

from __future__ import annotations

import logging
import math
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from da_core.errors import DAError, SpecError
from da_core.study.analysis import CellResult, cell_result, map_summary
from da_core.study.arms import Ingredients, get_arm
from da_core.study.spec import Cell, StudySpec
from da_core.train.config import TrainConfig
from da_core.train.store import RunStore, get_store

log = logging.getLogger(__name__)

POOL_SEED = 3  # added to the split seed: the source pools of a grid
SETUP_VERSION = 1


@dataclass
class Setup:
    """What every run of a study shares, found once: per source share the pool and the selected samples
    (positions in the whole source), the selection's record, and the augmentation strength with where it came
    from."""

    pools: dict[str, list[int] | None]
    selected: dict[str, list[int]]
    selections: dict[str, dict[str, Any]]
    pipeline: dict[str, Any] | None
    strength: float | None
    strength_note: str
    seconds: float
    notes: list[str] = field(default_factory=list)

    def ingredients(self, spec: StudySpec, share: float) -> Ingredients:
        """What the arms of a cell with this source share are made from."""
        key = _share_key(share)
        return Ingredients(self.pools.get(key), self.selected.get(key), self.selections.get(key), self.pipeline,
                           self.strength, spec.augment_on, spec.adv_strength)

    def to_dict(self) -> dict[str, Any]:
        """Stored with the study (a resumed study reads it back with :meth:`from_dict`)."""
        return {"version": SETUP_VERSION, "pools": self.pools, "selected": self.selected,
                "selections": self.selections, "pipeline": self.pipeline, "strength": self.strength,
                "strength_note": self.strength_note, "seconds": round(self.seconds, 3), "notes": self.notes}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Setup | None:
        """The stored set-up, or None when it is from another version."""
        if not isinstance(data, dict) or data.get("version") != SETUP_VERSION:
            return None
        return cls(data["pools"], data["selected"], data["selections"], data["pipeline"], data["strength"],
                   data["strength_note"], float(data.get("seconds", 0.0)), list(data.get("notes", [])))


def _share_key(share: float) -> str:
    return f"{share:g}"


@dataclass
class StudyResult:
    """A study's state: its runs' records, the analysis of every cell, and the headline cell's recommendation."""

    status: str
    study_id: int | None
    spec: StudySpec
    setup: Setup | None
    records: list[dict[str, Any]]
    cells: list[CellResult]
    seconds: float
    message: str = ""

    @property
    def main(self) -> CellResult | None:
        """The headline cell (:meth:`StudySpec.main_cell`)."""
        cell = self.spec.main_cell()
        return next((c for c in self.cells if c.k == cell.k and c.share == cell.share), None)

    @property
    def recommendation(self) -> str:
        """The headline cell's recommendation (empty before any run finished)."""
        main = self.main
        return main.recommendation.text if main is not None and main.recommendation is not None else ""

    def run_seconds(self) -> float:
        """The runs' own time (each run's ``seconds``: set-up of the model, training and evaluation)."""
        return float(sum(r.get("seconds") or 0.0 for r in self.records))

    def to_dict(self) -> dict[str, Any]:
        """The JSON ``compare`` prints and the store keeps."""
        main = self.main
        out: dict[str, Any] = {
            "study_id": self.study_id, "status": self.status, "name": self.spec.name, "message": self.message,
            "arms": [a.to_dict() for a in main.arms] if main is not None else [],
            "recommendation": self.recommendation,
            "recommendation_detail": main.recommendation.to_dict() if main and main.recommendation else None,
            "main_cell": {"k": self.spec.main_cell().k, "source_share": self.spec.main_cell().share},
            "seconds": round(self.seconds, 3), "run_seconds": round(self.run_seconds(), 3),
            "setup": self.setup.to_dict() if self.setup else None,
            "runs_total": self.spec.run_count(), "runs_done": len([r for r in self.records
                                                                    if r["status"] == "finished"]),
            "records": self.records,
            "plan": {"arms": list(self.spec.arms), "seeds": list(self.spec.seeds),
                     "cells": [c.key for c in self.spec.cells()],
                     "runs_per_arm": len(self.spec.cells()) * len(self.spec.seeds)},
        }
        if self.spec.is_grid:
            out["cells"] = [c.to_dict() for c in self.cells]
            out["map_summary"] = map_summary(self.cells)
        return out


# ------------------------------------------------------------------------------------------- set-up


def _pool(labels: np.ndarray, share: float, seed: int) -> list[int] | None:
    """Positions of a seeded, class-stratified ``share`` of the source (None: all of it)."""
    if share >= 1.0:
        return None
    from da_core.data.dataset import stratified_subset

    n = max(len(np.unique(labels)) * 2, int(round(share * len(labels))))
    return sorted(int(i) for i in stratified_subset(labels, min(n, len(labels)), seed))


def prepare_setup(spec: StudySpec, progress: Callable[[float, str], None] | None = None) -> Setup:
    """Pools, selections and the augmentation strength for ``spec`` (see the module docstring)."""
    from da_core.data import align_pair
    from da_core.train.data import load_cached

    report = progress or (lambda _f, _m: None)
    t0 = time.perf_counter()
    base = spec.base
    source, target = load_cached(base.source), load_cached(base.target)
    src, tgt, _ = align_pair(source, target)
    arms = [get_arm(a) for a in spec.arms]
    shares = sorted({c.share for c in spec.cells()}, reverse=True)
    needs_pool = any(s < 1.0 for s in shares)
    if len(src) != len(source) and (needs_pool or any(a.select for a in arms)):
        raise SpecError(f"the source {source.domain!r} has classes the target lacks; selecting or pooling the source "
                        "needs one whose classes are all in the target (use a source with the shared classes only)")
    labels = src.labels.numpy()
    pools = {_share_key(s): _pool(labels, s, base.split_seed + POOL_SEED) for s in shares}
    selected: dict[str, list[int]] = {}
    selections: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    if any(a.select for a in arms):
        from da_core.select import select_source

        embedder = spec.embedder or base.backbone
        for i, share in enumerate(shares):
            pool = pools[_share_key(share)]
            pool_ds = src if pool is None else src.subset(np.asarray(pool))
            report(0.5 * i / len(shares), f"selecting {spec.fraction:.0%} of {share:.0%} of the source "
                                          f"({spec.method})")
            result = select_source(pool_ds, tgt, spec.method, spec.params, spec.fraction, embedder=embedder,
                                   seed=base.split_seed, device=base.device)
            positions = np.flatnonzero(result.selected)
            chosen = positions if pool is None else np.asarray(pool)[positions]
            selected[_share_key(share)] = sorted(int(i) for i in chosen)
            after, full = result.point(spec.fraction), result.point(1.0)
            selections[_share_key(share)] = {
                "method": spec.method, "params": result.params, "fraction": spec.fraction, "use": "subset",
                "embedder": result.embedder, "n_selected": int(len(chosen)), "n_pool": len(pool_ds),
                "gap_before": full.mmd2, "gap_after": after.mmd2, "random_gap": after.random_mmd2}
            notes += [f"{share:.0%} of the source: {w}" for w in result.warnings]
    pipeline, strength, note = None, None, ""
    if any(a.augment for a in arms):
        pipeline, strength, note = _strength(spec, src, tgt, lambda f, m: report(0.5 + 0.5 * f, m))
    report(1.0, "set-up done")
    return Setup(pools, selected, selections, pipeline, strength, note, time.perf_counter() - t0, notes)


def _strength(spec: StudySpec, source: Any, target: Any,
              progress: Callable[[float, str], None]) -> tuple[dict[str, Any], float, str]:
    """The pipeline and the strength the augmenting arms use, with where the strength came from."""
    from da_core.augment import Pipeline
    from da_core.augment.text_ops import default_pipeline_for

    pipeline = Pipeline.from_dict(spec.pipeline) if spec.pipeline is not None else default_pipeline_for(
        source.modality)
    if spec.strength is not None:
        return pipeline.to_dict(), spec.strength, f"s = {spec.strength:.2f}, as given"
    from da_core.augment.lab import DEFAULT_GRID, MEASURE_GRIDS
    from da_core.augment.measure import measure_over_augmentation

    embedder = spec.embedder or spec.base.backbone
    report = measure_over_augmentation(pipeline, source, target, strengths=MEASURE_GRIDS[DEFAULT_GRID],
                                       embedder=embedder, seed=pipeline.seed, progress=progress)
    if report.sweet_spot is None or report.sweet_spot == 0:
        fallback = float(pipeline.strength)
        why = "no strength keeps the affinity above the threshold" if report.sweet_spot is None else \
            "the sweet spot is 0 (no augmentation)"
        return (pipeline.to_dict(), fallback,
                f"s = {fallback:.2f}, the pipeline's own strength: the lab measured no sweet spot ({why})")
    return (pipeline.to_dict(), float(report.sweet_spot),
            f"s = {report.sweet_spot:.2f}, the augmentation lab's measured sweet spot ({report.explanation})")


# --------------------------------------------------------------------------------------------- runs


def _record(run: Any, study: dict[str, Any]) -> dict[str, Any]:
    """A run's row in the study's results."""
    final = run.final or {}
    return {"cell": study["cell"], "k": study["k"], "share": study["share"], "arm": study["arm"],
            "seed": study["seed"], "title": study.get("title"), "run_id": run.id, "status": run.status,
            "target_acc": final.get("target_acc"), "source_acc": final.get("source_acc"),
            "feature_mmd2": final.get("feature_mmd2"), "seconds": final.get("seconds"),
            "train_seconds": final.get("train_seconds"), "steps": final.get("steps")}


def study_records(store: RunStore, study_id: int) -> list[dict[str, Any]]:
    """The records of every run the store holds for a study (oldest first)."""
    out = []
    for run in sorted(store.list_runs(sweep_id=study_id), key=lambda r: r.id):
        study = (run.config.get("extra") or {}).get("study")
        if isinstance(study, dict) and study.get("id") == study_id:
            out.append(_record(run, study))
    return out


def analyse(spec: StudySpec, records: list[dict[str, Any]]) -> list[CellResult]:
    """Every cell's analysis from the records."""
    return [cell_result(c.k, c.share, [r for r in records if r["cell"] == c.key], spec.arms) for c in spec.cells()]


def run_config(spec: StudySpec, setup: Setup, cell: Cell, arm_name: str, seed: int, study_id: int) -> TrainConfig:
    """The config of one run of the study."""
    arm = get_arm(arm_name)
    ingredients = setup.ingredients(spec, cell.share)
    title = arm.title(ingredients)
    where = f" · {cell.key}" if spec.is_grid else ""
    config = arm.configure(spec.base.replace(target_labels_per_class=cell.k), ingredients)
    extra = {**config.extra, "study": {"id": study_id, "cell": cell.key, "k": cell.k, "share": cell.share,
                                       "arm": arm_name, "seed": seed, "title": title}}
    return config.replace(seed=seed, name=f"study {study_id} · {title} · seed {seed}{where}", extra=extra)


def run_study(spec: StudySpec, store: RunStore | None = None, study_id: int | None = None,
              stop: threading.Event | None = None, job: Any = None, origin: str = "api", session: str | None = None,
              on_run: Callable[[int, int, int, str], None] | None = None,
              progress: Callable[[float], None] | None = None,
              on_setup: Callable[[float, str], None] | None = None, backend: str = "local",
              ray: Any = None) -> StudyResult:
    """Run (or resume, given the id of a stored study) every cell × seed × arm; see the module docstring.

    ``on_run(run_id, index, total, label)`` is called as each run starts, ``progress`` gets the overall fraction
    and ``on_setup`` the set-up's progress.  The study's result in the store is updated after every run.
    ``backend`` ``ray`` runs them as Ray tasks (each loads its own data by spec, as a local run does), as many at
    once as ``ray`` (:class:`da_core.scale.RayOptions`) allows.
    """
    from da_core.scale import check_backend
    from da_core.scale.runs import completed, ended_early, run_each
    from da_core.train.run import execute_run

    spec.validate()
    check_backend(backend)
    store = store or get_store()
    stop = stop or threading.Event()
    report = progress or (lambda f: None)
    t0 = time.perf_counter()
    setup = None
    if study_id is None:
        study_id = store.create_sweep(spec.to_dict(), "running", origin=origin, session=session, kind="study")
    else:
        stored = store.get_sweep(study_id)
        if stored is not None and stored.result:
            setup = Setup.from_dict(stored.result.get("setup") or {})
    store.set_sweep_status(study_id, "running")
    records = study_records(store, study_id)

    def save(status: str, message: str = "") -> StudyResult:
        result = StudyResult(status, study_id, spec, setup, records, analyse(spec, records),
                             time.perf_counter() - t0, message)
        store.set_sweep_status(study_id, status, message, result=result.to_dict())
        if job is not None:
            job._set(result=result.to_dict())
        return result

    try:
        if setup is None:
            setup = prepare_setup(spec, on_setup)
        save("running")
    except DAError as exc:
        store.set_sweep_status(study_id, "failed", str(exc))
        raise
    except Exception as exc:
        log.exception("study %s: the set-up failed", study_id)
        store.set_sweep_status(study_id, "failed", f"{type(exc).__name__}: {exc}")
        return StudyResult("failed", study_id, spec, None, records, [], time.perf_counter() - t0, str(exc))
    done = {(r["cell"], r["arm"], int(r["seed"])) for r in records if r["status"] == "finished"}
    plan = [(cell, seed, arm) for cell in spec.cells() for seed in spec.seeds for arm in spec.arms
            if (cell.key, arm, seed) not in done]
    total = spec.run_count()
    status, message = "finished", ""
    lock = threading.Lock()
    moved = [0.0] * len(plan)

    def one(index: int, train: Any = None) -> str:
        cell, seed, arm = plan[index]
        config = run_config(spec, setup, cell, arm, seed, study_id)
        run_id = store.create_run(config.to_dict(), "queued", origin=origin, session=session, sweep_id=study_id)
        position = total - len(plan) + index
        if on_run is not None:
            on_run(run_id, position, total, config.name)

        def step(f: float) -> None:
            with lock:
                moved[index] = f
                report((total - len(plan) + sum(moved)) / total)

        out = execute_run(config, store, run_id, job=job, stop=stop, progress=step,
                          train=train(run_id) if train else None)
        run = store.get_run(run_id)
        with lock:
            if run is not None:
                records.append(_record(run, config.extra["study"]))
            if out["status"] != "stopped":
                save("running", f"{position + 1} of {total} runs")
        return out["status"]

    statuses = run_each(len(plan), one, stop, backend, ray)
    if ended_early(statuses):
        before = total - len(plan)
        status = "stopped"
        message = (f"stopped during run {before + statuses.index('stopped') + 1} of {total}" if "stopped" in statuses
                   else f"stopped with {before + completed(statuses)} of {total} runs done")
    failed = [r for r in records if r["status"] in ("failed", "diverged")]
    if failed and not message:
        message = f"{len(failed)} runs {'/'.join(sorted({r['status'] for r in failed}))}; the others are kept"
    result = save(status, message)
    report(1.0)
    return result


def steps_per_run(base: TrainConfig, n_source: int) -> int:
    """The optimisation steps every run of a study takes on a source of ``n_source`` samples (the equal budget:
    ``max_steps``, else epochs over the whole source training split)."""
    if base.max_steps is not None:
        return int(base.max_steps)
    train = max(2, n_source - max(1, round(base.source_eval_fraction * n_source)))
    return base.epochs * max(1, math.ceil(train / min(base.batch_size, train)))


def estimate_seconds(spec: StudySpec, store: RunStore | None = None,
                     n_source: int | None = None) -> tuple[float | None, str]:
    """How long ``spec`` will likely take, from finished runs in the history: those with the same pair, backbone
    and budget (per arm kind: DANN and augmented runs take longer), else (given the source's size) the seconds
    per step of runs with the same backbone and mode; plus past studies' set-up.  (None, why) without any."""
    store = store or get_store()
    base = spec.base
    same, per_step = [], []
    for run in store.list_runs(status="finished", limit=500):
        cfg, fin = run.config, run.final or {}
        if not fin.get("seconds") or cfg.get("backbone") != base.backbone or cfg.get("mode") != base.mode:
            continue
        kind = (bool(cfg.get("dann")), cfg.get("pipeline") is not None)
        if fin.get("total_steps"):
            per_step.append((*kind, float(fin["seconds"]) / float(fin["total_steps"])))
        if all(cfg.get(f) == getattr(base, f) for f in ("source", "target", "epochs", "max_steps", "batch_size",
                                                        "evals_per_epoch")):
            same.append((*kind, float(fin["seconds"])))
    if same:
        times, scale = same, 1.0
        basis = f"from the median time of {len(same)} finished runs with this pair and budget"
    elif per_step and n_source:
        times, scale = per_step, float(steps_per_run(base, n_source))
        basis = (f"from the seconds per step of {len(per_step)} finished {base.backbone} runs on other pairs or "
                 f"budgets, at {int(scale)} steps a run")
    else:
        return None, ("no finished run of this backbone in the history yet: the estimate appears after the first "
                      "run")
    overall = statistics.median(t for _, _, t in times)
    total = 0.0
    for arm_name in spec.arms:
        arm = get_arm(arm_name)
        kind = [t for d, p, t in times if d == arm.dann and p == arm.augment]
        total += (statistics.median(kind) if kind else overall) * scale * len(spec.cells()) * len(spec.seeds)
    setups = [float((s.result or {}).get("setup", {}).get("seconds", math.nan))
              for s in store.list_sweeps(limit=20, kind="study") if s.result and s.result.get("setup")]
    setups = [s for s in setups if math.isfinite(s)]
    if setups:
        basis += f" and {len(setups)} studies' set-up"
    return total + (statistics.median(setups) if setups else 0.0), basis
