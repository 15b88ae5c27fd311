"""Strength schedules: constant, ramps, and the adaptive controller that follows the training state."""

from __future__ import annotations

import math

import pytest

from da_core.train.config import TrainConfig
from da_core.train.schedule import StrengthSchedule
from da_core.train.trainer import Trainer

ROTATION = {"ops": [{"name": "rotation"}], "strength": 0.5, "seed": 0}


def test_clock_schedules() -> None:
    constant = StrengthSchedule(TrainConfig(pipeline=ROTATION, strength=0.8))
    assert [constant.at(t, 5) for t in range(5)] == [0.8] * 5
    linear = StrengthSchedule(TrainConfig(pipeline=ROTATION, strength=0.8, strength_schedule="linear"))
    assert [linear.at(t, 5) for t in range(5)] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
    cosine = StrengthSchedule(TrainConfig(pipeline=ROTATION, strength=0.8, strength_schedule="cosine"))
    values = [cosine.at(t, 5) for t in range(5)]
    assert values[0] == 0 and values[-1] == pytest.approx(0.8) and values[2] == pytest.approx(0.4)
    assert all(b >= a for a, b in zip(values, values[1:]))


def test_the_adaptive_controller_moves_up_and_down() -> None:
    """Above the target affinity the model copes: the strength rises; below it, it falls; always in [0, peak]."""
    s = StrengthSchedule(TrainConfig(pipeline=ROTATION, strength=0.3, strength_schedule="adaptive",
                                     target_affinity=0.9, adapt_step=0.1))
    assert s.at(0, 10) == 0.0
    for _ in range(2):
        s.observe(0.95)
    assert s.at(2, 10) == pytest.approx(0.2)
    for _ in range(5):
        s.observe(1.0)
    assert s.at(7, 10) == pytest.approx(0.3)  # capped at the config's strength
    s.observe(0.5)
    assert s.at(8, 10) == pytest.approx(0.2)
    for _ in range(5):
        s.observe(0.1)
    assert s.at(9, 10) == 0.0  # never below 0
    s.observe(math.nan)
    assert s.at(9, 10) == 0.0


def test_an_adaptive_run_logs_its_strength_following_the_batches() -> None:
    cfg = TrainConfig.from_dict({"source": "builtin:printed-digits?n=600", "target": "builtin:handwritten-digits?n=600",
                                 "batch_size": 32, "device": "cpu", "max_steps": 20, "robustness": False,
                                 "pipeline": ROTATION, "strength": 1.0, "strength_schedule": "adaptive",
                                 "adapt_step": 0.1, "target_affinity": 0.8})
    steps: list[dict] = []
    Trainer(cfg, callbacks=[lambda e, p: steps.append(p) if e == "step" else None]).run()
    strengths = [p["aug_strength"] for p in steps]
    accs = [p["train_acc"] for p in steps]
    assert strengths[0] == 0.0
    for i in range(1, len(steps)):  # each step's strength is the last one's moved by the last batch's accuracy
        expected = min(max(strengths[i - 1] + (0.1 if accs[i - 1] >= 0.8 else -0.1), 0.0), 1.0)
        assert strengths[i] == pytest.approx(expected)
    assert max(strengths) > 0
