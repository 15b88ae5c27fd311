"""Plain supervised training: cross-entropy on the batch (source plus any labelled target samples)."""

from __future__ import annotations

from da_core.train.objectives.base import Objective, StepInputs, StepLoss, register_objective


@register_objective
class CrossEntropy(Objective):
    """Cross-entropy with label smoothing (soft labels after MixUp/CutMix)."""

    name = "cross-entropy"
    label = "Cross-entropy"
    config_fields = ("label_smoothing",)

    def loss(self, step: StepInputs) -> StepLoss:
        logits = step.head(step.features(step.x))
        cls_loss = self.classification_loss(logits, step.batch, step.num_classes)
        return StepLoss(cls_loss, cls_loss, logits)
