"""The robustness measure of a finished run: corruptions at severities 1-5 and the adversarial curve."""

from __future__ import annotations

import pytest

from da_core.data.builtin import CORRUPTIONS
from da_core.train.config import TrainConfig
from da_core.train.robustness import EPS_GRID, eps_half
from da_core.train.trainer import Trainer

SMALL = {"source": "builtin:printed-digits?n=800", "target": "builtin:handwritten-digits?n=800",
         "batch_size": 32, "device": "cpu", "max_steps": 40}


@pytest.fixture(scope="module")
def run() -> tuple[Trainer, dict]:
    trainer = Trainer(TrainConfig.from_dict({**SMALL, "robust_samples": 60}))
    result = trainer.run()
    assert result.status == "finished"
    return trainer, result.final


@pytest.fixture(scope="module")
def trained(run: tuple[Trainer, dict]) -> dict:
    return run[1]


def test_every_finished_run_carries_its_robustness(trained: dict) -> None:
    rob = trained["robustness"]
    assert rob["samples"] == 60
    assert set(rob["corruption_by_kind"]) == set(CORRUPTIONS)
    assert all(len(v) == 5 and all(0 <= a <= 1 for a in v) for v in rob["corruption_by_kind"].values())
    values = [a for v in rob["corruption_by_kind"].values() for a in v]
    assert rob["corruption_acc"] == pytest.approx(sum(values) / len(values))
    assert [p["eps"] for p in rob["adv_curve"]] == list(EPS_GRID["image"])
    assert trained["robust_seconds"] == rob["seconds"] > 0


def test_fgsm_at_eps_zero_gives_exactly_the_clean_accuracy(trained: dict) -> None:
    rob = trained["robustness"]
    first = rob["adv_curve"][0]
    assert first["eps"] == 0 and first["fgsm_acc"] == rob["clean_acc"] and first["acc"] == rob["clean_acc"]


def test_accuracy_does_not_rise_with_eps_and_pgd_is_at_least_as_strong(run: tuple[Trainer, dict]) -> None:
    """On the trained model, PGD run afresh at each ε (nothing carried over) loses accuracy as ε grows; the
    curve the run reports never rises; and PGD breaks at least as many samples as FGSM at every ε (FGSM alone may
    rise at large ε: its one linear step overshoots, which is why the curve is the stronger attack's)."""
    import torch

    from da_core.train.adversarial import PixelSpace, evaluating, pgd

    trainer, final = run
    x, y = (t[:60] for t in _target_eval(trainer))
    net = lambda b: trainer.model.head(trainer.model.backbone(b).flatten(1))  # noqa: E731
    space = PixelSpace(trainer.preprocess)
    accs = []
    with evaluating(trainer.model):
        for eps in (0.02, 0.05, 0.1, 0.2):
            delta = pgd(space, net, x, y, eps, 5, torch.Generator().manual_seed(0))
            with torch.no_grad():
                accs.append(float((space.run(net, x, delta).argmax(1) == y).float().mean()))
    assert all(b <= a for a, b in zip(accs, accs[1:])), accs
    curve = final["robustness"]["adv_curve"]
    values = [p["acc"] for p in curve]
    assert all(b <= a for a, b in zip(values, values[1:])), values
    assert all(p["pgd_acc"] <= p["fgsm_acc"] for p in curve), curve


def _target_eval(trainer: Trainer) -> tuple:
    data = trainer.data.target_eval
    return data.images, data.labels


def test_severity_hurts_on_average(trained: dict) -> None:
    by_kind = trained["robustness"]["corruption_by_kind"]
    first = sum(v[0] for v in by_kind.values()) / len(by_kind)
    last = sum(v[-1] for v in by_kind.values()) / len(by_kind)
    assert last < first


def test_eps_half_interpolates_and_says_when_never() -> None:
    curve = [{"eps": 0.0, "acc": 0.9}, {"eps": 0.1, "acc": 0.6}, {"eps": 0.2, "acc": 0.3}]
    assert eps_half(curve, 0.9) == pytest.approx(0.15)
    assert eps_half(curve[:2], 0.9) is None
    assert eps_half([{"eps": 0.0, "acc": 0.2}], 0.9) == 0.0


def test_robustness_can_be_switched_off_and_is_skipped_for_stopped_runs() -> None:
    off = Trainer(TrainConfig.from_dict({**SMALL, "max_steps": 4, "robustness": False})).run()
    assert off.final["robustness"] is None and off.final["robust_seconds"] is None
    import threading

    stop = threading.Event()
    stop.set()
    stopped = Trainer(TrainConfig.from_dict({**SMALL, "max_steps": 4}), stop=stop).run()
    assert stopped.status == "stopped" and stopped.final["robustness"] is None


def test_the_same_seed_gives_the_same_robustness(trained: dict) -> None:
    again = Trainer(TrainConfig.from_dict({**SMALL, "robust_samples": 60})).run().final["robustness"]
    mine = dict(trained["robustness"])
    assert {k: v for k, v in again.items() if k != "seconds"} == {k: v for k, v in mine.items() if k != "seconds"}
