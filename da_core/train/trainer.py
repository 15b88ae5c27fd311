"""The fine-tuning loop: a backbone plus a linear head, trained on source (and a few labelled target) samples.

The trainer knows nothing of the UI (minGPT style): it reports through callbacks ``fn(event, payload)`` with
events ``start``, ``step``, ``eval``, ``epoch`` and ``end``, and checks a stop flag (``threading.Event``)
between batches.  A NaN/inf loss ends the run with status ``diverged``, keeping the metrics so far.

Every random choice (batch order, weighted sampling, target batches, augmentation draws, head init) comes
from generators seeded by ``config.seed``, so a seed reproduces a run on the CPU.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from da_core.data import Dataset
from da_core.errors import SpecError
from da_core.train.config import TrainConfig

Callback = Callable[[str, dict[str, Any]], None]
"""A callback receives an event name (start, step, eval, epoch, end) and a JSON-able payload."""

STATUSES = ("queued", "running", "finished", "stopped", "diverged", "failed", "interrupted")

# ------------------------------------------------------------------------------------------------ data


@dataclass
class TrainData:
    """The splits one run uses, all sharing ``classes`` (the classes both domains have) and one image shape."""

    classes: list[str]
    source_train: Dataset
    source_eval: Dataset
    target_train: Dataset
    target_labelled: Dataset
    target_eval: Dataset
    source_weights: torch.Tensor | None = None  # one weight per source_train sample, or None (uniform)
    conversions: list[str] = field(default_factory=list)  # what was converted to bring both to one shape
    notes: list[str] = field(default_factory=list)  # other adjustments the run made (said in its record)

    def sizes(self) -> dict[str, int]:
        """Counts shown in the start event."""
        return {"source_train": len(self.source_train), "source_eval": len(self.source_eval),
                "target_train": len(self.target_train), "target_labelled": len(self.target_labelled),
                "target_eval": len(self.target_eval)}


_DATASETS: OrderedDict[str, Dataset] = OrderedDict()
_DATASETS_LOCK = threading.Lock()


def _load(spec: str) -> Dataset:
    """Load a dataset by spec, keeping the last few in memory (a sweep loads the same pair many times)."""
    from da_core.data import load_dataset, resolve

    key = str(resolve(spec)[1])
    with _DATASETS_LOCK:
        if key in _DATASETS:
            _DATASETS.move_to_end(key)
            return _DATASETS[key]
    ds = load_dataset(key)
    with _DATASETS_LOCK:
        _DATASETS[key] = ds
        while len(_DATASETS) > 6:
            _DATASETS.popitem(last=False)
    return ds


def prepare_data(config: TrainConfig, source: Dataset | None = None, target: Dataset | None = None) -> TrainData:
    """Load (unless given), align classes and image shape, split off held-out sets and pick the labelled target
    samples.  Raises :class:`SpecError` before any training when the run could not be evaluated.

    ``source_subset``/``source_weights`` index the whole source dataset; only its training part is used.
    """
    from da_core.data import align_pair, stratified_split

    src_full = source if source is not None else _load(config.source)
    tgt_full = target if target is not None else _load(config.target)
    n_source_full = len(src_full)
    src_full, tgt_full, alignment = align_pair(src_full, tgt_full)
    if len(src_full) != n_source_full and (config.source_subset is not None or config.source_weights is not None):
        raise SpecError("source_subset: indices refer to the whole source, but some source classes are not in "
                        "the target; select from the shared classes only")
    src_train_idx, src_eval_idx = stratified_split(src_full.labels.numpy(), config.source_eval_fraction,
                                                 config.split_seed)
    tgt_train_idx, tgt_eval_idx = stratified_split(tgt_full.labels.numpy(), config.target_eval_fraction,
                                                 config.split_seed + 1)
    _check_evaluable(src_full, src_eval_idx, "source")
    _check_evaluable(tgt_full, tgt_eval_idx, "target")
    notes = _unscored_classes(tgt_full, tgt_eval_idx)
    weights = None
    if config.source_subset is not None:
        subset = np.asarray(config.source_subset, dtype=np.int64)
        if subset.max() >= len(src_full):
            raise SpecError(f"source_subset: index {int(subset.max())} is past the source's {len(src_full)} samples")
        src_train_idx = np.intersect1d(src_train_idx, subset)
        if len(src_train_idx) < 2:
            raise SpecError("source_subset: fewer than 2 of the chosen samples are in the training split")
    elif config.source_weights is not None:
        if len(config.source_weights) != len(src_full):
            raise SpecError(f"source_weights: expected one weight per source sample ({len(src_full)}), "
                            f"got {len(config.source_weights)}")
        w = np.asarray(config.source_weights, dtype=np.float64)[src_train_idx]
        if not (w > 0).any():
            raise SpecError("source_weights: every training-split sample has weight 0")
        weights = torch.from_numpy(w / w.max())  # only ratios matter; dividing by the largest cannot overflow
    labelled = _per_class(tgt_full.labels.numpy()[tgt_train_idx], config.target_labels_per_class,
                          config.split_seed + 2)
    return TrainData(
        classes=list(src_full.classes),
        source_train=src_full.subset(src_train_idx),
        source_eval=src_full.subset(src_eval_idx),
        target_train=tgt_full.subset(tgt_train_idx),
        target_labelled=tgt_full.subset(tgt_train_idx[labelled]),
        target_eval=tgt_full.subset(tgt_eval_idx),
        source_weights=weights,
        conversions=list(alignment.conversions),
        notes=notes,
    )


def _check_evaluable(ds: Dataset, held_idx: np.ndarray, role: str) -> None:
    """Refuse a run whose held-out ``role`` set would be empty (its accuracy could not be measured)."""
    if len(held_idx):
        return
    raise SpecError(f"{role} {ds.domain!r}: every class has a single sample ({len(ds)} in all), and each must "
                    f"stay for training, so none is left to evaluate the run on; give the {role} at least 2 "
                    "samples in some class")


def _unscored_classes(ds: Dataset, held_idx: np.ndarray) -> list[str]:
    """A note naming the classes with no held-out sample (their target accuracy is not measured)."""
    present = set(np.unique(ds.labels.numpy()[held_idx]).tolist())
    missing = [name for i, name in enumerate(ds.classes) if i not in present]
    if not missing:
        return []
    return [f"target classes {', '.join(missing[:10])}{' …' if len(missing) > 10 else ''} have too few samples to "
            "hold one out: target accuracy covers the other classes only"]


def _per_class(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Positions of up to ``k`` seeded samples of each class."""
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:k] for c in np.unique(labels)]
    return np.sort(np.concatenate(chosen))


# ----------------------------------------------------------------------------------------------- model


class Classifier(nn.Module):
    """Backbone (images -> features) plus a linear head (features -> class logits)."""

    def __init__(self, backbone: nn.Module, head: nn.Linear) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


class _GradReverse(torch.autograd.Function):
    """Identity forward; gradient multiplied by ``-coeff`` backward (Ganin & Lempitsky, 2015)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, coeff: float) -> torch.Tensor:  # type: ignore[override]
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return -ctx.coeff * grad, None


def grad_reverse(x: torch.Tensor, coeff: float) -> torch.Tensor:
    """The gradient-reversal layer DANN puts between the features and the domain discriminator."""
    return _GradReverse.apply(x, coeff)


def dann_lambda(progress: float) -> float:
    """The usual DANN schedule 2 / (1 + exp(-10 p)) - 1: 0 at the start, close to 1 at the end."""
    return 2.0 / (1.0 + math.exp(-10.0 * min(max(progress, 0.0), 1.0))) - 1.0


@dataclass
class Backbone:
    """A fresh, trainable copy of a backbone, its preprocessing, and a source-trained head when it has one."""

    module: nn.Module
    preprocess: Callable[[torch.Tensor], torch.Tensor]
    dim: int
    head: nn.Linear | None
    description: str


def load_backbone(backbone_id: str, classes: list[str], device: torch.device) -> Backbone:
    """A copy of the backbone on ``device`` (the cached model is never modified).

    ``digits-cnn`` brings its own source-trained head when the classes are the digits 0-9 in order.
    """
    if backbone_id == "digits-cnn":
        from da_core.models import digits_input, load_digits_cnn

        base, info = load_digits_cnn()
        module = copy.deepcopy(base.features).to(device)
        head = None
        if classes == [str(i) for i in range(10)] and base.head.out_features == 10:
            head = copy.deepcopy(base.head).to(device)
        return Backbone(module, digits_input, int(base.embed_dim), head,
                        f"digits-cnn (pretrained on {info.source_spec})")
    from da_core.embed import get_embedder

    emb = get_embedder(backbone_id)
    if emb.joint_pca is not None or backbone_id.startswith("pixels"):
        raise SpecError(f"backbone: {backbone_id!r} has no trainable layers; use digits-cnn or torchvision:ARCH")
    why = emb.unavailable()
    if why:
        raise SpecError(f"backbone: {backbone_id} is unavailable: {why}")
    module = copy.deepcopy(emb.load(device))
    with torch.no_grad():
        probe = torch.zeros(2, 3, emb.info.input_size or 28, emb.info.input_size or 28, dtype=torch.uint8)
        dim = int(module(emb.preprocess(probe.to(device))).flatten(1).shape[1])
    return Backbone(module, emb.preprocess, dim, None, emb.info.label)


# --------------------------------------------------------------------------------------------- results


@dataclass
class TrainResult:
    """What a run produced: status, final metrics, per-epoch history and the target confusion matrix."""

    status: str
    final: dict[str, Any]
    history: list[dict[str, Any]]
    seconds: float
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"status": self.status, "final": self.final, "history": self.history,
                "seconds": round(self.seconds, 3), "message": self.message, "details": self.details}


def _clean(value: float | None) -> float | None:
    """A float fit for JSON (NaN/inf become None)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


# --------------------------------------------------------------------------------------------- trainer


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
        self._preds: tuple[torch.Tensor, torch.Tensor] | None = None

    def add_callback(self, fn: Callback) -> None:
        """Register ``fn(event, payload)``."""
        self.callbacks.append(fn)

    def _record_epoch(self, epoch: int, step: int, losses: list[float], correct: int, seen: int,
                      domain: list[float], last: dict[str, Any], lr: float, t_epoch: float) -> None:
        """Append one per-epoch history record (a partial epoch after Stop too) and report it."""
        record = {"epoch": epoch, "step": step, "train_loss": float(np.mean(losses)),
                  "train_acc": correct / max(seen, 1), **last, "lr": lr,
                  "seconds": round(time.perf_counter() - t_epoch, 3)}
        if domain:
            record["domain_loss"] = float(np.mean(domain))
        self.history.append(record)
        self._emit("epoch", record)

    def _emit(self, event: str, payload: dict[str, Any]) -> None:
        for fn in self.callbacks:
            fn(event, payload)

    # ------------------------------------------------------------------------------ helpers

    def _augmenter(self) -> Callable[[torch.Tensor, torch.Tensor, torch.Generator], Any] | None:
        cfg = self.config
        if not cfg.augmented:
            return None
        from da_core.augment import Pipeline

        pipe = Pipeline.from_dict(cfg.pipeline)
        k = len(self.data.classes)  # type: ignore[union-attr]
        return lambda x, y, gen: pipe.apply(x, labels=y, strength=cfg.strength, generator=gen, num_classes=k)

    @torch.no_grad()
    def _features(self, images: torch.Tensor, batch: int = 1024) -> torch.Tensor:
        """Backbone features of uint8 images (on the device), in eval mode, batched."""
        bb = self.model.backbone
        was_training = bb.training
        bb.eval()
        out = [bb(self.preprocess(images[i:i + batch])).flatten(1) for i in range(0, len(images), batch)]
        bb.train(was_training and self.config.mode == "full")
        return torch.cat(out) if out else images.new_zeros((0, self.dim), dtype=torch.float32)

    @torch.no_grad()
    def _predict(self, images: torch.Tensor, head: nn.Module | None = None) -> torch.Tensor:
        return (head or self.model.head)(self._features(images)).argmax(1)

    def _fit_probe(self, features: torch.Tensor, labels: torch.Tensor, k: int) -> nn.Linear:
        """A linear head fitted on frozen source features (L-BFGS, zero start: deterministic)."""
        head = nn.Linear(features.shape[1], k).to(features.device)
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        opt = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=100, history_size=20,
                                line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = F.cross_entropy(head(features), labels) + 1e-4 * head.weight.square().sum()
            loss.backward()
            return loss

        with torch.enable_grad():
            opt.step(closure)
        return head

    # --------------------------------------------------------------------------------- run

    def run(self) -> TrainResult:
        """Train to the end (or until stopped or diverged) and evaluate; see the module docstring."""
        from da_core.embed.device import describe_device, pick_device

        cfg = self.config
        t_start = time.perf_counter()
        device = pick_device(cfg.device)
        if self.data is None:
            self.data = prepare_data(cfg)
        data = self.data
        k = len(data.classes)
        gen = torch.Generator().manual_seed(cfg.seed)          # batches, sampling, head init
        aug_gen = torch.Generator().manual_seed(cfg.seed + 7919)  # augmentation draws
        torch.manual_seed(cfg.seed)  # anything that still draws from the global generator

        bb = load_backbone(cfg.backbone, data.classes, device)
        self.preprocess, self.dim = bb.preprocess, bb.dim
        head = nn.Linear(bb.dim, k).to(device)
        self.model = Classifier(bb.module, head).to(device)
        src_x, src_y = data.source_train.images.to(device), data.source_train.labels.to(device)
        lab_x, lab_y = data.target_labelled.images.to(device), data.target_labelled.labels.to(device)
        tgt_x = data.target_train.images.to(device)
        sev_x, sev_y = data.source_eval.images.to(device), data.source_eval.labels.to(device)
        tev_x, tev_y = data.target_eval.images.to(device), data.target_eval.labels.to(device)

        # Source-only baseline: the backbone with a source-trained head (its own, or a probe).
        baseline_head = bb.head if bb.head is not None and cfg.head_init != "probe" else None
        if baseline_head is None:
            baseline_head = self._fit_probe(self._features(src_x), src_y, k)
        if cfg.head_init == "random":
            bound = 1.0 / math.sqrt(bb.dim)
            with torch.no_grad():
                head.weight.copy_((torch.rand(head.weight.shape, generator=gen) * 2 - 1) * bound)
                head.bias.copy_((torch.rand(head.bias.shape, generator=gen) * 2 - 1) * bound)
        else:
            head.load_state_dict(baseline_head.state_dict())
        baseline_head = copy.deepcopy(baseline_head).eval()
        for p in baseline_head.parameters():
            p.requires_grad_(False)

        augment = self._augmenter()
        t_eval = time.perf_counter()
        base_src_pred, base_tgt_pred = self._predict(sev_x, baseline_head), self._predict(tev_x, baseline_head)
        baseline = {"source_acc": _acc(base_src_pred, sev_y), "target_acc": _acc(base_tgt_pred, tev_y)}
        affinity = None
        if augment is not None:  # source-only model on augmented vs clean held-out source
            aug_src = augment(sev_x, sev_y, torch.Generator().manual_seed(cfg.seed + 104729)).images
            clean = baseline["source_acc"]
            affinity = _acc(self._predict(aug_src, baseline_head), sev_y) / clean if clean > 0 else None
        eval_seconds = time.perf_counter() - t_eval

        # Optimiser: head (and discriminator) at lr, backbone at lr * backbone_lr_scale (full mode).
        discriminator = None
        groups: list[dict[str, Any]] = [{"params": list(head.parameters()), "lr": cfg.lr, "name": "head"}]
        if cfg.mode == "full":
            groups.append({"params": list(bb.module.parameters()), "lr": cfg.lr * cfg.backbone_lr_scale,
                           "name": "backbone"})
            bb.module.train()
        else:
            bb.module.eval()
            for p in bb.module.parameters():
                p.requires_grad_(False)
        if cfg.dann:
            discriminator = nn.Sequential(nn.Linear(bb.dim, 64), nn.ReLU(), nn.Linear(64, 1)).to(device)
            _seeded_init(discriminator, gen)
            groups.append({"params": list(discriminator.parameters()), "lr": cfg.lr, "name": "discriminator"})
        if cfg.optimizer == "adamw":
            opt: torch.optim.Optimizer = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
        else:
            opt = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)

        n_src, n_lab = len(src_x), len(lab_x)
        notes = list(data.notes)  # this run's own copy: a sweep shares one TrainData between runs
        batch_size = effective_batch_size(cfg.batch_size, n_src + n_lab)
        if batch_size != cfg.batch_size:
            notes.append(f"batch size {cfg.batch_size} is larger than the {n_src + n_lab} training samples; "
                         f"used {batch_size} (all of them) per step")
        steps_per_epoch = max(1, math.ceil(n_src / batch_size))
        total = cfg.max_steps if cfg.max_steps is not None else cfg.epochs * steps_per_epoch
        epochs = math.ceil(total / steps_per_epoch)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(cfg, total))
        probs = None
        if n_lab or data.source_weights is not None:  # weighted sampling with replacement
            ws = data.source_weights if data.source_weights is not None else torch.ones(n_src, dtype=torch.float64)
            share = cfg.target_share if n_lab else 0.0
            probs = torch.cat([ws / ws.sum() * (1 - share), torch.full((n_lab,), share / max(n_lab, 1),
                                                                        dtype=torch.float64)])
        pool_x = torch.cat([src_x, lab_x]) if n_lab else src_x
        pool_y = torch.cat([src_y, lab_y]) if n_lab else src_y

        self._emit("start", {"total_steps": total, "steps_per_epoch": steps_per_epoch, "epochs": epochs,
                             "device": describe_device(device), "backbone": bb.description, "classes": data.classes,
                             "sizes": data.sizes(), "baseline": baseline, "affinity": affinity,
                             "batch_size": batch_size, "conversions": data.conversions, "notes": notes})
        if cfg.head_init == "random":
            last = self._eval(sev_x, sev_y, tev_x, tev_y, 0, 0)
        else:  # the model starts as the baseline
            self._preds, last = (base_src_pred, base_tgt_pred), dict(baseline)
            self._emit("eval", {"step": 0, "epoch": 0, **last})

        status, message = "finished", ""
        step, last_eval_step, epoch = 0, 0, 0
        epoch_losses: list[float] = []
        epoch_domain: list[float] = []
        epoch_correct, epoch_seen = 0, 0
        eval_before = eval_seconds
        t_train = time.perf_counter()
        for epoch in range(1, epochs + 1):
            start_step = step
            mid_epoch_evals = {start_step + round(i * steps_per_epoch / cfg.evals_per_epoch)
                               for i in range(1, cfg.evals_per_epoch)} - {start_step, start_step + steps_per_epoch}
            epoch_losses, epoch_domain, epoch_correct, epoch_seen = [], [], 0, 0
            t_epoch = time.perf_counter()
            if probs is None:
                order = torch.randperm(n_src, generator=gen)
                batches = [order[i:i + batch_size] for i in range(0, n_src, batch_size)]
                if len(batches) > 1 and len(batches[-1]) < 2:
                    batches.pop()  # a batch of one breaks batch norm
            else:
                drawn = torch.multinomial(probs, steps_per_epoch * batch_size, replacement=True, generator=gen)
                batches = list(drawn.split(batch_size))
            for idx in batches:
                if step >= total:
                    break
                if self.stop.is_set():
                    status, message = "stopped", f"stopped by the user after {step} steps"
                    break
                t_step = time.perf_counter()
                idx = idx.to(device)
                xb, yb = pool_x[idx], pool_y[idx]
                soft = None
                if augment is not None:
                    out = augment(xb, yb, aug_gen)
                    xb, soft = out.images, out.soft_labels
                x = self.preprocess(xb)
                domain_loss = None
                lam = 0.0
                if discriminator is not None:
                    tidx = torch.randint(len(tgt_x), (len(idx),), generator=gen).to(device)
                    feats = bb.module(torch.cat([x, self.preprocess(tgt_x[tidx])])).flatten(1)
                    logits = head(feats[:len(idx)])
                    lam = dann_lambda(step / total)
                    dom = discriminator(grad_reverse(feats, lam * cfg.dann_weight)).squeeze(1)
                    dom_y = torch.cat([torch.zeros(len(idx), device=device), torch.ones(len(idx), device=device)])
                    domain_loss = F.binary_cross_entropy_with_logits(dom, dom_y)
                elif cfg.mode == "linear":
                    with torch.no_grad():
                        feats = bb.module(x).flatten(1)
                    logits = head(feats)
                else:
                    logits = head(bb.module(x).flatten(1))
                cls_loss = _loss(logits, yb, soft, cfg.label_smoothing, k)
                loss = cls_loss if domain_loss is None else cls_loss + domain_loss
                loss_value = float(loss.detach())
                if not math.isfinite(loss_value):
                    status = "diverged"
                    message = f"the loss became {loss_value} at step {step + 1}; try a lower learning rate"
                    break
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                lr = opt.param_groups[0]["lr"]
                sched.step()
                step += 1
                correct = int((logits.detach().argmax(1) == yb).sum())
                epoch_correct += correct
                epoch_seen += len(idx)
                epoch_losses.append(float(cls_loss.detach()))
                payload: dict[str, Any] = {"step": step, "epoch": epoch, "train_loss": epoch_losses[-1],
                                           "train_acc": correct / len(idx), "lr": lr,
                                           "throughput": len(idx) / max(time.perf_counter() - t_step, 1e-9)}
                if domain_loss is not None:
                    epoch_domain.append(float(domain_loss.detach()))
                    payload["domain_loss"] = epoch_domain[-1]
                    payload["dann_lambda"] = lam
                self._emit("step", payload)
                if step in mid_epoch_evals and step < total:
                    t_eval = time.perf_counter()
                    last = self._eval(sev_x, sev_y, tev_x, tev_y, step, epoch)
                    last_eval_step = step
                    eval_seconds += time.perf_counter() - t_eval
            if status != "finished" or not epoch_losses:
                break
            t_eval = time.perf_counter()
            last = self._eval(sev_x, sev_y, tev_x, tev_y, step, epoch)
            last_eval_step = step
            eval_seconds += time.perf_counter() - t_eval
            self._record_epoch(epoch, step, epoch_losses, epoch_correct, epoch_seen, epoch_domain, last,
                               opt.param_groups[0]["lr"], t_epoch)
            if step >= total:
                break
        train_seconds = max(time.perf_counter() - t_train - (eval_seconds - eval_before), 0.0)

        # Final evaluation (also after Stop: the model is fine, only shorter-trained).
        details: dict[str, Any] = {"classes": data.classes, "conversions": data.conversions, "notes": notes,
                                   "batch_size": batch_size, "sizes": data.sizes(),
                                   "baseline_confusion": _confusion(base_tgt_pred, tev_y, k),
                                   "baseline_per_class": _per_class_acc(base_tgt_pred, tev_y, k)}
        if status != "diverged":
            if last_eval_step != step or self._preds is None:
                t_eval = time.perf_counter()
                last = self._eval(sev_x, sev_y, tev_x, tev_y, step, epoch)
                eval_seconds += time.perf_counter() - t_eval
            src_pred, tgt_pred = self._preds  # type: ignore[misc]
            if last_eval_step != step and status == "stopped" and epoch_losses:  # a partial epoch still counts
                self._record_epoch(epoch, step, epoch_losses, epoch_correct, epoch_seen, epoch_domain, last,
                                   opt.param_groups[0]["lr"], t_epoch)
            details["confusion"] = _confusion(tgt_pred, tev_y, k)
            details["per_class"] = _per_class_acc(tgt_pred, tev_y, k)
        seconds = time.perf_counter() - t_start
        recent = epoch_losses or ([self.history[-1]["train_loss"]] if self.history else [])
        final = {
            "source_acc": last["source_acc"],
            "target_acc": last["target_acc"],
            "train_loss": _clean(float(np.mean(recent))) if recent else None,
            "baseline_source_acc": baseline["source_acc"],
            "baseline_target_acc": baseline["target_acc"],
            "affinity": _clean(affinity),
            "steps": step,
            "total_steps": total,
            "seconds": round(seconds, 3),
            "train_seconds": round(train_seconds, 3),
            "eval_seconds": round(eval_seconds, 3),
            "samples_per_s": round(step * batch_size / train_seconds, 1) if train_seconds > 0 else None,
        }
        if epoch_domain:
            final["domain_loss"] = float(np.mean(epoch_domain))
        result = TrainResult(status, final, list(self.history), seconds, message, details)
        self._emit("end", {"status": status, "message": message, "final": final})
        return result

    def _eval(self, sev_x: torch.Tensor, sev_y: torch.Tensor, tev_x: torch.Tensor, tev_y: torch.Tensor,
              step: int, epoch: int) -> dict[str, Any]:
        self._preds = (self._predict(sev_x), self._predict(tev_x))
        metrics = {"source_acc": _acc(self._preds[0], sev_y), "target_acc": _acc(self._preds[1], tev_y)}
        self._emit("eval", {"step": step, "epoch": epoch, **metrics})
        return metrics


def effective_batch_size(requested: int, pool: int) -> int:
    """The batch a run really uses: the requested size, at most the training pool (at least 2: batch norm)."""
    return max(2, min(int(requested), int(pool)))


def run_training(config: TrainConfig, callbacks: list[Callback] | None = None, stop: threading.Event | None = None,
                 data: TrainData | None = None) -> TrainResult:
    """Convenience: build a :class:`Trainer` and run it."""
    return Trainer(config, data, callbacks, stop).run()


# ------------------------------------------------------------------------------------------- helpers


def _schedule(cfg: TrainConfig, total: int) -> Callable[[int], float]:
    """The learning-rate multiplier at a step."""
    if cfg.schedule == "cosine":
        return lambda t: 0.5 * (1.0 + math.cos(math.pi * min(t, total) / total))
    if cfg.schedule == "step":
        every = cfg.step_every or max(1, total // 3)
        return lambda t: cfg.step_gamma ** (t // every)
    return lambda t: 1.0


def _loss(logits: torch.Tensor, labels: torch.Tensor, soft: torch.Tensor | None, smoothing: float,
          k: int) -> torch.Tensor:
    """Cross-entropy with label smoothing, on soft labels when MixUp/CutMix produced them."""
    if soft is None:
        return F.cross_entropy(logits, labels, label_smoothing=smoothing)
    target = soft.to(logits.dtype)
    if smoothing:
        target = target * (1 - smoothing) + smoothing / k
    return -(target * F.log_softmax(logits, dim=1)).sum(1).mean()


def _seeded_init(module: nn.Module, gen: torch.Generator) -> None:
    """PyTorch's default Linear init, drawn from ``gen``."""
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.Linear):
                bound = 1.0 / math.sqrt(layer.in_features)
                layer.weight.copy_((torch.rand(layer.weight.shape, generator=gen) * 2 - 1) * bound)
                layer.bias.copy_((torch.rand(layer.bias.shape, generator=gen) * 2 - 1) * bound)


def _acc(pred: torch.Tensor, labels: torch.Tensor) -> float:
    return float((pred == labels).float().mean()) if len(labels) else float("nan")


def _confusion(pred: torch.Tensor, labels: torch.Tensor, k: int) -> list[list[int]]:
    """Rows: true class, columns: predicted class."""
    flat = (labels.cpu() * k + pred.cpu()).bincount(minlength=k * k)
    return flat.view(k, k).tolist()


def _per_class_acc(pred: torch.Tensor, labels: torch.Tensor, k: int) -> list[float | None]:
    out: list[float | None] = []
    for c in range(k):
        mask = labels == c
        out.append(float((pred[mask] == c).float().mean()) if bool(mask.any()) else None)
    return out
