"""Validators: how good a model looks on the target *without* its labels, computed at every evaluation of every
run and stored with its metrics, so a run (or, later, a search) can be picked without target labels.

Each validator is a registry entry (:func:`register_validator`) with its name, label, what it means and whether
higher is better; its function reads a :class:`ValidationInputs` (the model's logits on the held-out source with
its labels and importance weights, and on the held-out target, whose labels only the oracle reads):

- ``source-acc``: accuracy on the held-out source;
- ``iwv``: importance-weighted validation (Sugiyama et al. 2007): the source accuracy with each sample weighted
  by w(x) = p_t(x)/p_s(x), the density-ratio weights of source selection (a cross-fitted domain classifier);
- ``dev``: deep embedded validation (You et al. 2019): IWV's weighted loss with its control variate
  (η = −Cov(wℓ, w)/Var(w)), which lowers the estimator's variance; on the 0-1 loss, reported as an accuracy;
- ``entropy``: the mean entropy of the target predictions (lower: more confident);
- ``im``: information maximisation, the entropy of the mean target prediction minus the mean entropy
  (confident and diverse);
- ``snd``: soft neighbourhood density (Saito et al. 2021): the entropy of each target sample's softmax-weighted
  similarity to the others' predictions (temperature 0.05), averaged (higher: denser clusters);
- ``target-acc``: the target accuracy, the oracle: shown next to the others, never used to pick unless asked.

With uniform weights IWV and DEV equal the source accuracy (a test holds it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

SND_TEMPERATURE = 0.05  # Saito et al.'s temperature
SND_MAX_SAMPLES = 2000  # its similarity matrix is n x n: a seeded part of larger target sets


@dataclass
class ValidationInputs:
    """What a validator may read: logits on the held-out source with labels and importance weights (None:
    uniform), logits on the held-out target, and the target labels (the oracle only)."""

    source_logits: torch.Tensor
    source_labels: torch.Tensor
    target_logits: torch.Tensor
    target_labels: torch.Tensor | None = None
    source_weights: np.ndarray | None = None
    seed: int = 0


@dataclass(frozen=True)
class Validator:
    """A registry entry."""

    name: str
    label: str
    summary: str
    fn: Callable[[ValidationInputs], float | None]
    higher_is_better: bool = True
    oracle: bool = False  # reads target labels: shown, never used to pick unless the user says so

    @property
    def metric(self) -> str:
        """The name its score is stored under with the run's metrics."""
        return "val_" + self.name.replace("-", "_")

    def pick(self, records: Sequence[Any], score: Callable[[Any], float | None]) -> Any | None:
        """The record this validator would pick: the best ``score`` (highest, or lowest where lower is better),
        the first of ties; None when no record has a score."""
        scored = [r for r in records if score(r) is not None]
        if not scored:
            return None
        return (max if self.higher_is_better else min)(scored, key=score)


_VALIDATORS: dict[str, Validator] = {}


def register_validator(name: str, label: str, summary: str, *, higher_is_better: bool = True,
                       oracle: bool = False) -> Callable[[Callable[[ValidationInputs], float | None]], Any]:
    """Decorator adding ``fn(inputs) -> score`` (None when it cannot be computed) to the registry."""

    def deco(fn: Callable[[ValidationInputs], float | None]) -> Callable[[ValidationInputs], float | None]:
        _VALIDATORS[name] = Validator(name, label, summary, fn, higher_is_better, oracle)
        return fn

    return deco


def validators(include_oracle: bool = True) -> dict[str, Validator]:
    """The registered validators by name, in registration order."""
    return {k: v for k, v in _VALIDATORS.items() if include_oracle or not v.oracle}


def score_all(inputs: ValidationInputs) -> dict[str, float | None]:
    """Every validator's score, by its metric name (``val_iwv``, ...); None where one cannot be computed."""
    out: dict[str, float | None] = {}
    for v in _VALIDATORS.values():
        score = v.fn(inputs)
        out[v.metric] = None if score is None or not math.isfinite(score) else float(score)
    return out


def best_by(history: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """For each validator, the evaluation of ``history`` (records with ``step`` and the ``val_*`` scores) it
    would pick: its step, its score and the target accuracy there (the first of ties)."""
    out: dict[str, dict[str, Any]] = {}
    for v in _VALIDATORS.values():
        pick = v.pick(history, lambda h, m=v.metric: h.get(m))
        if pick is not None:
            out[v.name] = {"step": pick["step"], "score": pick[v.metric], "target_acc": pick.get("target_acc")}
    return out


def importance_weights(source_features: torch.Tensor, target_features: torch.Tensor, seed: int = 0) -> np.ndarray:
    """Density ratios w(x) = p_t(x)/p_s(x) of the source samples, as the density-ratio selector estimates them
    (cross-fitted, calibrated domain classifier, clipped at 10), not normalised: their mean estimates 1."""
    from da_core.select.selectors import density_ratio

    xs, xt = source_features.detach().float().cpu().numpy(), target_features.detach().float().cpu().numpy()
    return density_ratio(xs, xt, seed=seed)[0]


def _correct(inputs: ValidationInputs) -> np.ndarray:
    return (inputs.source_logits.argmax(1) == inputs.source_labels).float().cpu().numpy()


def _weights(inputs: ValidationInputs) -> np.ndarray:
    n = len(inputs.source_labels)
    return np.ones(n) if inputs.source_weights is None else np.asarray(inputs.source_weights, dtype=np.float64)


def _probs(logits: torch.Tensor) -> torch.Tensor:
    return F.softmax(logits.float(), dim=1)


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return -(p * torch.log(p.clamp_min(1e-12))).sum(-1)


@register_validator("source-acc", "Source accuracy", "Accuracy on the held-out source: what most people pick by.")
def _source_acc(inputs: ValidationInputs) -> float | None:
    return float(_correct(inputs).mean()) if len(inputs.source_labels) else None


@register_validator("iwv", "IWV", "Importance-weighted validation: source accuracy with each sample weighted by "
                    "how target-like it is (density ratio).")
def _iwv(inputs: ValidationInputs) -> float | None:
    w = _weights(inputs)
    return float((w * _correct(inputs)).sum() / w.sum()) if len(w) and w.sum() > 0 else None


@register_validator("dev", "DEV", "Deep embedded validation: IWV with a control variate that lowers its variance "
                    "(as an accuracy, on the 0-1 loss).")
def _dev(inputs: ValidationInputs) -> float | None:
    w = _weights(inputs)  # raw ratios: their sample mean differs from 1 by chance, which the control variate uses
    if not len(w):
        return None
    weighted_loss = w * (1.0 - _correct(inputs))
    var = float(np.var(w, ddof=1)) if len(w) > 1 else 0.0
    eta = -float(np.cov(weighted_loss, w, ddof=1)[0, 1]) / var if var > 0 else 0.0
    risk = float(weighted_loss.mean() + eta * w.mean() - eta)
    return 1.0 - risk


@register_validator("entropy", "Entropy", "Mean entropy of the target predictions (lower: more confident).",
                    higher_is_better=False)
def _target_entropy(inputs: ValidationInputs) -> float | None:
    if not len(inputs.target_logits):
        return None
    return float(_entropy(_probs(inputs.target_logits)).mean())


@register_validator("im", "Information maximisation", "Entropy of the mean target prediction minus the mean "
                    "entropy: confident on each sample and diverse over the classes.")
def _information_maximisation(inputs: ValidationInputs) -> float | None:
    if not len(inputs.target_logits):
        return None
    p = _probs(inputs.target_logits)
    return float(_entropy(p.mean(0)) - _entropy(p).mean())


@register_validator("snd", "SND", "Soft neighbourhood density: how tightly target predictions cluster with their "
                    "neighbours' (higher: denser).")
def _snd(inputs: ValidationInputs) -> float | None:
    p = _probs(inputs.target_logits)
    if len(p) < 3:
        return None
    if len(p) > SND_MAX_SAMPLES:
        keep = torch.randperm(len(p), generator=torch.Generator().manual_seed(inputs.seed))[:SND_MAX_SAMPLES]
        p = p[keep.to(p.device)]
    z = F.normalize(p, dim=1)
    sim = z @ z.T
    sim.fill_diagonal_(float("-inf"))
    return float(_entropy(F.softmax(sim / SND_TEMPERATURE, dim=1)).mean())


@register_validator("target-acc", "Target accuracy (oracle)", "Accuracy on the labelled held-out target: the truth "
                    "the others are judged by; not available without target labels.", oracle=True)
def _target_acc(inputs: ValidationInputs) -> float | None:
    if inputs.target_labels is None or not len(inputs.target_labels):
        return None
    return float((inputs.target_logits.argmax(1) == inputs.target_labels).float().mean())


def validator_rows(final: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per validator for a finished run's record: its score at the end, whether higher is better, and
    the evaluation it would pick (step, and the target accuracy there when the target has labels)."""
    scores, picks = final.get("validators") or {}, final.get("best_by") or {}
    rows = []
    for v in _VALIDATORS.values():
        if v.metric not in scores and v.name not in picks:
            continue
        pick = picks.get(v.name, {})
        rows.append({"validator": v.label, "final score": scores.get(v.metric),
                     "better": "higher" if v.higher_is_better else "lower", "would pick step": pick.get("step"),
                     "target accuracy there": pick.get("target_acc"), "oracle": v.oracle})
    return rows
