"""DANN (Ganin & Lempitsky, 2015): a domain discriminator on the features behind a gradient-reversal layer,
so the backbone learns features the discriminator cannot tell apart, next to the classification loss."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from da_core.train.config import TrainConfig
from da_core.train.objectives.base import Objective, StepInputs, StepLoss, register_objective, seeded_init


class _GradReverse(torch.autograd.Function):
    """Identity forward; gradient multiplied by ``-coeff`` backward."""

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


@register_objective
class DANN(Objective):
    """Cross-entropy on the batch plus the discriminator's loss on the batch and as many target samples,
    reversed into the backbone with weight ``dann_lambda(progress) * dann_weight``."""

    name = "dann"
    label = "DANN (domain-adversarial)"
    config_fields = ("dann_weight", "label_smoothing")
    epoch_means = ("domain_loss",)

    def __init__(self, config: TrainConfig, dim: int, device: torch.device, gen: torch.Generator) -> None:
        super().__init__(config, dim, device, gen)
        self.discriminator = nn.Sequential(nn.Linear(dim, 64), nn.ReLU(), nn.Linear(64, 1)).to(device)
        seeded_init(self.discriminator, gen)

    def parameter_groups(self, lr: float) -> list[dict[str, Any]]:
        return [{"params": list(self.discriminator.parameters()), "lr": lr, "name": "discriminator"}]

    def loss(self, step: StepInputs) -> StepLoss:
        n = len(step.x)
        target = step.plan.target_inputs(n, step.gen)  # raw, so token ids are trimmed together with the batch's
        feats = step.backbone(step.preprocess(torch.cat([step.batch.inputs, target]))).flatten(1)
        logits = step.head(feats[:n])
        lam = dann_lambda(step.progress)
        dom = self.discriminator(grad_reverse(feats, lam * self.config.dann_weight)).squeeze(1)
        dom_y = torch.cat([torch.zeros(n, device=feats.device), torch.ones(n, device=feats.device)])
        domain_loss = F.binary_cross_entropy_with_logits(dom, dom_y)
        cls_loss = self.classification_loss(logits, step.batch, step.num_classes)
        return StepLoss(cls_loss + domain_loss, cls_loss, logits,
                        {"domain_loss": float(domain_loss.detach()), "dann_lambda": lam})
