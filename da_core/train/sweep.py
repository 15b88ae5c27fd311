"""Strength sweeps: "augment, but don't overdo it", confirmed with short fine-tuning runs.

A sweep trains the same base config at every augmentation strength (and optionally every learning rate)
for several seeds, through the same runner and run store as single runs.  Strength 0 is always included:
it is the reference for Diversity = final training loss with augmentation / without (same seed and lr).
Affinity is a source-trained model's accuracy on augmented held-out source / on clean held-out source:
the augmentation lab's measure when it is available, else the trainer's (its source-only model, before
training).  The best setting has the highest mean target accuracy.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from da_core.errors import DAError, SpecError
from da_core.stats import interval
from da_core.train.config import TrainConfig, check_seeds
from da_core.train.store import RunStore, get_store

log = logging.getLogger(__name__)

DEFAULT_STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)
ROTATION_AFFINE = {"ops": [{"name": "rotation"}, {"name": "translate"}, {"name": "shear"}], "strength": 0.5,
                   "seed": 0}


NO_OPS = {"ops": [], "strength": 0.5, "seed": 0}  # a sweep of adversarial training alone: strength drives ε only


def default_sweep_pipeline(base: TrainConfig) -> dict[str, Any]:
    """What a sweep augments with when it names no pipeline: nothing but the adversarial examples when the base
    trains adversarially; else rotation + translate + shear on an image pair, the text lab's starting pipeline
    (EDA synonym replacement + random deletion) on a text pair."""
    from da_core.data import modality_of

    if base.objective == "adversarial":
        return dict(NO_OPS)
    if modality_of(base.source) == "text":
        from da_core.augment.text_ops import default_text_pipeline

        return default_text_pipeline().to_dict()
    return dict(ROTATION_AFFINE)


@dataclass
class SweepSpec:
    """What to sweep: a base training config, a pipeline, strengths, seeds and optionally learning rates."""

    base: TrainConfig
    pipeline: dict[str, Any]
    strengths: list[float] = field(default_factory=lambda: list(DEFAULT_STRENGTHS))
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    lrs: list[float] | None = None
    name: str = ""
    schedules: list[str] | None = None  # strength schedules to compare (None: the base config's)

    def validate(self) -> SweepSpec:
        """Check every field; :class:`SpecError` names the bad one."""
        if not isinstance(self.pipeline, dict):
            raise SpecError("pipeline: expected a pipeline object")
        self.base = self.base.replace(pipeline=self.pipeline, strength=None)
        if not isinstance(self.strengths, list | tuple) or not self.strengths:
            raise SpecError("strengths: expected a non-empty list of numbers in [0, 1]")
        for i, s in enumerate(self.strengths):
            if isinstance(s, bool) or not isinstance(s, int | float) or not 0.0 <= float(s) <= 1.0:
                raise SpecError(f"strengths[{i}]: expected a number in [0, 1], got {s!r}")
        self.strengths = sorted({round(float(s), 6) for s in self.strengths} | {0.0})
        self.seeds = check_seeds(self.seeds)
        if self.lrs is not None:
            if not isinstance(self.lrs, list | tuple) or not self.lrs:
                raise SpecError("lrs: expected a non-empty list of learning rates or null")
            for i, lr in enumerate(self.lrs):
                if isinstance(lr, bool) or not isinstance(lr, int | float) or not 0 < float(lr) < 1e6:
                    raise SpecError(f"lrs[{i}]: expected a positive number, got {lr!r}")
            self.lrs = [float(lr) for lr in dict.fromkeys(self.lrs)]
        if self.schedules is not None:
            from da_core.train.config import STRENGTH_SCHEDULES

            if not isinstance(self.schedules, list | tuple) or not self.schedules:
                raise SpecError("schedules: expected a non-empty list of strength schedules or null")
            for i, name in enumerate(self.schedules):
                if name not in STRENGTH_SCHEDULES:
                    raise SpecError(f"schedules[{i}]: expected one of {', '.join(STRENGTH_SCHEDULES)}, got {name!r}")
            self.schedules = list(dict.fromkeys(self.schedules))
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (round-trips through :meth:`from_dict`)."""
        base = self.base.to_dict()
        base.pop("pipeline", None)
        return {"base": base, "pipeline": self.pipeline, "strengths": list(self.strengths),
                "seeds": list(self.seeds), "lrs": self.lrs, "name": self.name, "schedules": self.schedules}

    @classmethod
    def from_dict(cls, data: Any) -> SweepSpec:
        """Build and validate."""
        if not isinstance(data, dict):
            raise SpecError("sweep: expected a JSON object")
        unknown = sorted(set(data) - {"base", "pipeline", "strengths", "seeds", "lrs", "name", "schedules"})
        if unknown:
            raise SpecError(f"sweep: unknown field {unknown[0]!r}")
        base = TrainConfig.from_dict({k: v for k, v in (data.get("base") or {}).items() if k != "pipeline"})
        spec = cls(base, data.get("pipeline"), list(data.get("strengths", DEFAULT_STRENGTHS)),
                   list(data.get("seeds", [0, 1, 2])), data.get("lrs"), str(data.get("name", "")),
                   data.get("schedules"))
        return spec.validate()

    def grid(self) -> list[tuple[float, int, float, str]]:
        """(strength, seed, lr, schedule) of every run, seed-major so each seed's curves complete in turn.  Strength
        0 runs once per seed and lr whatever the schedules (no augmentation is scheduled the same every way)."""
        lrs = self.lrs or [self.base.lr]
        schedules = self.schedules or [self.base.strength_schedule]
        return [(s, seed, lr, sch) for lr in lrs for seed in self.seeds for sch in schedules for s in self.strengths
                if s > 0 or sch == schedules[0]]

    def config(self, strength: float, seed: int, lr: float, sweep_id: int | None = None,
               schedule: str | None = None) -> TrainConfig:
        """The training config of one grid point."""
        tag = f"sweep {sweep_id} · " if sweep_id is not None else "sweep · "
        lr_tag = f" lr={lr:g}" if self.lrs else ""
        schedule = schedule or self.base.strength_schedule
        sch_tag = f" {schedule}" if self.schedules and len(self.schedules) > 1 else ""
        return self.base.replace(pipeline=self.pipeline, strength=float(strength), seed=int(seed), lr=float(lr),
                                 strength_schedule=schedule, name=f"{tag}s={strength:g}{sch_tag} seed={seed}{lr_tag}")


@dataclass
class SweepResult:
    """Per-run results, a summary per setting, and the best setting."""

    status: str
    results: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    best_strength: float | None
    best_lr: float | None
    sweep_id: int | None
    seconds: float
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON the ``sweep`` command prints (and the store keeps)."""
        return {"status": self.status, "sweep_id": self.sweep_id, "results": self.results, "summary": self.summary,
                "best_strength": self.best_strength, "best_lr": self.best_lr, "seconds": round(self.seconds, 3),
                "message": self.message}


@dataclass(frozen=True)
class Peak:
    """Where a sweep's target accuracy peaks, and what is left of it at the highest strength swept."""

    strength: float  # the best strength (the sweep's pick)
    target_acc: float  # the highest mean target accuracy of any setting
    at_highest: float  # mean target accuracy at the highest strength

    @property
    def change(self) -> float:
        """Target accuracy at the highest strength minus the peak's (≤ 0: how much overdoing it costs)."""
        return self.at_highest - self.target_acc


def peak(result: dict[str, Any]) -> Peak | None:
    """The :class:`Peak` of a stored sweep result (:meth:`SweepResult.to_dict`); None without a best strength
    or a summary."""
    summary = result.get("summary") or []
    best = result.get("best_strength")
    if best is None or not summary:
        return None
    highest = max(row["strength"] for row in summary)
    at_highest = next(row["target_acc"] for row in summary if row["strength"] == highest)
    return Peak(best, max(row["target_acc"] for row in summary), at_highest)


def number_list(text: str) -> list[float]:
    """Numbers separated by commas or semicolons ('0, 0.25; 1' → [0.0, 0.25, 1.0]); ValueError on anything else."""
    return [float(v) for v in text.replace(";", ",").split(",") if v.strip()]


def add_diversity(results: list[dict[str, Any]]) -> None:
    """Set ``diversity`` on each result: its final training loss / the strength-0 run's (same seed and lr)."""
    reference = {(r["seed"], r["lr"]): r.get("train_loss") for r in results if r["strength"] == 0.0}
    for r in results:
        ref = reference.get((r["seed"], r["lr"]))
        loss = r.get("train_loss")
        r["diversity"] = (loss / ref) if loss is not None and ref else None


ROBUST_COLUMNS = ("corruption_acc", "adv_acc", "eps_half")  # from each run's final["robustness"]


def robust_columns(final: dict[str, Any]) -> dict[str, Any]:
    """A run's robustness figures for a sweep's results (None where it was not measured)."""
    rob = final.get("robustness") or {}
    return {name: rob.get(name) for name in ROBUST_COLUMNS}


def summarize(results: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], float | None, float | None]:
    """Per (lr, schedule, strength): mean/sd/95% interval of target accuracy over seeds, mean source accuracy,
    Diversity, Affinity and the robustness figures; and the best (strength, lr) by mean target accuracy (its
    schedule is the best row's)."""
    summary = []
    keys = sorted({(r["lr"], r.get("schedule", "constant"), r["strength"]) for r in results})
    for lr, schedule, strength in keys:
        group = [r for r in results if r["lr"] == lr and r["strength"] == strength
                 and r.get("schedule", "constant") == schedule
                 and r["target_acc"] is not None and math.isfinite(r["target_acc"])]
        if not group:  # nothing measured at this setting: it cannot be the best either
            continue
        ci = interval([r["target_acc"] for r in group])
        mean, sd, lo, hi = ci.mean, ci.sd, ci.low, ci.high
        summary.append({
            "strength": strength, "lr": lr, "schedule": schedule, "n": len(group),
            "target_acc": mean, "target_acc_sd": sd, "target_acc_low": max(lo, 0.0), "target_acc_high": min(hi, 1.0),
            "source_acc": _mean([r["source_acc"] for r in group]),
            "diversity": _mean([r.get("diversity") for r in group]),
            "affinity": _mean([r.get("affinity") for r in group]),
            **{name: _mean([r.get(name) for r in group]) for name in ROBUST_COLUMNS},
        })
    if not summary:
        return summary, None, None
    best = max(summary, key=lambda row: (row["target_acc"], -row["strength"]))
    for row in summary:
        row["best"] = row is best
    return summary, best["strength"], best["lr"]


def _mean(values: list[Any]) -> float | None:
    arr = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.mean(arr)) if arr else None


def measure_affinity(spec: SweepSpec, data: Any) -> dict[float, float] | None:
    """Affinity per strength as the augmentation lab measures it (a probe on the backbone's embeddings,
    :func:`da_core.augment.measure.measure_over_augmentation`), or None when that is not available; runs then
    fall back to the trainer's own measure (the source-only model on augmented held-out source)."""
    if not spec.pipeline.get("ops"):
        return None  # adversarial training alone: no pipeline to measure (the runs' own figures stand)
    try:
        from da_core.augment import Pipeline
        from da_core.augment.measure import measure_over_augmentation
    except ImportError:
        return None
    embedder = spec.base.backbone if spec.base.backbone != "pixels" else "digits-cnn"
    try:
        report = measure_over_augmentation(Pipeline.from_dict(spec.pipeline), data.source_train, data.target_train,
                                           strengths=spec.strengths, embedder=embedder, seed=spec.seeds[0])
    except Exception:  # the measure is a bonus: a failure leaves the per-run fallback in place
        log.warning("affinity measure failed; using the trainer's", exc_info=True)
        return None
    return {round(float(r.strength), 6): float(r.affinity) for r in report.results if math.isfinite(r.affinity)}


def run_sweep(spec: SweepSpec, store: RunStore | None = None, sweep_id: int | None = None,
              stop: threading.Event | None = None, job: Any = None, origin: str = "api", session: str | None = None,
              on_run: Callable[[int, int, int, str], None] | None = None,
              progress: Callable[[float], None] | None = None, backend: str = "local",
              ray: Any = None) -> SweepResult:
    """Run every grid point (each a normal run in the store, tagged with the sweep id) and summarise.

    ``on_run(run_id, index, total, label)`` is called as each run starts; ``progress`` gets the overall
    fraction.  Setting ``stop`` ends the current run within one batch and skips the rest (status stopped).
    ``backend`` ``ray`` runs the grid as Ray tasks, as many at once as ``ray``
    (:class:`da_core.scale.RayOptions`) allows, recorded here the same way (see :mod:`da_core.scale.ray_runs`).
    """
    from da_core.scale import check_backend
    from da_core.scale.runs import completed, ended_early, run_each
    from da_core.train.run import execute_run
    from da_core.train.trainer import prepare_data

    spec.validate()
    check_backend(backend)
    store = store or get_store()
    stop = stop or threading.Event()
    report = progress or (lambda f: None)
    t0 = time.perf_counter()
    if sweep_id is None:
        sweep_id = store.create_sweep(spec.to_dict(), "running", origin=origin, session=session)
    store.set_sweep_status(sweep_id, "running")
    grid = spec.grid()
    results: list[dict[str, Any] | None] = [None] * len(grid)
    status, message = "finished", ""
    try:
        data = prepare_data(spec.base)
    except DAError as exc:  # the user's data cannot make a run (e.g. nothing to evaluate): say so, run nothing
        store.set_sweep_status(sweep_id, "failed", str(exc))
        raise
    except Exception as exc:
        store.set_sweep_status(sweep_id, "failed", str(exc))
        return SweepResult("failed", [], [], None, None, sweep_id, time.perf_counter() - t0, str(exc))
    measured = measure_affinity(spec, data)
    done = [0.0] * len(grid)
    lock = threading.Lock()

    def one(index: int, train: Any = None) -> str:
        strength, seed, lr, schedule = grid[index]
        config = spec.config(strength, seed, lr, sweep_id, schedule)
        run_id = store.create_run(config.to_dict(), "queued", origin=origin, session=session, sweep_id=sweep_id)
        if on_run is not None:
            on_run(run_id, index, len(grid), config.name)

        def moved(f: float) -> None:
            with lock:
                done[index] = f
                report(sum(done) / len(grid))

        out = execute_run(config, store, run_id, job=job, stop=stop, data=None if train else data, progress=moved,
                          train=train(run_id) if train else None)
        final = out["final"] or {}
        results[index] = {"strength": strength, "seed": seed, "lr": lr, "schedule": schedule, "run_id": run_id,
                          "status": out["status"], "target_acc": final.get("target_acc"),
                          "source_acc": final.get("source_acc"), "train_loss": final.get("train_loss"),
                          **robust_columns(final),
                          "affinity": measured[strength] if measured and strength in measured
                          else 1.0 if strength == 0.0 else final.get("affinity")}
        return out["status"]

    statuses = run_each(len(grid), one, stop, backend, ray, data)
    if ended_early(statuses):
        status = "stopped"
        message = (f"stopped during run {statuses.index('stopped') + 1} of {len(grid)}" if "stopped" in statuses
                   else f"stopped after {completed(statuses)} of {len(grid)} runs")
    results = [r for r in results if r is not None]
    add_diversity(results)  # type: ignore[arg-type]
    summary, best_strength, best_lr = summarize([r for r in results if r["status"] == "finished"])
    failed = [r for r in results if r["status"] in ("failed", "diverged")]
    if failed and not message:
        message = f"{len(failed)} of {len(results)} runs {'/'.join(sorted({r['status'] for r in failed}))}"
    result = SweepResult(status, results, summary, best_strength, best_lr, sweep_id, time.perf_counter() - t0,
                         message)
    store.set_sweep_status(sweep_id, status, message, result=result.to_dict())
    report(1.0)
    return result
