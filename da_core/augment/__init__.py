"""Augmentation: a registry of torchvision v2 ops and text ops (EDA, AEDA, character noise), pipelines with one
calibrated strength knob, and measures of over-augmentation."""

from da_core.augment.ops import OPS, TEXT_OPS, Context, Knob, OpSpec, get_op, magnitude, ops_for
from da_core.augment.pipeline import Augmented, OpConfig, Pipeline, ResolvedOp, default_pipeline
from da_core.augment.text_ops import (
    TextAugmented,
    WordEdit,
    augment_texts,
    describe_text,
    synonym_source,
    word_diff,
)

__all__ = ["OPS", "TEXT_OPS", "Augmented", "Context", "Knob", "OpConfig", "OpSpec", "Pipeline", "ResolvedOp",
           "TextAugmented", "WordEdit", "augment_texts", "default_pipeline", "describe_text", "get_op", "magnitude",
           "ops_for", "synonym_source", "word_diff"]
