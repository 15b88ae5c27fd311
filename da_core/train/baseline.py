"""The source-only baseline, as its own step before training: the backbone with a source-trained head (its own
head when the embedder brings one for these classes, else the linear probe on frozen source features), scored
on the held-out sets, and the augmentation's affinity (that model on augmented vs clean held-out source)."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from da_core.embed import Backbone
from da_core.probe import fit_linear_probe
from da_core.train.config import TrainConfig
from da_core.train.data import Batch, DataPlan
from da_core.train.evaluation import accuracy

PROBE_L2 = 1e-4  # the baseline probe's penalty on ‖W‖² over the mean loss (raw, unstandardised features)


@dataclass
class Baseline:
    """The source-only model's head (frozen), its predictions and accuracies, the affinity, and the seconds its
    scoring took."""

    head: nn.Linear
    predictions: tuple[torch.Tensor, torch.Tensor]
    metrics: dict[str, float]
    affinity: float | None
    seconds: float
    logits: tuple[torch.Tensor, torch.Tensor] | None = None  # on the held-out (source, target), for validators
    features: tuple[torch.Tensor, torch.Tensor] | None = None  # the backbone's, before training


def source_only_baseline(backbone: Backbone, plan: DataPlan, config: TrainConfig, num_classes: int,
                         features: Callable[[torch.Tensor], torch.Tensor],
                         augment: Callable[[Batch, torch.Generator], Batch] | None) -> Baseline:
    """Build and score the baseline (see the module docstring); the head returned is a frozen copy."""
    head = backbone.head if backbone.head is not None and config.head_init != "probe" else None
    if head is None:
        x, y = plan.source_x, plan.source_y
        if backbone.probe_samples is not None and len(x) > backbone.probe_samples:  # a seeded part (text: each
            seeded = torch.Generator().manual_seed(config.split_seed + 5)           # sample is a forward pass)
            keep = torch.randperm(len(x), generator=seeded)
            keep = keep[:backbone.probe_samples].to(x.device)
            x, y = x[keep], y[keep]
        probe = fit_linear_probe(features(x), y, num_classes, standardize=False, l2=PROBE_L2)
        head = probe.as_linear(plan.device)
    head = copy.deepcopy(head).eval()
    for p in head.parameters():
        p.requires_grad_(False)
    t = time.perf_counter()
    (sx, sy), (tx, ty) = plan.source_eval, plan.target_eval

    def predict(x: torch.Tensor) -> torch.Tensor:
        return head(features(x)).argmax(1)

    feats = (features(sx), features(tx))
    logits = (head(feats[0]), head(feats[1]))
    preds = (logits[0].argmax(1), logits[1].argmax(1))
    metrics = {"source_acc": accuracy(preds[0], sy), "target_acc": accuracy(preds[1], ty)}
    affinity = None
    if augment is not None:  # the source-only model on augmented vs clean held-out source
        batch = Batch(sx, sy, texts=plan.source_eval_texts)
        augmented = augment(batch, torch.Generator().manual_seed(config.seed + 104729)).inputs
        clean = metrics["source_acc"]
        affinity = accuracy(predict(augmented), sy) / clean if clean > 0 else None
    return Baseline(head, preds, metrics, affinity, time.perf_counter() - t, logits, feats)
