"""Training objectives as strategies (see :mod:`da_core.train.objectives.base`); each module registers one."""

from da_core.train.objectives import cross_entropy, dann  # noqa: F401  (registration)
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


def objective_for(config: object) -> type[Objective]:
    """The objective a config asks for: DANN when ``dann`` is set, else cross-entropy."""
    return objectives()["dann" if getattr(config, "dann", False) else "cross-entropy"]
