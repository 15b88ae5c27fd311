"""Training objectives as strategies (see :mod:`da_core.train.objectives.base`); each module registers one."""

from da_core.train.config import TrainConfig
from da_core.train.objectives import adversarial, cross_entropy, dann  # noqa: F401  (registration)
from da_core.train.objectives.base import (
    Objective,
    StepInputs,
    StepLoss,
    objectives,
    register_objective,
    seeded_init,
    soft_cross_entropy,
)
from da_core.train.objectives.dann import dann_lambda, grad_reverse

__all__ = ["Objective", "StepInputs", "StepLoss", "dann_lambda", "grad_reverse", "objective_for", "objectives",
           "register_objective", "seeded_init", "soft_cross_entropy"]


def objective_for(config: TrainConfig) -> type[Objective]:
    """The objective a config asks for: DANN when ``dann`` is set, else its ``objective`` (adversarial training
    at strength 0 is plain cross-entropy: nothing is perturbed)."""
    if config.uses_dann:
        return objectives()["dann"]
    if config.objective == "adversarial" and not config.adversarial:
        return objectives()["cross-entropy"]
    return objectives()[config.objective]
