"""A run's augmentation as one callable over batches, whatever the modality: images go through
:meth:`da_core.augment.Pipeline.apply` on the training device (MixUp/CutMix give soft labels); texts through
:func:`da_core.augment.text_ops.augment_texts` (a seed drawn from the run's augmentation generator per batch, so a
run's seed reproduces every edit), then encoded again into token ids."""

from __future__ import annotations

from typing import Any

import torch

from da_core.train.config import TrainConfig
from da_core.train.data import Batch, DataPlan, TrainData


class Augmenter:
    """``augmenter(batch, generator) -> batch``: the pipeline of ``config`` at its strength, on every row of the
    batch (which rows to give it is the trainer's choice, ``augment_on``)."""

    def __init__(self, config: TrainConfig, data: TrainData, plan: DataPlan) -> None:
        from da_core.augment import Pipeline

        self.pipeline = Pipeline.from_dict(config.pipeline)
        self.pipeline.check_fits(data.source_train)
        self.strength = config.strength
        self.k = len(data.classes)
        self.plan = plan

    def __call__(self, batch: Batch, gen: torch.Generator, strength: float | None = None) -> Batch:
        """The batch augmented at ``strength`` (None: the config's)."""
        strength = self.strength if strength is None else strength
        if batch.texts is not None:
            return self._texts(batch, gen, strength)
        out = self.pipeline.apply(batch.inputs, labels=batch.labels, strength=strength, generator=gen,
                                  num_classes=self.k)
        return Batch(out.images, batch.labels, out.soft_labels, batch.from_target)

    def _texts(self, batch: Batch, gen: torch.Generator, strength: float | None) -> Batch:
        from da_core.augment.text_ops import augment_texts

        seed = int(torch.randint(2**31 - 1, (1,), generator=gen))
        texts = augment_texts(self.pipeline, batch.texts or [], strength, seed).texts
        ids = self.plan.encode(texts).to(batch.inputs.device)  # type: ignore[misc]
        return Batch(ids, batch.labels, None, batch.from_target, texts)


def augmenter_for(config: TrainConfig, data: TrainData, plan: DataPlan) -> Any:
    """The run's :class:`Augmenter`, or None when its batches are not augmented."""
    return Augmenter(config, data, plan) if config.augmented else None
