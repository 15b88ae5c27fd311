"""Tuning without target labels: Optuna searches judged by a validator (:mod:`da_core.tune.runner`) over a space
of run options (:mod:`da_core.tune.space`)."""

from da_core.tune.runner import DEFAULT_VALIDATOR, PRUNERS, SAMPLERS, TuneSpec, agreement, run_tune
from da_core.tune.space import Dim, default_space, parse_space

__all__ = ["DEFAULT_VALIDATOR", "PRUNERS", "SAMPLERS", "Dim", "TuneSpec", "agreement", "default_space", "parse_space",
           "run_tune"]
