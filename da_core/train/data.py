"""What a run trains and evaluates on: the splits (:func:`prepare_data`, once per pair and config) and the data
plan (:class:`DataPlan`, once per run): pools on the device, the batch size, the step budget, weighted or
shuffled sampling with the labelled-target share, and the collate step every batch goes through."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from da_core.data import Dataset
from da_core.errors import SpecError
from da_core.train.config import TrainConfig


@dataclass
class TrainData:
    """The splits one run uses, all sharing ``classes`` (the classes both domains have) and one image shape."""

    classes: list[str]
    source_train: Dataset
    source_eval: Dataset
    target_train: Dataset
    target_labelled: Dataset
    target_eval: Dataset
    source_weights: torch.Tensor | None = None  # one weight per source_train sample, or None (uniform)
    conversions: list[str] = field(default_factory=list)  # what was converted to bring both to one shape
    budget_source: int = 0  # the whole source training split: a selected run trains as many steps as on it
    notes: list[str] = field(default_factory=list)  # other adjustments the run made (said in its record)

    def sizes(self) -> dict[str, int]:
        """Counts shown in the start event."""
        return {"source_train": len(self.source_train), "source_eval": len(self.source_eval),
                "target_train": len(self.target_train), "target_labelled": len(self.target_labelled),
                "target_eval": len(self.target_eval)}


_DATASETS: OrderedDict[str, Dataset] = OrderedDict()
_DATASETS_LOCK = threading.Lock()


def load_cached(spec: str) -> Dataset:
    """Load a dataset by spec, keeping the last few in memory (a sweep loads the same pair many times)."""
    from da_core.data import load_dataset, resolve

    key = str(resolve(spec)[1])
    with _DATASETS_LOCK:
        if key in _DATASETS:
            _DATASETS.move_to_end(key)
            return _DATASETS[key]
    ds = load_dataset(key)
    with _DATASETS_LOCK:
        _DATASETS[key] = ds
        while len(_DATASETS) > 6:
            _DATASETS.popitem(last=False)
    return ds


def prepare_data(config: TrainConfig, source: Dataset | None = None, target: Dataset | None = None) -> TrainData:
    """Load (unless given), align classes and image shape, split off held-out sets and pick the labelled target
    samples.  Raises :class:`SpecError` before any training when the run could not be evaluated.

    ``source_subset``/``source_weights`` index the whole source dataset; only its training part is used.
    """
    from da_core.data import align_pair, stratified_fold, stratified_split

    src_full = source if source is not None else load_cached(config.source)
    tgt_full = target if target is not None else load_cached(config.target)
    n_source_full = len(src_full)
    src_full, tgt_full, alignment = align_pair(src_full, tgt_full)
    if len(src_full) != n_source_full and (config.source_subset is not None or config.source_weights is not None):
        raise SpecError("source_subset: indices refer to the whole source, but some source classes are not in "
                        "the target; select from the shared classes only")
    if config.source_fold is not None:  # cross-validation: this fold of the source is the held-out part
        src_train_idx, src_eval_idx = stratified_fold(src_full.labels.numpy(), *config.source_fold,
                                                      seed=config.split_seed)
    else:
        src_train_idx, src_eval_idx = stratified_split(src_full.labels.numpy(), config.source_eval_fraction,
                                                     config.split_seed)
    budget_source = len(src_train_idx)
    tgt_train_idx, tgt_eval_idx = stratified_split(tgt_full.labels.numpy(), config.target_eval_fraction,
                                                 config.split_seed + 1)
    _check_evaluable(src_full, src_eval_idx, "source")
    _check_evaluable(tgt_full, tgt_eval_idx, "target")
    notes = _unscored_classes(tgt_full, tgt_eval_idx)
    if config.eval_samples is not None:
        for role, (ds, idx) in {"source": (src_full, src_eval_idx), "target": (tgt_full, tgt_eval_idx)}.items():
            if len(idx) > config.eval_samples:
                kept = _stratified_part(ds.labels.numpy()[idx], config.eval_samples, config.split_seed + 3)
                notes.append(f"{role} accuracy is scored on {len(kept):,} of the {len(idx):,} held-out "
                             f"{ds.modality}s (eval_samples, the same ones every evaluation and seed)")
                if role == "source":
                    src_eval_idx = src_eval_idx[kept]
                else:
                    tgt_eval_idx = tgt_eval_idx[kept]
    weights = None
    if config.source_subset is not None:
        subset = np.asarray(config.source_subset, dtype=np.int64)
        if subset.max() >= len(src_full):
            raise SpecError(f"source_subset: index {int(subset.max())} is past the source's {len(src_full)} samples")
        src_train_idx = np.intersect1d(src_train_idx, subset)
        if len(src_train_idx) < 2:
            raise SpecError("source_subset: fewer than 2 of the chosen samples are in the training split")
        kept = set(np.unique(src_full.labels.numpy()[src_train_idx]).tolist())
        lost = [name for i, name in enumerate(src_full.classes) if i not in kept]
        if lost:
            notes.append(f"the source selection has no training sample of classes {', '.join(lost[:10])}"
                         f"{' …' if len(lost) > 10 else ''}: the run cannot learn them from the source")
    elif config.source_weights is not None:
        if len(config.source_weights) != len(src_full):
            raise SpecError(f"source_weights: expected one weight per source sample ({len(src_full)}), "
                            f"got {len(config.source_weights)}")
        w = np.asarray(config.source_weights, dtype=np.float64)[src_train_idx]
        if not (w > 0).any():
            raise SpecError("source_weights: every training-split sample has weight 0")
        weights = torch.from_numpy(w / w.max())  # only ratios matter; dividing by the largest cannot overflow
    labelled = _per_class(tgt_full.labels.numpy()[tgt_train_idx], config.target_labels_per_class,
                          config.split_seed + 2)
    return TrainData(
        classes=list(src_full.classes),
        source_train=src_full.subset(src_train_idx),
        source_eval=src_full.subset(src_eval_idx),
        target_train=tgt_full.subset(tgt_train_idx),
        target_labelled=tgt_full.subset(tgt_train_idx[labelled]),
        target_eval=tgt_full.subset(tgt_eval_idx),
        source_weights=weights,
        conversions=list(alignment.conversions),
        notes=notes,
        budget_source=budget_source,
    )


def _check_evaluable(ds: Dataset, held_idx: np.ndarray, role: str) -> None:
    """Refuse a run whose held-out ``role`` set would be empty (its accuracy could not be measured)."""
    if len(held_idx):
        return
    raise SpecError(f"{role} {ds.domain!r}: every class has a single sample ({len(ds)} in all), and each must "
                    f"stay for training, so none is left to evaluate the run on; give the {role} at least 2 "
                    "samples in some class")


def _unscored_classes(ds: Dataset, held_idx: np.ndarray) -> list[str]:
    """A note naming the classes with no held-out sample (their target accuracy is not measured)."""
    present = set(np.unique(ds.labels.numpy()[held_idx]).tolist())
    missing = [name for i, name in enumerate(ds.classes) if i not in present]
    if not missing:
        return []
    return [f"target classes {', '.join(missing[:10])}{' …' if len(missing) > 10 else ''} have too few samples to "
            "hold one out: target accuracy covers the other classes only"]


def _stratified_part(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted positions of about ``n`` of ``labels``, each class kept in proportion (at least one each), seeded."""
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * n / len(labels)
    quota = np.floor(exact).astype(int)
    quota[np.argsort(quota - exact)[:n - int(quota.sum())]] += 1  # the remainder to the largest fractions
    quota = np.maximum(quota, 1)
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:q] for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(chosen))


def _per_class(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Positions of up to ``k`` seeded samples of each class."""
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:k] for c in np.unique(labels)]
    return np.sort(np.concatenate(chosen))


def effective_batch_size(requested: int, pool: int) -> int:
    """The batch a run really uses: the requested size, at most the training pool (at least 2: batch norm)."""
    return max(2, min(int(requested), int(pool)))


@dataclass
class Batch:
    """One training batch after collation: the model's raw inputs (uint8 images, or padded token ids), hard labels,
    soft labels when MixUp/CutMix made them, which rows are labelled target samples (None: unknown), and for text
    the texts themselves (text augmentation edits words, then the batch is encoded again)."""

    inputs: torch.Tensor
    labels: torch.Tensor
    soft: torch.Tensor | None = None
    from_target: torch.Tensor | None = None
    texts: list[str] | None = None

    def rows(self, mask: torch.Tensor) -> Batch:
        """The rows where ``mask`` is true."""
        texts = None
        if self.texts is not None:
            texts = [t for t, keep in zip(self.texts, mask.tolist()) if keep]
        return Batch(self.inputs[mask], self.labels[mask], None if self.soft is None else self.soft[mask],
                     None if self.from_target is None else self.from_target[mask], texts)


class DataPlan:
    """Which samples every step sees, built once per run.

    The training pool is the source training split plus the labelled target samples.  Without source weights
    or labelled target samples an epoch is a seeded shuffle of the source; otherwise batches are drawn with
    replacement, the labelled target samples taking ``target_share`` of the draws and the source the rest in
    proportion to its weights.  ``total`` steps (``max_steps``, or ``epochs`` passes over the source) is the
    run's budget.
    """

    def __init__(self, data: TrainData, config: TrainConfig, device: torch.device,
                 encode: Callable[..., torch.Tensor] | None = None) -> None:
        self.device = device
        text = data.source_train.texts is not None
        if text and encode is None:
            raise SpecError("backbone: this backbone takes images, and the pair holds texts")
        self.encode = None if encode is None else (lambda texts: encode(texts, max_length=config.max_length))

        def inputs(ds: Dataset) -> torch.Tensor:
            return (ds.images if ds.texts is None else self.encode(ds.texts)).to(device)  # type: ignore[misc]

        self.source_x, self.source_y = inputs(data.source_train), data.source_train.labels.to(device)
        lab_x, lab_y = inputs(data.target_labelled), data.target_labelled.labels.to(device)
        self.target_x = inputs(data.target_train)
        self.source_eval = (inputs(data.source_eval), data.source_eval.labels.to(device))
        self.target_eval = (inputs(data.target_eval), data.target_eval.labels.to(device))
        self.source_eval_texts = data.source_eval.texts  # for the baseline's affinity under text augmentation
        self.target_eval_texts = data.target_eval.texts  # for the robustness measure's character noise
        self.pool_texts = ((data.source_train.texts or []) + (data.target_labelled.texts or [])) if text else None
        n_src, n_lab = len(self.source_x), len(lab_x)
        self.n_source = n_src
        self.notes = list(data.notes)  # this run's own copy: a sweep shares one TrainData between runs
        self.batch_size = effective_batch_size(config.batch_size, n_src + n_lab)
        if self.batch_size != config.batch_size:
            self.notes.append(f"batch size {config.batch_size} is larger than the {n_src + n_lab} training "
                              f"samples; used {self.batch_size} (all of them) per step")
        # equal budgets: a run on a selection takes as many steps as one on the whole source training split
        self.steps_per_epoch = max(1, math.ceil(max(n_src, data.budget_source) / self.batch_size))
        self.selected = n_src < data.budget_source  # a subset of the training split: passes repeat to the budget
        self.total = config.max_steps if config.max_steps is not None else config.epochs * self.steps_per_epoch
        self.epochs = math.ceil(self.total / self.steps_per_epoch)
        self.probs: torch.Tensor | None = None
        if n_lab or data.source_weights is not None:  # weighted sampling with replacement
            ws = data.source_weights if data.source_weights is not None else torch.ones(n_src, dtype=torch.float64)
            share = config.target_share if n_lab else 0.0
            self.probs = torch.cat([ws / ws.sum() * (1 - share),
                                    torch.full((n_lab,), share / max(n_lab, 1), dtype=torch.float64)])
        self.pool_x = torch.cat([self.source_x, lab_x]) if n_lab else self.source_x
        self.pool_y = torch.cat([self.source_y, lab_y]) if n_lab else self.source_y

    def epoch_batches(self, gen: torch.Generator) -> list[torch.Tensor]:
        """The pool indices of one epoch's batches, drawn from ``gen``."""
        if self.probs is None:  # seeded shuffles of the source, as many as the epoch's steps need
            batches: list[torch.Tensor] = []
            while True:
                order = torch.randperm(self.n_source, generator=gen)
                part = [order[i:i + self.batch_size] for i in range(0, self.n_source, self.batch_size)]
                if len(part) > 1 and len(part[-1]) < 2:
                    part.pop()  # a batch of one breaks batch norm
                batches.extend(part)
                if not self.selected or len(batches) >= self.steps_per_epoch:  # the whole source: one pass
                    return batches[:self.steps_per_epoch]
        drawn = torch.multinomial(self.probs, self.steps_per_epoch * self.batch_size, replacement=True,
                                  generator=gen)
        return list(drawn.split(self.batch_size))

    def collate(self, idx: torch.Tensor) -> Batch:
        """The batch at pool indices ``idx``, on the device."""
        texts = None if self.pool_texts is None else [self.pool_texts[i] for i in idx.tolist()]
        idx = idx.to(self.device)
        return Batch(self.pool_x[idx], self.pool_y[idx], from_target=idx >= self.n_source, texts=texts)

    def target_inputs(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """``n`` unlabelled target training samples drawn with replacement from ``gen`` (for adaptation)."""
        return self.target_x[torch.randint(len(self.target_x), (n,), generator=gen).to(self.device)]
