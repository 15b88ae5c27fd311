"""Augmentation: a registry of torchvision v2 ops, pipelines with one calibrated strength knob, and
measures of over-augmentation."""

from da_core.augment.ops import OPS, Context, Knob, OpSpec, get_op, magnitude
from da_core.augment.pipeline import Augmented, OpConfig, Pipeline, ResolvedOp, default_pipeline

__all__ = ["OPS", "Augmented", "Context", "Knob", "OpConfig", "OpSpec", "Pipeline", "ResolvedOp",
           "default_pipeline", "get_op", "magnitude"]
