"""The objective contract: what a training step minimises, given the step's batch and the model's parts.

An objective is a small strategy class.  The trainer builds it once per run (after the source-only baseline,
so its own seeded initialisation draws come after the head's), adds its :meth:`Objective.parameter_groups` to
the optimiser, and calls :meth:`Objective.loss` every step (with the step's strength, from the run's strength
schedule, and where adversarial perturbations live).  A new objective (CDAN, MCC) is one new file in this
package and one :func:`register_objective` call, as adversarial training is.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from da_core.train.config import TrainConfig
from da_core.train.data import Batch, DataPlan


@dataclass
class StepInputs:
    """Everything a step's loss may use.  ``features`` runs the backbone as the mode wants it (no gradient in
    linear mode); ``backbone`` is the raw module, for objectives that need the features of other inputs."""

    batch: Batch
    x: torch.Tensor  # the batch's inputs, preprocessed for the backbone
    features: Callable[[torch.Tensor], torch.Tensor]
    backbone: nn.Module
    head: nn.Module
    preprocess: Callable[[torch.Tensor], torch.Tensor]
    plan: DataPlan
    progress: float  # step / total steps, in [0, 1)
    gen: torch.Generator
    num_classes: int
    strength: float = 0.0  # the augmentation strength at this step (the schedule's)
    space: Any = None  # where adversarial perturbations live (da_core.train.adversarial), None when nowhere
    eps_scale: float = 0.0  # the adversarial ball's radius at strength 1


@dataclass
class StepLoss:
    """A step's loss (what is minimised), its classification part, the logits on the batch, and numbers to
    report with the step (e.g. ``domain_loss``)."""

    loss: torch.Tensor
    cls_loss: torch.Tensor
    logits: torch.Tensor
    logs: dict[str, float] = field(default_factory=dict)


class Objective(ABC):
    """A training objective.  Subclasses set :attr:`name`, :attr:`label`, :attr:`config_fields` (the
    :class:`TrainConfig` fields it reads) and :attr:`epoch_means` (logged numbers averaged into each epoch's
    record)."""

    name: ClassVar[str]
    label: ClassVar[str]
    modality: ClassVar[str] = "any"
    config_fields: ClassVar[tuple[str, ...]] = ()
    epoch_means: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: TrainConfig, dim: int, device: torch.device, gen: torch.Generator) -> None:
        self.config = config

    def parameter_groups(self, lr: float) -> list[dict[str, Any]]:
        """Optimiser groups for the objective's own modules (none by default)."""
        return []

    @abstractmethod
    def loss(self, step: StepInputs) -> StepLoss:
        """The loss of one step."""

    def classification_loss(self, logits: torch.Tensor, batch: Batch, num_classes: int) -> torch.Tensor:
        """Cross-entropy with the config's label smoothing, on soft labels when MixUp/CutMix produced them."""
        return soft_cross_entropy(logits, batch.labels, batch.soft, self.config.label_smoothing, num_classes)


def soft_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, soft: torch.Tensor | None, smoothing: float,
                       k: int) -> torch.Tensor:
    """Cross-entropy with label smoothing, on soft labels when given."""
    if soft is None:
        return F.cross_entropy(logits, labels, label_smoothing=smoothing)
    target = soft.to(logits.dtype)
    if smoothing:
        target = target * (1 - smoothing) + smoothing / k
    return -(target * F.log_softmax(logits, dim=1)).sum(1).mean()


def seeded_init(module: nn.Module, gen: torch.Generator) -> None:
    """PyTorch's default Linear init, drawn from ``gen`` (so a seed reproduces the run)."""
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.Linear):
                bound = 1.0 / math.sqrt(layer.in_features)
                layer.weight.copy_((torch.rand(layer.weight.shape, generator=gen) * 2 - 1) * bound)
                layer.bias.copy_((torch.rand(layer.bias.shape, generator=gen) * 2 - 1) * bound)


_OBJECTIVES: dict[str, type[Objective]] = {}


def register_objective(cls: type[Objective]) -> type[Objective]:
    """Class decorator adding an objective to the registry under its :attr:`Objective.name`."""
    _OBJECTIVES[cls.name] = cls
    return cls


def objectives() -> dict[str, type[Objective]]:
    """The registered objectives by name."""
    return dict(_OBJECTIVES)
