"""Datasets: the Dataset type, spec strings, the source registry and the loaders behind it."""

# The loaders register their sources when imported (the registry itself imports none of them: no cycle).
from da_core.config import DEFAULT_SOURCE, DEFAULT_TARGET, DEFAULT_TEXT_SOURCE, DEFAULT_TEXT_TARGET
from da_core.data import builtin, files, textfiles, tvsets, vader  # noqa: F401
from da_core.data.dataset import (
    MODALITIES,
    ClassAlignment,
    Dataset,
    LoadReport,
    Skipped,
    align_classes,
    check_modality,
    check_usable,
    stratified_fold,
    stratified_split,
)
from da_core.data.pair import PairAlignment, align_pair, describe_alignment
from da_core.data.registry import Source, load_dataset, modality_of, resolve, sources
from da_core.data.spec import DatasetSpec, Param, parse_spec

__all__ = [
    "DEFAULT_SOURCE",
    "DEFAULT_TARGET",
    "DEFAULT_TEXT_SOURCE",
    "DEFAULT_TEXT_TARGET",
    "MODALITIES",
    "ClassAlignment",
    "Dataset",
    "DatasetSpec",
    "LoadReport",
    "PairAlignment",
    "Param",
    "Skipped",
    "Source",
    "align_classes",
    "align_pair",
    "check_modality",
    "check_usable",
    "describe_alignment",
    "load_dataset",
    "modality_of",
    "parse_spec",
    "resolve",
    "sources",
    "stratified_fold",
    "stratified_split",
]
