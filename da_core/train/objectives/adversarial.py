"""Adversarial training as augmentation: a share of each batch replaced by FGSM or PGD examples made on the fly
from the current model (Goodfellow et al. 2015; Madry et al. 2018), cross-entropy on the mixed batch.

The ball's radius follows the master strength scale, ε = strength x ``adv_eps`` (:func:`eps_scale`), so a sweep
or a study treats it like any other augmentation and strength 0 is clean training.  Images are perturbed in
pixel units, texts in the encoder's word embeddings (FGM-style), see :mod:`da_core.train.adversarial`.
"""

from __future__ import annotations

import math

import torch

from da_core.train.adversarial import attack, evaluating, place
from da_core.train.objectives.base import Objective, StepInputs, StepLoss, register_objective


@register_objective
class Adversarial(Objective):
    """Cross-entropy on a batch whose ``adv_share`` rows are adversarial examples at ε = strength x ``adv_eps``."""

    name = "adversarial"
    label = "Adversarial training (FGSM / PGD)"
    config_fields = ("adv_method", "adv_share", "adv_eps", "adv_steps", "label_smoothing")
    epoch_means = ("adv_eps",)

    def loss(self, step: StepInputs) -> StepLoss:
        eps = step.strength * step.eps_scale
        n = len(step.x)
        k = min(n, math.ceil(self.config.adv_share * n))
        if eps <= 0 or k == 0 or step.space is None:  # nothing to perturb: exactly cross-entropy
            logits = step.head(step.features(step.x))
            cls_loss = self.classification_loss(logits, step.batch, step.num_classes)
            return StepLoss(cls_loss, cls_loss, logits, {"adv_eps": 0.0})
        rows = torch.randperm(n, generator=step.gen)[:k].to(step.batch.inputs.device)
        inputs, labels = step.batch.inputs, step.batch.labels

        def net(x: torch.Tensor) -> torch.Tensor:
            return step.head(step.backbone(x).flatten(1))

        with evaluating(step.backbone, step.head):
            part = attack(self.config.adv_method, step.space, net, inputs[rows], labels[rows], eps,
                          self.config.adv_steps, step.gen)
        delta = place(step.space.zeros(inputs), rows, part)
        logits = step.space.run(lambda x: step.head(step.features(x)), inputs, delta)
        cls_loss = self.classification_loss(logits, step.batch, step.num_classes)
        return StepLoss(cls_loss, cls_loss, logits, {"adv_eps": float(eps)})
