"""The one data type (images or texts) that flows through the whole workflow: loader -> embed -> gap -> augment
-> train."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from da_core import config
from da_core.errors import DatasetError, ModalityError

if TYPE_CHECKING:  # pragma: no cover
    import torch


@dataclass
class Skipped:
    """One file that was not loaded, and why."""

    path: str
    reason: str


@dataclass
class LoadReport:
    """What happened while loading: files skipped (with reasons), files ignored, and notes."""

    skipped: list[Skipped] = field(default_factory=list)
    ignored: int = 0
    ignored_examples: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    subsampled: str = ""  # the note, when DA_MAX_MEMORY made the loader keep fewer samples (:func:`within_memory`)

    def skip(self, path: str, reason: str) -> None:
        """Record a file that looked like an image but could not be used."""
        self.skipped.append(Skipped(str(path), reason))

    def ignore(self, path: str) -> None:
        """Count a file that is not an image (keeps a few names as examples)."""
        self.ignored += 1
        if len(self.ignored_examples) < 10:
            self.ignored_examples.append(str(path))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        return {
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "ignored": self.ignored,
            "ignored_examples": list(self.ignored_examples),
            "notes": list(self.notes),
        }


MODALITIES = ("image", "text")


def check_modality(ds: Dataset, modality: str, user: str) -> None:
    """Refuse ``ds`` unless it is of ``modality``, naming both the dataset and what ``user`` is (an embedder,
    an augmentation op, a backbone): "embedder 'digits-cnn' takes image data, but dataset 'x' holds text"."""
    if ds.modality != modality:
        raise ModalityError(f"{user} takes {modality} data, but dataset {ds.domain!r} holds {ds.modality}")


@dataclass(eq=False)
class Dataset:
    """A labelled dataset from one domain: images or texts.

    The image form: ``images`` is a uint8 tensor N x C x H x W (C is 1 or 3) and ``texts`` is None.  The text
    form (:meth:`from_texts`): ``texts`` is a list of N strings and ``images`` is None.  Everything else is
    shared: labels (int64 tensor N, indices into ``classes``); meta, one row per sample (origin path,
    generator parameters such as the font, a rating) with its ``uid``: the relative file path for folders and
    ZIPs, ``split:index`` for torchvision files, the generator or UCI index for built-ins (the row's position
    when a loader gives none); domain, the spec or a short name; report, what the loader skipped or ignored.
    Treat instances as immutable: caches key on :attr:`fingerprint`.
    """

    images: torch.Tensor | None
    labels: torch.Tensor
    classes: list[str]
    meta: pd.DataFrame
    domain: str
    report: LoadReport = field(default_factory=LoadReport)
    _fingerprint: str | None = field(default=None, repr=False)
    texts: list[str] | None = None

    def __post_init__(self) -> None:
        import torch

        if (self.images is None) == (self.texts is None):
            raise ValueError("a Dataset holds either images or texts (exactly one of them)")
        if self.texts is not None:
            if not isinstance(self.texts, list) or not all(isinstance(t, str) for t in self.texts):
                raise ValueError("texts must be a list of strings")
        elif self.images.dtype != torch.uint8 or self.images.ndim != 4 or self.images.shape[1] not in (1, 3):
            raise ValueError(f"images must be a uint8 N x C x H x W tensor with C in (1, 3), got "
                             f"{tuple(self.images.shape)} {self.images.dtype}")
        n = len(self)
        if self.labels.ndim != 1 or len(self.labels) != n:
            raise ValueError(f"labels must be a 1-D tensor with one label per {self._unit}")
        self.labels = self.labels.to(torch.int64)
        if len(self.meta) != n:
            raise ValueError(f"meta must have one row per {self._unit}")
        self.meta = self.meta.reset_index(drop=True)
        if "uid" not in self.meta.columns:  # a loader without its own identity: the position at load time
            self.meta = self.meta.assign(uid=[str(i) for i in range(len(self.meta))])

    @classmethod
    def from_texts(cls, texts: list[str], labels: Any, classes: list[str], meta: pd.DataFrame | None = None,
                   domain: str = "", report: LoadReport | None = None) -> Dataset:
        """The text form: one string per sample (``meta`` defaults to one empty row per text)."""
        import torch

        meta = meta if meta is not None else pd.DataFrame(index=range(len(texts)))
        return cls(None, torch.as_tensor(np.asarray(labels, dtype=np.int64)), list(classes), meta, domain,
                   report or LoadReport(), texts=list(texts))

    @property
    def modality(self) -> str:
        """``"image"`` or ``"text"``."""
        return "text" if self.texts is not None else "image"

    @property
    def content(self) -> Any:
        """The samples themselves: the uint8 image tensor, or the list of texts (both slice by position)."""
        return self.texts if self.texts is not None else self.images

    @property
    def _unit(self) -> str:
        return "text" if self.texts is not None else "image"

    @property
    def uids(self) -> list[str]:
        """Each sample's stable identity (set at load time; kept by subsets, caps, class alignment and splits)."""
        return [str(u) for u in self.meta["uid"]]

    def __len__(self) -> int:
        return len(self.texts) if self.texts is not None else int(self.images.shape[0])

    def positions_of(self, uids: Any) -> tuple[np.ndarray, list[str], int]:
        """Positions of the samples named by ``uids``, in the order given (first mention kept), with the uids
        this dataset does not have and the number of repeated mentions."""
        where = {u: i for i, u in enumerate(self.uids)}
        seen: set[str] = set()
        positions: list[int] = []
        unknown: list[str] = []
        repeats = 0
        for u in (str(v) for v in uids):
            if u in seen:
                repeats += 1
                continue
            seen.add(u)
            if u in where:
                positions.append(where[u])
            else:
                unknown.append(u)
        return np.asarray(positions, dtype=np.int64), unknown, repeats

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image (a text dataset has none: :class:`ModalityError`)."""
        if self.images is None:
            raise ModalityError(f"dataset {self.domain!r} holds text: it has no image shape")
        _, c, h, w = self.images.shape
        return int(c), int(h), int(w)

    @property
    def counts(self) -> dict[str, int]:
        """Samples per class name, in class order (classes with no sample included as 0)."""
        counts = np.bincount(self.labels.numpy(), minlength=len(self.classes))
        return {name: int(c) for name, c in zip(self.classes, counts)}

    @property
    def fingerprint(self) -> str:
        """Content hash of the images or texts, labels and class names: equal content gives an equal key."""
        if self._fingerprint is None:
            h = hashlib.blake2b(digest_size=12)
            if self.texts is not None:
                h.update(repr(("text", len(self.texts), self.classes)).encode())
                for t in self.texts:  # length-prefixed, so ["ab", "c"] and ["a", "bc"] differ
                    b = t.encode("utf-8", "surrogatepass")
                    h.update(len(b).to_bytes(8, "little"))
                    h.update(b)
            else:
                h.update(repr((tuple(self.images.shape), self.classes)).encode())
                h.update(np.ascontiguousarray(self.images.numpy()).data)  # the buffer itself: no copy of the pixels
            h.update(np.ascontiguousarray(self.labels.numpy()).data)
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    def take(self, index: Any, domain: str | None = None) -> Dataset:
        """A new dataset holding the samples at ``index`` (array of ints or boolean mask), in that order."""
        import torch

        idx = torch.as_tensor(np.asarray(index))
        if idx.dtype == torch.bool:
            idx = torch.nonzero(idx).flatten()
        idx_np = idx.numpy().astype(np.int64, copy=False)
        return Dataset(
            images=self.images[idx].contiguous() if self.images is not None else None,
            labels=self.labels[idx].clone(),
            classes=list(self.classes),
            meta=self.meta.iloc[idx_np].reset_index(drop=True),
            domain=domain or self.domain,
            report=self.report,
            texts=[self.texts[i] for i in idx_np.tolist()] if self.texts is not None else None,
        )

    subset = take  # the name the image code grew up with

    def capped(self, max_samples: int | None, seed: int = 0) -> Dataset:
        """A seeded, class-stratified subset of at most ``max_samples`` samples (this dataset when smaller)."""
        if max_samples is None or len(self) <= max_samples:
            return self
        return self.take(stratified_subset(self.labels.numpy(), max_samples, seed))

    def split(self, fraction: float = 0.2, seed: int = 0) -> tuple[Dataset, Dataset]:
        """Stratified split into (rest, held_out) with about ``fraction`` of each class held out; every class
        keeps at least one sample in ``rest`` (see :func:`stratified_split`)."""
        rest, held = stratified_split(self.labels.numpy(), fraction, seed)
        return self.take(rest), self.take(held)

    def summary(self) -> dict[str, Any]:
        """Counts and statistics fitting the form (pixels, or text lengths), as shown in the summary table and
        by ``describe``."""
        out: dict[str, Any] = {"name": self.domain, "modality": self.modality, "n": len(self),
                               "classes": list(self.classes), "counts": self.counts}
        if self.texts is not None:
            out.update(_text_stats(self.texts))
        else:
            c, h, w = self.shape
            x = self.images.float().div_(255.0) if len(self) else self.images.float()
            out.update({"shape": [c, h, w], "channels": c,
                        "mean": round(float(x.mean()), 4) if len(self) else None,
                        "std": round(float(x.std()), 4) if len(self) > 1 else None})
        out.update({"skipped": [{"path": s.path, "reason": s.reason} for s in self.report.skipped],
                    "ignored": self.report.ignored, "notes": list(self.report.notes),
                    "fingerprint": self.fingerprint})
        return out

    def with_channels(self, channels: int) -> Dataset:
        """The same images with 1 or 3 channels (grey replicated to RGB, or RGB averaged to grey)."""
        if channels == self.shape[0]:
            return self
        if channels == 3:
            images = self.images.expand(-1, 3, -1, -1).contiguous()
        elif channels == 1:
            import torch

            weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            images = (self.images.float() * weights).sum(1, keepdim=True).round()
            images = images.clamp_(0, 255).to(self.images.dtype)
        else:
            raise ValueError("channels must be 1 or 3")
        return replace(self, images=images, _fingerprint=None)


def _text_stats(texts: list[str]) -> dict[str, Any]:
    """Length statistics of texts (characters and whitespace-separated words)."""
    if not texts:
        return {"chars_mean": None, "words_mean": None, "words_median": None, "words_min": None,
                "words_max": None, "empty": 0}
    chars = np.array([len(t) for t in texts])
    words = np.array([len(t.split()) for t in texts])
    return {"chars_mean": round(float(chars.mean()), 1), "words_mean": round(float(words.mean()), 2),
            "words_median": float(np.median(words)), "words_min": int(words.min()), "words_max": int(words.max()),
            "empty": int((words == 0).sum())}


def stratified_subset(labels: Any, n: int | None, seed: int) -> Any:
    """Indices of a seeded subset of about ``n`` samples keeping class proportions (all when n is None)."""
    labels = np.asarray(labels)
    if n is None or n >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    # Round-robin over classes in a shuffled order keeps proportions and is exact in n.
    classes, inverse = np.unique(labels[order], return_inverse=True)
    rank = np.zeros(len(order), dtype=np.int64)
    for c in range(len(classes)):
        pos = np.flatnonzero(inverse == c)
        rank[pos] = np.arange(len(pos)) * (len(labels) / max(len(pos), 1))
    chosen = order[np.argsort(rank, kind="stable")[:n]]
    return np.sort(chosen)


def within_memory(labels: Any, n: int | None, seed: int, bytes_each: int, report: LoadReport,
                  unit: str = "images") -> np.ndarray:
    """Indices of the samples a loader decodes: ``n`` of them (class-stratified, seeded; all when None), fewer when
    their decoded size (``bytes_each`` apiece) would pass ``DA_MAX_MEMORY``; the report's notes then say how many
    of how many, and how to change it."""
    labels = np.asarray(labels)
    chosen = np.asarray(stratified_subset(labels, n, seed))
    cap = config.max_memory()
    fits = max(1, cap // max(int(bytes_each), 1))
    if len(chosen) <= fits:
        return chosen
    kept = chosen[np.asarray(stratified_subset(labels[chosen], fits, seed))]
    report.subsampled = (
        f"subsampled to {len(kept):,} of {len(chosen):,} {unit} (class-stratified, seed {seed}): all of them "
        f"would take {len(chosen) * bytes_each / 2**20:,.0f} MiB decoded, over DA_MAX_MEMORY = {cap / 2**20:,.0f} MiB; "
        f"set DA_MAX_MEMORY (e.g. 4G) or a smaller size= to keep more")
    report.notes.append(report.subsampled)
    return kept


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train, held-out) index arrays holding out about ``fraction`` of every class.

    Every class keeps at least one training sample, so a model fitted on the training part sees every class
    (a class with a single sample is never held out), and every class with two or more samples holds out at
    least one when ``fraction`` > 0 (so a tiny dataset is still scored on each class it can spare).
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    held: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        k = min(max(int(round(len(idx) * fraction)), 1 if fraction > 0 else 0), len(idx) - 1)
        held.append(idx[:k])
    held_idx = np.sort(np.concatenate(held))
    mask = np.ones(len(labels), dtype=bool)
    mask[held_idx] = False
    return np.flatnonzero(mask), held_idx


def stratified_fold(labels: np.ndarray, fold: int, folds: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train, held-out) index arrays for fold ``fold`` of ``folds``-fold cross-validation: each class's
    samples are shuffled and dealt to the folds in turn, so every fold holds about 1/``folds`` of every class and
    the folds partition the samples (a class with a single sample always stays for training)."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    held: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) < 2:
            continue
        rng.shuffle(idx)
        held.append(idx[np.arange(len(idx)) % folds == fold])
    held_idx = np.sort(np.concatenate(held))
    mask = np.ones(len(labels), dtype=bool)
    mask[held_idx] = False
    return np.flatnonzero(mask), held_idx


def check_usable(ds: Dataset, what: str = "dataset") -> Dataset:
    """Raise a clear :class:`DatasetError` for an empty or single-class dataset; return it otherwise."""
    if len(ds) == 0:
        details = []
        if ds.report.skipped:
            details.append(f"{len(ds.report.skipped)} files skipped as unreadable")
        if ds.report.ignored:
            details.append(f"{ds.report.ignored} non-image files ignored")
        extra = f" ({'; '.join(details)})" if details else ""
        raise DatasetError(f"{what} {ds.domain!r} is empty: no {ds._unit}s were loaded{extra}")
    present = [name for name, n in ds.counts.items() if n > 0]
    if len(present) < 2:
        raise DatasetError(
            f"{what} {ds.domain!r} has a single class ({present[0]!r}); domain comparison and training "
            "need at least two classes"
        )
    return ds


@dataclass
class ClassAlignment:
    """How the class sets of a source and a target relate."""

    shared: list[str]
    only_source: list[str]
    only_target: list[str]

    @property
    def identical(self) -> bool:
        """True when both domains have exactly the same classes."""
        return not self.only_source and not self.only_target


def align_classes(source: Dataset, target: Dataset) -> tuple[Dataset, Dataset, ClassAlignment]:
    """Keep only the classes both domains share, with one common label order (the source's).

    Raises :class:`DatasetError` when the domains share no class.
    """
    tgt_set = set(target.classes)
    src_set = set(source.classes)
    shared = [c for c in source.classes if c in tgt_set]
    alignment = ClassAlignment(
        shared=shared,
        only_source=[c for c in source.classes if c not in tgt_set],
        only_target=[c for c in target.classes if c not in src_set],
    )
    if not shared:
        raise DatasetError(
            f"source and target share no class: source has {source.classes[:10]}, "
            f"target has {target.classes[:10]}"
        )
    if alignment.identical and source.classes == target.classes:
        return source, target, alignment
    return _restrict(source, shared), _restrict(target, shared), alignment


def _restrict(ds: Dataset, classes: list[str]) -> Dataset:
    import torch

    old_to_new = np.full(len(ds.classes), -1, dtype=np.int64)
    for new, name in enumerate(classes):
        old_to_new[ds.classes.index(name)] = new
    mapped = old_to_new[ds.labels.numpy()]
    keep = np.flatnonzero(mapped >= 0)
    sub = ds.subset(keep)
    return replace(sub, labels=torch.from_numpy(mapped[keep]), classes=list(classes), _fingerprint=None)
