"""Evaluation as a scheduled callback: accuracy on the held-out source and target sets at step 0, at the
run's mid-epoch points, at each epoch's end and at the end; confusion matrices and per-class accuracy."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from da_core.train.data import DataPlan
from da_core.train.validators import ValidationInputs, score_all

Predict = Callable[[torch.Tensor], torch.Tensor]
Emit = Callable[[str, dict[str, Any]], None]


class Evaluator:
    """Scores the current model on the plan's held-out sets, times itself and reports ``eval`` events.

    ``predictions`` are the last evaluation's (source, target) predicted classes; ``last_step`` the step it ran at.
    Given ``features`` (inputs -> backbone features) and ``classify`` (features -> classes) instead of only
    ``predict``, it also keeps the last evaluation's (source, target) ``features``, for the learned feature gap.
    """

    def __init__(self, plan: DataPlan, predict: Predict, emit: Emit, *,
                 features: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 logits: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 source_weights: Any = None, seed: int = 0) -> None:
        self.plan = plan
        self.predict = predict
        self.emit = emit
        self._featurize, self._logits = features, logits
        self.source_weights, self.seed = source_weights, seed  # importance weights of the held-out source (IWV)
        self.seconds = 0.0
        self.last_step: int | None = None
        self.predictions: tuple[torch.Tensor, torch.Tensor] | None = None
        self.features: tuple[torch.Tensor, torch.Tensor] | None = None
        self.metrics: dict[str, Any] = {}
        self.history: list[dict[str, Any]] = []  # every evaluation's step and metrics (validators included)
        self.on_features: Callable[[int, tuple[torch.Tensor, torch.Tensor]], None] | None = None  # e.g. the film

    @staticmethod
    def mid_epoch_steps(start_step: int, steps_per_epoch: int, evals_per_epoch: int) -> set[int]:
        """The steps inside an epoch starting after ``start_step`` at which to evaluate (its end excluded)."""
        return ({start_step + round(i * steps_per_epoch / evals_per_epoch) for i in range(1, evals_per_epoch)}
                - {start_step, start_step + steps_per_epoch})

    def __call__(self, step: int, epoch: int) -> dict[str, Any]:
        """Evaluate now; returns and reports ``source_acc`` and ``target_acc``."""
        t = time.perf_counter()
        (sx, _), (tx, _) = self.plan.source_eval, self.plan.target_eval
        logits = None
        if self._featurize is not None and self._logits is not None:
            feats = (self._featurize(sx), self._featurize(tx))
            logits = (self._logits(feats[0]), self._logits(feats[1]))
            preds = (logits[0].argmax(1), logits[1].argmax(1))
        else:
            feats, preds = None, (self.predict(sx), self.predict(tx))
        out = self.adopt(preds, step, epoch, logits, timed_from=t)
        self.features = feats
        if feats is not None and self.on_features is not None:
            self.on_features(step, feats)
        return out

    def adopt(self, predictions: tuple[torch.Tensor, torch.Tensor], step: int, epoch: int,
              logits: tuple[torch.Tensor, torch.Tensor] | None = None,
              timed_from: float | None = None) -> dict[str, Any]:
        """Take predictions made elsewhere (the baseline's, when the model starts as the baseline) as this
        evaluation, and report them; with the ``logits`` behind them, also every validator's score."""
        t = time.perf_counter() if timed_from is None else timed_from
        (_, sy), (_, ty) = self.plan.source_eval, self.plan.target_eval
        self.predictions, self.last_step, self.features = predictions, step, None
        self.metrics = {"source_acc": accuracy(predictions[0], sy), "target_acc": accuracy(predictions[1], ty)}
        if logits is not None:
            with torch.no_grad():
                self.metrics.update(score_all(ValidationInputs(logits[0].detach(), sy, logits[1].detach(), ty,
                                                               self.source_weights, self.seed)))
        self.seconds += time.perf_counter() - t
        self.history.append({"step": step, **self.metrics})
        self.emit("eval", {"step": step, "epoch": epoch, **self.metrics})
        return dict(self.metrics)


def accuracy(pred: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of correct predictions (NaN for an empty set)."""
    return float((pred == labels).float().mean()) if len(labels) else float("nan")


def confusion(pred: torch.Tensor, labels: torch.Tensor, k: int) -> list[list[int]]:
    """Rows: true class, columns: predicted class."""
    flat = (labels.cpu() * k + pred.cpu()).bincount(minlength=k * k)
    return flat.view(k, k).tolist()


def per_class_accuracy(pred: torch.Tensor, labels: torch.Tensor, k: int) -> list[float | None]:
    """Accuracy within each true class (None for a class with no sample)."""
    out: list[float | None] = []
    for c in range(k):
        mask = labels == c
        out.append(float((pred[mask] == c).float().mean()) if bool(mask.any()) else None)
    return out
