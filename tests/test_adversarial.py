"""Adversarial perturbations (FGSM, PGD, the embedding space of text) and adversarial training as an objective."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from da_core.errors import SpecError
from da_core.train.adversarial import EmbeddingSpace, PixelSpace, evaluating, fgsm, fgsm_direction, pgd, space_for
from da_core.train.config import TrainConfig
from da_core.train.objectives import objective_for, objectives
from da_core.train.trainer import Trainer

SMALL = {"source": "builtin:printed-digits?n=600", "target": "builtin:handwritten-digits?n=600",
         "batch_size": 32, "device": "cpu", "max_steps": 12, "robustness": False}


def _pixel_model() -> tuple[nn.Module, PixelSpace]:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 3))
    return net, PixelSpace(lambda x: x.float() / 255.0)


def _images(n: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (n, 1, 8, 8), generator=g, dtype=torch.uint8), torch.randint(0, 3, (n,), generator=g)


def _loss(net: nn.Module, space: Any, x: torch.Tensor, y: torch.Tensor, delta: torch.Tensor | None) -> float:
    with torch.no_grad():
        return float(nn.functional.cross_entropy(space.run(net, x, delta), y))


def test_fgsm_at_zero_is_the_clean_input_exactly() -> None:
    net, space = _pixel_model()
    x, y = _images()
    delta = fgsm(space, net, x, y, 0.0)
    assert torch.equal(delta, torch.zeros_like(delta))
    with torch.no_grad():
        assert torch.equal(space.run(net, x, delta), space.run(net, x, None))


def test_pixel_attacks_stay_in_the_ball_and_in_range_and_raise_the_loss() -> None:
    net, space = _pixel_model()
    x, y = _images()
    gen = torch.Generator().manual_seed(0)
    clean = _loss(net, space, x, y, None)
    for eps in (0.05, 0.2):
        for delta in (fgsm(space, net, x, y, eps), pgd(space, net, x, y, eps, 5, gen)):
            assert float(delta.abs().max()) <= eps + 1e-6
            moved = x.float() / 255 + delta
            assert float(moved.min()) >= -1e-6 and float(moved.max()) <= 1 + 1e-6
            assert _loss(net, space, x, y, delta) > clean
    # PGD maximises the loss at least as well as the one FGSM step, at the same eps
    d_f = fgsm(space, net, x, y, 0.1)
    d_p = pgd(space, net, x, y, 0.1, 10, torch.Generator().manual_seed(0), random_start=False)
    assert _loss(net, space, x, y, d_p) >= _loss(net, space, x, y, d_f) - 1e-6


def test_attacks_take_no_parameter_gradients() -> None:
    net, space = _pixel_model()
    x, y = _images()
    pgd(space, net, x, y, 0.1, 3, torch.Generator().manual_seed(0))
    assert all(p.grad is None for p in net.parameters())


class _TinyEncoder(nn.Module):
    """Token ids -> mean embedding -> 3 logits, exposing its word embeddings as transformers models do."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.emb = nn.Embedding(30, 8, padding_idx=0)
        self.out = nn.Linear(8, 3)

    def get_input_embeddings(self) -> nn.Module:
        return self.emb

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids != 0).unsqueeze(-1).float()
        return self.out((self.emb(ids) * mask).sum(1) / mask.sum(1).clamp_min(1))


def test_text_perturbations_live_in_the_word_embeddings_relative_to_each_text() -> None:
    model = _TinyEncoder()
    space = space_for("text", lambda ids: ids, model, pad_id=0)
    assert isinstance(space, EmbeddingSpace)
    ids = torch.tensor([[3, 4, 5, 0, 0], [6, 7, 8, 9, 10]])
    y = torch.tensor([0, 2])
    with torch.no_grad():
        assert torch.equal(space.run(model, ids, space.zeros(ids)), model(ids))
    step = fgsm_direction(space, model, ids, y)
    with torch.no_grad():
        norms = (model.emb(ids) * (ids != 0).unsqueeze(-1)).flatten(1).norm(dim=1)
    assert torch.allclose(step.flatten(1).norm(dim=1), norms, rtol=1e-4)  # a step of size 1 = the text's own norm
    assert float(step[0, 3:].abs().sum()) == 0.0  # padding is never perturbed
    delta = fgsm(space, model, ids, y, 0.2)
    assert bool((delta.flatten(1).norm(dim=1) <= 0.2 * norms + 1e-5).all())
    assert _loss(model, space, ids, y, delta) > _loss(model, space, ids, y, None)
    assert space_for("text", lambda ids: ids, nn.Linear(2, 2)) is None  # no embeddings to perturb


def test_evaluating_restores_the_modes() -> None:
    a, b = nn.Dropout(), nn.BatchNorm1d(2)
    a.train()
    b.eval()
    with evaluating(a, b):
        assert not a.training and not b.training
    assert a.training and not b.training


# ---------------------------------------------------------------------------------------------- objective


def test_config_fields_are_checked_by_name() -> None:
    for changes, field in (({"objective": "magic"}, "objective"), ({"adv_method": "cw"}, "adv_method"),
                           ({"adv_share": 1.5}, "adv_share"), ({"adv_eps": 0}, "adv_eps"),
                           ({"adv_steps": 0}, "adv_steps"), ({"strength_schedule": "wavy"}, "strength_schedule"),
                           ({"target_affinity": 1.0}, "target_affinity"), ({"robust_samples": 3}, "robust_samples")):
        with pytest.raises(SpecError, match=field):
            TrainConfig.from_dict({**SMALL, **changes})
    with pytest.raises(SpecError, match="two objectives"):
        TrainConfig.from_dict({**SMALL, "objective": "adversarial", "dann": True})


def test_objective_routing() -> None:
    assert objective_for(TrainConfig(objective="adversarial", strength=0.5)).name == "adversarial"
    assert objective_for(TrainConfig(objective="adversarial", strength=0.0)).name == "cross-entropy"
    assert objective_for(TrainConfig(objective="dann")).name == "dann"
    assert objective_for(TrainConfig(dann=True)).name == "dann"
    assert "adversarial" in objectives()


def _run(**changes: Any) -> Any:
    return Trainer(TrainConfig.from_dict({**SMALL, **changes})).run()


def test_adversarial_training_at_strength_zero_reproduces_the_clean_run() -> None:
    clean = _run(seed=3)
    zero = _run(seed=3, objective="adversarial", strength=0.0, adv_method="pgd")
    assert zero.final["target_acc"] == clean.final["target_acc"]
    assert [h["train_loss"] for h in zero.history] == [h["train_loss"] for h in clean.history]


def test_the_objective_at_strength_zero_is_cross_entropy_and_above_it_is_not() -> None:
    """The objective's own ε = 0 path (a linear ramp starts there) gives exactly the clean loss; ε > 0 a larger one."""
    cfg = TrainConfig.from_dict({**SMALL, "objective": "adversarial", "strength": 1.0, "adv_share": 1.0})
    trainer = Trainer(cfg)
    run = trainer._set_up()
    batch = run.plan.collate(run.plan.epoch_batches(torch.Generator().manual_seed(0))[0])
    adv = objectives()["adversarial"](cfg, run.backbone.dim, run.device, run.gen)
    ce = objectives()["cross-entropy"](cfg, run.backbone.dim, run.device, run.gen)

    def step(strength: float) -> Any:
        from da_core.train.objectives import StepInputs

        trainer.model.eval()  # no batch-norm updates between the compared losses
        return StepInputs(batch, trainer.preprocess(batch.inputs), trainer._train_features, trainer.model.backbone,
                          trainer.model.head, trainer.preprocess, run.plan, 0.0, torch.Generator().manual_seed(0),
                          run.k, strength, run.space, run.eps_scale)

    with torch.no_grad():
        assert float(adv.loss(step(0.0)).loss) == float(ce.loss(step(0.0)).loss)
    assert float(adv.loss(step(1.0)).loss.detach()) > float(ce.loss(step(1.0)).loss.detach())


def test_adversarial_training_logs_eps_on_the_strength_scale() -> None:
    result = _run(objective="adversarial", strength=0.5, adv_method="fgsm")
    assert result.status == "finished"
    assert result.final["adv_eps"] == pytest.approx(0.5 * 0.3)
    assert result.final["aug_strength"] == pytest.approx(0.5)
