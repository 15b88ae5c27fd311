"""The fine-tuning loop: a backbone plus a linear head, trained on source (and a few labelled target) samples.

The trainer is made of parts, each in its own module, and knows nothing of the UI (minGPT style):

- the splits and the data plan (:mod:`da_core.train.data`): pools, sampling, batch size, step budget, collate;
- the source-only baseline as its own step (:mod:`da_core.train.baseline`);
- the objective as a strategy (:mod:`da_core.train.objectives`: cross-entropy, DANN, adversarial training);
- the strength schedule (:mod:`da_core.train.schedule`): the augmentation strength of every step;
- evaluation as a scheduled callback (:mod:`da_core.train.evaluation`), and the robustness measure of a finished
  run (:mod:`da_core.train.robustness`).

It reports through callbacks ``fn(event, payload)`` with events ``start``, ``step``, ``eval``, ``epoch`` and
``end``, and checks a stop flag (``threading.Event``) between batches.  A NaN/inf loss ends the run with status
``diverged``, keeping the metrics so far.

Every random choice (batch order, weighted sampling, target batches, augmentation draws, head init) comes
from generators seeded by ``config.seed``, so a seed reproduces a run on the CPU.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from da_core.data import check_modality
from da_core.embed import Backbone, get_embedder
from da_core.embed.device import describe_device, pick_device
from da_core.train.adversarial import Space, eps_scale, space_for
from da_core.train.augmenting import Augmenter, augmenter_for
from da_core.train.baseline import Baseline, source_only_baseline
from da_core.train.config import TrainConfig
from da_core.train.data import Batch, DataPlan, TrainData, effective_batch_size, prepare_data
from da_core.train.evaluation import Evaluator, confusion, per_class_accuracy
from da_core.train.film import FilmRecorder
from da_core.train.lora import parameter_counts, with_lora
from da_core.train.objectives import Objective, StepInputs, dann_lambda, grad_reverse, objective_for
from da_core.train.robustness import RobustnessInputs, measure_robustness
from da_core.train.schedule import StrengthSchedule
from da_core.train.validators import best_by

__all__ = ["STATUSES", "Callback", "Classifier", "TrainData", "TrainResult", "Trainer", "dann_lambda",
           "effective_batch_size", "grad_reverse", "prepare_data", "run_training"]

Callback = Callable[[str, dict[str, Any]], None]
"""A callback receives an event name (start, step, eval, epoch, end) and a JSON-able payload."""

FEATURE_GAP_ROWS = 1000  # held-out samples per domain in a run's learned feature gap (MMD²)
STATUSES = ("queued", "running", "finished", "stopped", "diverged", "failed", "interrupted")


class Classifier(nn.Module):
    """Backbone (images -> features) plus a linear head (features -> class logits)."""

    def __init__(self, backbone: nn.Module, head: nn.Linear) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


@dataclass
class TrainResult:
    """What a run produced: status, final metrics, per-epoch history and the target confusion matrix."""

    status: str
    final: dict[str, Any]
    history: list[dict[str, Any]]
    seconds: float
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    film: bytes | None = None  # the training film (:mod:`da_core.train.film`), kept with the run by the store

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (without the film)."""
        return {"status": self.status, "final": self.final, "history": self.history,
                "seconds": round(self.seconds, 3), "message": self.message, "details": self.details}


@dataclass
class _Epoch:
    """Running sums of one epoch (a partial one after Stop too)."""

    number: int
    started: float = field(default_factory=time.perf_counter)
    losses: list[float] = field(default_factory=list)
    logs: dict[str, list[float]] = field(default_factory=dict)
    correct: int = 0
    seen: int = 0


@dataclass
class _Run:
    """The parts one run is made of, built by :meth:`Trainer._set_up`."""

    device: torch.device
    data: TrainData
    k: int
    backbone: Backbone
    plan: DataPlan
    baseline: Baseline
    objective: Objective
    opt: torch.optim.Optimizer
    sched: Any
    evaluate: Evaluator
    augment: Augmenter | None
    gen: torch.Generator
    aug_gen: torch.Generator
    schedule: StrengthSchedule
    space: Space | None  # where adversarial perturbations live (training and the robustness measure)
    eps_scale: float  # the adversarial ball's radius at strength 1
    film: FilmRecorder | None = None  # the held-out features at each evaluation (``config.film``)


class Trainer:
    """One fine-tuning run.  ``run()`` returns a :class:`TrainResult`; errors other than a diverging loss
    propagate (the job layer records them as ``failed``)."""

    def __init__(self, config: TrainConfig, data: TrainData | None = None, callbacks: list[Callback] | None = None,
                 stop: threading.Event | None = None) -> None:
        self.config = config.validate()
        self.data = data
        self.callbacks: list[Callback] = list(callbacks or [])
        self.stop = stop or threading.Event()
        self.history: list[dict[str, Any]] = []
        # linear mode: the held-out sets' features (by the id of the plan's tensor; None until computed)
        self._frozen: dict[int, torch.Tensor | None] = {}

    def add_callback(self, fn: Callback) -> None:
        """Register ``fn(event, payload)``."""
        self.callbacks.append(fn)

    def _emit(self, event: str, payload: dict[str, Any]) -> None:
        for fn in self.callbacks:
            fn(event, payload)

    # ------------------------------------------------------------------------------ parts

    def _augment(self, run: _Run, batch: Batch, strength: float | None = None) -> Batch:
        """The batch with the pipeline at ``strength`` (None: the config's) applied to the rows ``augment_on`` names
        (all of them for ``both``)."""
        rows = None
        if self.config.augment_on != "both" and batch.from_target is not None:
            rows = batch.from_target if self.config.augment_on == "target" else ~batch.from_target
            if bool(rows.all()):
                rows = None
            elif not bool(rows.any()):
                return batch
        if rows is None:
            return run.augment(batch, run.aug_gen, strength)
        out = run.augment(batch.rows(rows), run.aug_gen, strength)
        inputs = batch.inputs.clone()
        inputs[rows] = out.inputs
        texts = batch.texts
        if texts is not None and out.texts is not None:
            edited = iter(out.texts)
            texts = [next(edited) if keep else t for t, keep in zip(texts, rows.tolist())]
        soft = None
        if out.soft is not None:  # MixUp/CutMix mixed the augmented rows among themselves
            soft = nn.functional.one_hot(batch.labels, run.k).to(out.soft.dtype)
            soft[rows] = out.soft
        return Batch(inputs, batch.labels, soft, batch.from_target, texts)

    @torch.no_grad()
    def _features(self, images: torch.Tensor, batch: int = 1024) -> torch.Tensor:
        """Backbone features of raw inputs (uint8 images or token ids, on the device), in eval mode, batched."""
        frozen = id(images) in self._frozen  # linear mode's held-out sets: their features never change
        if frozen and self._frozen[id(images)] is not None:
            return self._frozen[id(images)]  # type: ignore[return-value]
        bb = self.model.backbone
        was_training = bb.training
        bb.eval()
        batch = min(batch, self.eval_batch)
        order = self.order(images) if self.order is not None and len(images) > batch else None
        x = images if order is None else images[order]
        out = [bb(self.preprocess(x[i:i + batch])).flatten(1) for i in range(0, len(x), batch)]
        bb.train(was_training and self.config.mode != "linear")
        if not out:
            return images.new_zeros((0, self.dim), dtype=torch.float32)
        feats = torch.cat(out)
        feats = feats if order is None else feats[torch.argsort(order)]
        if frozen:
            self._frozen[id(images)] = feats
        return feats

    def _feature_gap(self, run: _Run) -> float | None:
        """MMD² between the trained backbone's features of the held-out source and target (at most
        :data:`FEATURE_GAP_ROWS` of each, seeded): how close the run brought the domains in its own features."""
        from da_core.gap import mmd2

        feats = run.evaluate.features
        if feats is None:
            (sx, _), (tx, _) = run.plan.source_eval, run.plan.target_eval
            feats = (self._features(sx), self._features(tx))
        fs, ft = (_capped(f.float(), FEATURE_GAP_ROWS, self.config.split_seed + i) for i, f in enumerate(feats))
        if len(fs) < 2 or len(ft) < 2:
            return None
        return _clean(mmd2(fs, ft, seed=self.config.split_seed, device=fs.device))

    def _robustness(self, run: _Run) -> dict[str, Any] | None:
        """The finished model's robustness on held-out target samples (:mod:`da_core.train.robustness`)."""
        tx, ty = run.plan.target_eval
        if not len(ty):
            return None
        return measure_robustness(RobustnessInputs(
            run.data.source_train.modality, tx, ty, lambda x: self.model.head(self.model.backbone(x).flatten(1)),
            self.preprocess, (self.model.backbone, self.model.head), run.space, run.plan.target_eval_texts,
            run.plan.encode, self.config.robust_samples, self.config.split_seed, min(self.eval_batch, 256), self.order))

    @torch.no_grad()
    def _predict(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.head(self._features(images)).argmax(1)

    def _train_features(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone on a preprocessed batch as the mode trains it (frozen, without a graph, in linear mode)."""
        if self.config.mode == "linear":
            with torch.no_grad():
                return self.model.backbone(x).flatten(1)
        return self.model.backbone(x).flatten(1)

    def _start_head(self, head: nn.Linear, baseline: Baseline, gen: torch.Generator) -> None:
        """The head the run starts from: the baseline's, or a seeded random one (``head_init`` random)."""
        if self.config.head_init == "random":
            bound = 1.0 / math.sqrt(head.in_features)
            with torch.no_grad():
                head.weight.copy_((torch.rand(head.weight.shape, generator=gen) * 2 - 1) * bound)
                head.bias.copy_((torch.rand(head.bias.shape, generator=gen) * 2 - 1) * bound)
        else:
            head.load_state_dict(baseline.head.state_dict())
            head.requires_grad_(True)

    @staticmethod
    def _importance(baseline: Baseline, plan: DataPlan, seed: int) -> Any:
        """The held-out source's density-ratio weights for IWV and DEV, from the backbone's features before
        training (held-out target as the target sample); uniform, with a note, when they cannot be fitted."""
        from da_core.train.validators import importance_weights

        try:
            return importance_weights(*baseline.features, seed=seed)  # type: ignore[misc]
        except Exception as exc:  # e.g. too few samples for the cross-fitted classifier
            plan.notes.append(f"IWV and DEV use uniform weights: the domain classifier could not be fitted ({exc})")
            return None

    def _optimizer(self, objective: Objective) -> torch.optim.Optimizer:
        """Head (and the objective's modules) at lr, backbone at lr * backbone_lr_scale (full mode)."""
        cfg = self.config
        groups: list[dict[str, Any]] = [{"params": list(self.model.head.parameters()), "lr": cfg.lr, "name": "head"}]
        if cfg.mode == "full":
            groups.append({"params": list(self.model.backbone.parameters()), "lr": cfg.lr * cfg.backbone_lr_scale,
                           "name": "backbone"})
            self.model.backbone.train()
        elif cfg.mode == "lora":  # the adapters only (peft froze the rest), at the head's learning rate
            groups.append({"params": [p for p in self.model.backbone.parameters() if p.requires_grad], "lr": cfg.lr,
                           "name": "adapters"})
            self.model.backbone.train()
        else:
            self.model.backbone.eval()
            for p in self.model.backbone.parameters():
                p.requires_grad_(False)
        groups += objective.parameter_groups(cfg.lr)
        if cfg.optimizer == "adamw":
            return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)

    def _record_epoch(self, epoch: _Epoch, step: int, last: dict[str, Any], lr: float) -> None:
        """Append one per-epoch history record (a partial epoch after Stop too) and report it."""
        record = {"epoch": epoch.number, "step": step, "train_loss": float(np.mean(epoch.losses)),
                  "train_acc": epoch.correct / max(epoch.seen, 1), **last, "lr": lr,
                  "seconds": round(time.perf_counter() - epoch.started, 3)}
        record.update({name: float(np.mean(values)) for name, values in epoch.logs.items()})
        self.history.append(record)
        self._emit("epoch", record)

    # --------------------------------------------------------------------------------- run

    def run(self) -> TrainResult:
        """Train to the end (or until stopped or diverged) and evaluate; see the module docstring."""
        t_start = time.perf_counter()
        run = self._set_up()
        self._emit("start", {"total_steps": run.plan.total, "steps_per_epoch": run.plan.steps_per_epoch,
                             "epochs": run.plan.epochs, "device": describe_device(run.device),
                             "backbone": run.backbone.description, "classes": run.data.classes,
                             "sizes": run.data.sizes(), "baseline": run.baseline.metrics,
                             "affinity": run.baseline.affinity, "batch_size": run.plan.batch_size,
                             "conversions": run.data.conversions, "notes": run.plan.notes,
                             "parameters": self.parameters, "mode": self.config.mode})
        # a random head is scored; otherwise the model starts as the baseline, already scored
        last = (run.evaluate(0, 0) if self.config.head_init == "random"
                else run.evaluate.adopt(run.baseline.predictions, 0, 0, run.baseline.logits))
        if run.film is not None and not run.film.steps:  # the film starts from the backbone before training
            run.film.capture(0, run.baseline.features)
        eval_before = run.evaluate.seconds
        t_train = time.perf_counter()
        status, message, step, epoch, last = self._train(run, last)
        train_seconds = max(time.perf_counter() - t_train - (run.evaluate.seconds - eval_before), 0.0)
        return self._finish(run, status, message, step, epoch, last, train_seconds, t_start)

    def _set_up(self) -> _Run:
        """Data, seeded generators, backbone and head, the data plan, the baseline step, objective and optimiser."""
        cfg = self.config
        device = pick_device(cfg.device)
        if self.data is None:
            self.data = prepare_data(cfg)
        data = self.data
        k = len(data.classes)
        gen = torch.Generator().manual_seed(cfg.seed)          # batches, sampling, head init
        aug_gen = torch.Generator().manual_seed(cfg.seed + 7919)  # augmentation draws
        torch.manual_seed(cfg.seed)  # anything that still draws from the global generator

        embedder = get_embedder(cfg.backbone)
        check_modality(data.source_train, embedder.info.modality, f"backbone {cfg.backbone!r}")
        bb = embedder.backbone(data.classes, device)
        if cfg.mode == "lora":
            bb.module = with_lora(bb.module, cfg, bb.lora_targets)
        self.preprocess, self.dim, self.eval_batch, self.order = bb.preprocess, bb.dim, bb.eval_batch, bb.order
        head = nn.Linear(bb.dim, k).to(device)
        self.model = Classifier(bb.module, head).to(device)
        plan = DataPlan(data, cfg, device, bb.encode)
        if cfg.mode == "linear":  # the plan keeps these tensors for the run, so their ids stay theirs
            self._frozen = {id(plan.source_eval[0]): None, id(plan.target_eval[0]): None}
        augment = augmenter_for(cfg, data, plan)
        baseline = source_only_baseline(bb, plan, cfg, k, self._features, augment)
        self._start_head(head, baseline, gen)
        objective = objective_for(cfg)(cfg, bb.dim, device, gen)
        opt = self._optimizer(objective)
        self.parameters = parameter_counts(opt, self.model)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(cfg, plan.total))
        evaluate = Evaluator(plan, self._predict, self._emit, features=self._features,
                             logits=lambda f: self.model.head(f),
                             source_weights=self._importance(baseline, plan, cfg.split_seed), seed=cfg.split_seed)
        evaluate.seconds = baseline.seconds
        film = FilmRecorder(plan.source_eval[1].cpu(), plan.target_eval[1].cpu(), cfg.split_seed) if cfg.film \
            else None
        if film is not None:
            evaluate.on_features = film.capture
        modality = data.source_train.modality
        space = space_for(modality, bb.preprocess, bb.module, bb.pad_id) if cfg.adversarial or cfg.robustness \
            else None
        if cfg.adversarial and space is None:
            plan.notes.append(f"adversarial training needs the encoder's input embeddings, which {cfg.backbone} does "
                              "not expose: trained on clean batches")
        return _Run(device, data, k, bb, plan, baseline, objective, opt, sched, evaluate, augment, gen, aug_gen,
                    StrengthSchedule(cfg), space, eps_scale(modality, cfg.adv_eps), film)

    def _train(self, run: _Run, last: dict[str, Any]) -> tuple[str, str, int, _Epoch, dict[str, Any]]:
        """The loop over epochs and batches: (status, message, steps done, the last epoch, its last metrics)."""
        cfg, plan, total = self.config, run.plan, run.plan.total
        status, message = "finished", ""
        step = 0
        epoch = _Epoch(0)
        for number in range(1, plan.epochs + 1):
            mid_epoch = Evaluator.mid_epoch_steps(step, plan.steps_per_epoch, cfg.evals_per_epoch)
            epoch = _Epoch(number)
            for idx in plan.epoch_batches(run.gen):
                if step >= total:
                    break
                if self.stop.is_set():
                    status, message = "stopped", f"stopped by the user after {step} steps"
                    break
                t_step = time.perf_counter()
                batch = plan.collate(idx)
                strength = run.schedule.at(step, total)
                if run.augment is not None:
                    batch = self._augment(run, batch, strength)
                result = run.objective.loss(StepInputs(
                    batch, self.preprocess(batch.inputs), self._train_features, self.model.backbone,
                    self.model.head, self.preprocess, plan, step / total, run.gen, run.k, strength, run.space,
                    run.eps_scale))
                loss_value = float(result.loss.detach())
                if not math.isfinite(loss_value):
                    status = "diverged"
                    message = f"the loss became {loss_value} at step {step + 1}; try a lower learning rate"
                    break
                run.opt.zero_grad(set_to_none=True)
                result.loss.backward()
                run.opt.step()
                lr = run.opt.param_groups[0]["lr"]
                run.sched.step()
                step += 1
                n = len(batch.labels)
                correct = int((result.logits.detach().argmax(1) == batch.labels).sum())
                epoch.correct += correct
                epoch.seen += n
                strengths = {}
                if run.augment is not None or cfg.objective == "adversarial":
                    run.schedule.observe(correct / n)  # the accuracy on the augmented batch steers adaptive
                    strengths = {"aug_strength": strength}
                    epoch.logs.setdefault("aug_strength", []).append(strength)
                epoch.losses.append(float(result.cls_loss.detach()))
                for name in run.objective.epoch_means:
                    epoch.logs.setdefault(name, []).append(result.logs[name])
                self._emit("step", {"step": step, "epoch": number, "train_loss": epoch.losses[-1],
                                    "train_acc": correct / n, "lr": lr, **result.logs, **strengths,
                                    "throughput": n / max(time.perf_counter() - t_step, 1e-9)})
                if step in mid_epoch and step < total:
                    last = run.evaluate(step, number)
            if status != "finished" or not epoch.losses:
                break
            last = run.evaluate(step, number)
            self._record_epoch(epoch, step, last, run.opt.param_groups[0]["lr"])
            if step >= total:
                break
        return status, message, step, epoch, last

    def _finish(self, run: _Run, status: str, message: str, step: int, epoch: _Epoch, last: dict[str, Any],
                train_seconds: float, t_start: float) -> TrainResult:
        """The final evaluation (also after Stop: the model is fine, only shorter-trained), details and result."""
        k, baseline, evaluate = run.k, run.baseline, run.evaluate
        feature_gap = None
        tev_y = run.plan.target_eval[1]
        details: dict[str, Any] = {"classes": run.data.classes, "conversions": run.data.conversions,
                                   "notes": run.plan.notes, "batch_size": run.plan.batch_size,
                                   "sizes": run.data.sizes(), "parameters": self.parameters,
                                   "baseline_confusion": confusion(baseline.predictions[1], tev_y, k),
                                   "baseline_per_class": per_class_accuracy(baseline.predictions[1], tev_y, k)}
        if status != "diverged":
            evaluated_now = evaluate.last_step == step
            if not evaluated_now:
                last = evaluate(step, epoch.number)
            if not evaluated_now and status == "stopped" and epoch.losses:  # a partial epoch still counts
                self._record_epoch(epoch, step, last, run.opt.param_groups[0]["lr"])
            target_pred = evaluate.predictions[1]  # type: ignore[index]
            details["confusion"] = confusion(target_pred, tev_y, k)
            details["per_class"] = per_class_accuracy(target_pred, tev_y, k)
            feature_gap = self._feature_gap(run)
        robustness = self._robustness(run) if status == "finished" and self.config.robustness else None
        seconds = time.perf_counter() - t_start
        recent = epoch.losses or ([self.history[-1]["train_loss"]] if self.history else [])
        final = {
            "source_acc": last["source_acc"],
            "target_acc": last["target_acc"],
            "train_loss": _clean(float(np.mean(recent))) if recent else None,
            "baseline_source_acc": baseline.metrics["source_acc"],
            "baseline_target_acc": baseline.metrics["target_acc"],
            "affinity": _clean(baseline.affinity),
            "feature_mmd2": feature_gap,
            "steps": step,
            "total_steps": run.plan.total,
            "seconds": round(seconds, 3),
            "train_seconds": round(train_seconds, 3),
            "robust_seconds": robustness["seconds"] if robustness else None,
            "eval_seconds": round(evaluate.seconds, 3),
            "samples_per_s": round(step * run.plan.batch_size / train_seconds, 1) if train_seconds > 0 else None,
            "trainable_params": self.parameters["trainable"],
            "total_params": self.parameters["total"],
        }
        final.update({name: float(np.mean(values)) for name, values in epoch.logs.items()})
        final["validators"] = {k: v for k, v in evaluate.metrics.items() if k.startswith("val_")}
        final["best_by"] = best_by(evaluate.history)
        final["robustness"] = robustness
        self._emit("end", {"status": status, "message": message, "final": final})
        film = run.film.to_bytes() if run.film is not None and status != "diverged" else None
        return TrainResult(status, final, list(self.history), seconds, message, details, film)


def _capped(x: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """At most ``n`` rows of ``x``, a seeded sample (all of them when there are fewer)."""
    if len(x) <= n:
        return x
    return x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n].to(x.device)]


def run_training(config: TrainConfig, callbacks: list[Callback] | None = None, stop: threading.Event | None = None,
                 data: TrainData | None = None) -> TrainResult:
    """Convenience: build a :class:`Trainer` and run it."""
    return Trainer(config, data, callbacks, stop).run()


def _schedule(cfg: TrainConfig, total: int) -> Callable[[int], float]:
    """The learning-rate multiplier at a step."""
    if cfg.schedule == "cosine":
        return lambda t: 0.5 * (1.0 + math.cos(math.pi * min(t, total) / total))
    if cfg.schedule == "step":
        every = cfg.step_every or max(1, total // 3)
        return lambda t: cfg.step_gamma ** (t // every)
    return lambda t: 1.0


def _clean(value: float | None) -> float | None:
    """A float fit for JSON (NaN/inf become None)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)
