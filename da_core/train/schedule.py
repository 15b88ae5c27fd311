"""Strength schedules: how a run's augmentation strength moves from step to step.

``strength`` in a config is the most a run augments with; the schedule says how it gets there:

- ``constant``: that strength at every step (a fixed pipeline, as before schedules existed);
- ``linear`` / ``cosine``: a ramp from 0 at the first step to the strength at the last (curriculum-style);
- ``adaptive``: a controller in the manner of StyleGAN2-ADA (Karras et al. 2020), following the training state
  rather than the clock.  It starts at 0 and after every step compares the accuracy on that step's augmented
  training batch with ``target_affinity``: above it the model copes, so the strength rises by ``adapt_step``;
  below it the augmentation is too hard for the model now, so it falls by as much; it stays in [0, strength].

The same number drives the pipeline's ops and the adversarial objective's ε (the master strength scale).
"""

from __future__ import annotations

import math

from da_core.train.config import TrainConfig


class StrengthSchedule:
    """``at(step, total)`` gives the strength of a step; ``observe(train_acc)`` feeds the adaptive controller the
    accuracy on the step's augmented batch (a no-op for the clock-driven schedules)."""

    def __init__(self, config: TrainConfig) -> None:
        self.kind = config.strength_schedule
        self.peak = config.peak_strength
        self.target = config.target_affinity
        self.rate = config.adapt_step
        self.level = 0.0  # the adaptive controller's current strength

    def at(self, step: int, total: int) -> float:
        """The strength of step ``step`` (0-based) of ``total``."""
        if self.kind == "adaptive":
            return self.level
        progress = step / max(total - 1, 1)
        if self.kind == "linear":
            return self.peak * progress
        if self.kind == "cosine":
            return self.peak * 0.5 * (1.0 - math.cos(math.pi * progress))
        return self.peak

    def observe(self, train_acc: float) -> None:
        """Adaptive: move the strength up when ``train_acc`` is at least the target affinity, else down."""
        if self.kind != "adaptive" or not math.isfinite(train_acc):
            return
        change = self.rate if train_acc >= self.target else -self.rate
        self.level = min(max(self.level + change, 0.0), self.peak)
