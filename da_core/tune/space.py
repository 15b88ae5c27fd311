"""The search space of a tuning study: which run options vary, over what ranges, as Optuna draws them.

A space is ``{option: dimension}`` where a dimension is ``{"low", "high"[, "log"]}`` (a float, or an integer for
integer options) or ``{"choices": [...]}``; only :data:`TUNABLE` options may vary.  :func:`default_space` is the
space a pair's config starts from: learning rate (log), batch size, weight decay (log), label smoothing, and the
augmentation strength / DANN weight / labelled-target share where the config uses them.  For the grid sampler a
float range becomes :data:`GRID_POINTS` values (log-spaced on a log axis).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from da_core.errors import SpecError
from da_core.train.config import TrainConfig

TUNABLE = {"lr": float, "batch_size": int, "weight_decay": float, "label_smoothing": float, "strength": float,
           "dann_weight": float, "target_share": float, "backbone_lr_scale": float, "lora_rank": int}
GRID_POINTS = 3


@dataclass(frozen=True)
class Dim:
    """One option's range: ``low``..``high`` (``log`` for a log axis) or ``choices``."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None

    def suggest(self, trial: Any) -> Any:
        """Draw this option's value for an Optuna trial."""
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if TUNABLE[self.name] is int:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)  # type: ignore[arg-type]
        return trial.suggest_float(self.name, float(self.low), float(self.high), log=self.log)  # type: ignore[arg-type]

    def grid(self, points: int = GRID_POINTS) -> list[Any]:
        """The values a grid search tries."""
        if self.choices is not None:
            return list(self.choices)
        lo, hi = float(self.low), float(self.high)  # type: ignore[arg-type]
        values = np.geomspace(lo, hi, points) if self.log else np.linspace(lo, hi, points)
        if TUNABLE[self.name] is int:
            return sorted({int(round(v)) for v in values})
        return [float(f"{v:.6g}") for v in values]

    def to_dict(self) -> dict[str, Any]:
        """JSON form (as :func:`parse_space` reads it)."""
        if self.choices is not None:
            return {"choices": list(self.choices)}
        return {"low": self.low, "high": self.high, **({"log": True} if self.log else {})}


def default_space(config: TrainConfig) -> dict[str, Dim]:
    """The space a search over ``config`` starts from (the options it uses)."""
    space = {"lr": Dim("lr", config.lr / 10, min(config.lr * 5, 1.0), log=True),
             "batch_size": Dim("batch_size", choices=tuple(sorted({max(config.batch_size // 2, 2), config.batch_size,
                                                                   config.batch_size * 2}))),
             "weight_decay": Dim("weight_decay", 1e-6, 1e-2, log=True),
             "label_smoothing": Dim("label_smoothing", 0.0, 0.2)}
    if config.pipeline is not None or config.objective == "adversarial":
        space["strength"] = Dim("strength", 0.0, 1.0)
    if config.uses_dann:
        space["dann_weight"] = Dim("dann_weight", 0.1, 3.0, log=True)
    if config.target_labels_per_class > 0:
        space["target_share"] = Dim("target_share", 0.1, 0.5)
    return space


def parse_space(data: Any) -> dict[str, Dim]:
    """A space from its JSON form; :class:`SpecError` names the bad option or field."""
    if not isinstance(data, dict) or not data:
        raise SpecError("space: expected a non-empty JSON object {option: {low, high[, log]} or {choices}}")
    out: dict[str, Dim] = {}
    for name, dim in data.items():
        if name not in TUNABLE:
            raise SpecError(f"space: {name!r} cannot be tuned; options: {', '.join(TUNABLE)}")
        if not isinstance(dim, dict):
            raise SpecError(f"space.{name}: expected an object with low/high or choices, got {dim!r}")
        unknown = sorted(set(dim) - {"low", "high", "log", "choices"})
        if unknown:
            raise SpecError(f"space.{name}: unknown field {unknown[0]!r} (low, high, log, choices)")
        if "choices" in dim:
            choices = dim["choices"]
            if not isinstance(choices, list) or not choices:
                raise SpecError(f"space.{name}.choices: expected a non-empty list")
            out[name] = Dim(name, choices=tuple(choices))
            continue
        lo, hi, log = dim.get("low"), dim.get("high"), bool(dim.get("log", False))
        for field_name, v in (("low", lo), ("high", hi)):
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise SpecError(f"space.{name}.{field_name}: expected a number, got {v!r}")
        if not lo < hi:
            raise SpecError(f"space.{name}: low must be below high, got {lo} and {hi}")
        if log and lo <= 0:
            raise SpecError(f"space.{name}: a log axis needs low > 0, got {lo}")
        out[name] = Dim(name, float(lo), float(hi), log)
    return out


def check_values(config: TrainConfig, space: dict[str, Dim]) -> None:
    """Refuse a space whose every corner would not make a valid run (the config's own checks name the field)."""
    for dim in space.values():
        for value in dim.grid(2):
            try:
                config.replace(**{dim.name: value})
            except SpecError as exc:
                raise SpecError(f"space.{dim.name}: {value!r} would not make a valid run ({exc})") from None
