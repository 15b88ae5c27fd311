"""Over-augmentation, measured without training: Affinity, label-flip rate and gap to target against strength.

The "source-trained model" is the linear probe of :mod:`da_core.probe` (standardised logistic regression) fitted
on the embeddings of a clean source train split; it works for any embedder and any dataset pair.  On a held-out
source split, for each strength s of the sweep:

- ``affinity``: probe accuracy on the augmented held-out split / its accuracy on the clean one (Gontijo-Lopes
  et al. 2020, "Affinity and Diversity"); exactly 1 at s = 0.  MixUp/CutMix count the argmax of the soft
  label as the label.
- ``label_flip_rate``: share of held-out samples whose predicted class differs from the clean prediction.
- ``gap_to_target``: unbiased MMD² (:func:`da_core.gap.mmd2`, Gaussian kernel) between augmented held-out
  embeddings and target embeddings.  The bandwidth is the gap page's rule (median pairwise distance of the
  pooled clean source and target) computed once, so the numbers are comparable across strengths.

On a text pair the same measures run on sentence embeddings (default ``minilm``; ``tfidf`` fitted once on the
clean texts of both domains): the held-out source texts are augmented with
:func:`da_core.augment.text_ops.augment_texts` (seeded, labels unchanged) and re-embedded.  Text caps each
domain at ``TEXT_MAX_SAMPLES`` texts by default so one measure stays well under a minute on 2 CPU cores.

Every strength uses the same seed (common random numbers): the curves change with s, not with the draw.
The sweet spot is the strength with the smallest gap to target among those whose affinity stays at or above a
threshold.  :func:`self_test` measures each op of a pipeline alone: its effect against s, with warnings for
no-ops and effects that are not monotone in s (for text: the share of words edited, which must be 0 at s = 0
and grow with s).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from da_core.augment.ops import Context
from da_core.augment.pipeline import OpConfig, Pipeline
from da_core.probe import fit_linear_probe

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from da_core.data import Dataset
    from da_core.embed import Embedder

Progress = Callable[[float, str], None]
DEFAULT_STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)
DEFAULT_THRESHOLD = 0.9
HELD_OUT_FRACTION = 0.5  # of the (capped) source: half trains the probe, half is augmented and measured
GROUP_SIZE = 16  # images sharing one random draw (see Pipeline.apply)
NO_OP_PIXELS = 1e-4  # mean |Δ| (0-1 scale) below which an op counts as changing nothing
MONOTONE_TOLERANCE = 0.05  # an effect may dip by this share of its largest value before it counts as a drop
GREY_NO_OPS = {"hue", "saturation", "grayscale"}
DEFAULT_EMBEDDERS = {"image": "digits-cnn", "text": "minilm"}
IMAGE_MAX_SAMPLES = 1000
TEXT_MAX_SAMPLES = 400  # texts per domain: re-embedding with MiniLM on 2 CPU cores is the cost
NO_OP_WORDS = 1e-3  # share of words edited below which a text op counts as changing nothing


# ------------------------------------------------------------------------------------------- results


@dataclass
class StrengthResult:
    """The measures at one strength.

    ``embedding_shift``: mean distance of an augmented embedding from its clean one, in units of the median
    distance between two clean held-out samples (0 = unchanged, 1 = as far as a typical other sample).
    """

    strength: float
    affinity: float
    label_flip_rate: float
    gap_to_target: float
    accuracy: float
    embedding_shift: float = 0.0
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (NaN becomes None)."""
        return {"strength": self.strength, "affinity": _num(self.affinity),
                "label_flip_rate": _num(self.label_flip_rate), "gap_to_target": _num(self.gap_to_target),
                "accuracy": _num(self.accuracy), "embedding_shift": _num(self.embedding_shift),
                "description": self.description}


@dataclass
class OverAugmentationReport:
    """What :func:`measure_over_augmentation` found; :meth:`with_threshold` re-picks the sweet spot."""

    results: list[StrengthResult]
    clean_accuracy: float
    threshold: float
    sweet_spot: float | None
    explanation: str
    clean_gap: float = math.nan       # MMD² between clean held-out source and target
    gap_baseline: float = math.nan    # MMD² between two halves of the clean held-out source (noise floor)
    bandwidth: float = math.nan
    embedder: str = ""
    device: str = ""
    n_train: int = 0
    n_held_out: int = 0
    n_target: int = 0
    seed: int = 0
    pipeline: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def strengths(self) -> list[float]:
        """The strengths of the sweep, in order."""
        return [r.strength for r in self.results]

    def with_threshold(self, threshold: float) -> OverAugmentationReport:
        """The same measures with the sweet spot and explanation re-evaluated at another threshold."""
        from dataclasses import replace

        spot, why = sweet_spot(self.results, threshold)
        return replace(self, threshold=float(threshold), sweet_spot=spot, explanation=why)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: what ``python -m da_core augment --json`` prints."""
        return {
            "strengths": self.strengths,
            "results": [r.to_dict() for r in self.results],
            "sweet_spot": self.sweet_spot,
            "threshold": self.threshold,
            "explanation": self.explanation,
            "clean_accuracy": _num(self.clean_accuracy),
            "clean_gap": _num(self.clean_gap),
            "gap_baseline": _num(self.gap_baseline),
            "bandwidth": _num(self.bandwidth),
            "embedder": self.embedder,
            "device": self.device,
            "n_train": self.n_train,
            "n_held_out": self.n_held_out,
            "n_target": self.n_target,
            "seed": self.seed,
            "pipeline": self.pipeline,
            "notes": list(self.notes),
            "seconds": dict(self.seconds),
        }


def _num(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), 6)


def _get(r: Any, key: str) -> float:
    value = r[key] if isinstance(r, dict) else getattr(r, key)
    return math.nan if value is None else float(value)


def _fmt_gap(v: float) -> str:
    return f"{v:.3g}"


# ---------------------------------------------------------------------------------------- sweet spot


def sweet_spot(results: Sequence[StrengthResult | dict[str, Any]], threshold: float = DEFAULT_THRESHOLD
               ) -> tuple[float | None, str]:
    """The strength with the smallest gap to target whose affinity is ≥ ``threshold``, and why, in words.

    ``results`` are :class:`StrengthResult` objects or their dicts.  Ties go to the weaker strength.
    Returns ``(None, reason)`` when no strength keeps affinity at the threshold.
    """
    rows = sorted(({"s": _get(r, "strength"), "aff": _get(r, "affinity"), "gap": _get(r, "gap_to_target")}
                   for r in results), key=lambda r: r["s"])
    if not rows:
        return None, "No strengths were measured."
    ok = [r for r in rows if math.isfinite(r["aff"]) and math.isfinite(r["gap"]) and r["aff"] >= threshold - 1e-12]
    if not ok:
        finite = [r for r in rows if math.isfinite(r["aff"])]
        if not finite:
            return None, "Affinity could not be measured (the model gets nothing right on clean data)."
        best = max(finite, key=lambda r: r["aff"])
        return None, (f"No strength keeps affinity at or above {threshold:.2f}: the highest is {best['aff']:.2f} "
                      f"at s={best['s']:.2f}. Lower the threshold, or try weaker ops.")
    best = min(ok, key=lambda r: (r["gap"], r["s"]))
    clean = next((r for r in rows if r["s"] == 0.0), None)
    stronger = [r for r in rows if r["s"] > best["s"]]
    if best is clean:
        closer = [r for r in stronger if r["gap"] < best["gap"]]
        if closer:
            first = closer[0]
            return best["s"], (
                f"No strength brings the source closer to the target without costing too much accuracy: at "
                f"s={first['s']:.2f} the gap shrinks to MMD² {_fmt_gap(first['gap'])} (from {_fmt_gap(best['gap'])} "
                f"clean) but the model keeps only {first['aff']:.0%} of its accuracy, below {threshold:.2f}. "
                f"Try strengths below {first['s']:.2f} or a lower threshold.")
        return best["s"], (f"Augmentation does not bring the source closer to the target at any strength tried: "
                           f"the gap is smallest without it (MMD² {_fmt_gap(best['gap'])}).")
    closer_than_clean = clean is not None and best["gap"] < clean["gap"]
    ref = f" vs {_fmt_gap(clean['gap'])} clean" if closer_than_clean else ""
    text = (f"At s={best['s']:.2f} the augmented source is closest to the target (MMD² {_fmt_gap(best['gap'])}{ref}) "
            f"while the model still keeps {best['aff']:.0%} of its accuracy")
    falls = next((r for r in stronger if not r["aff"] >= threshold - 1e-12), None)
    if falls is not None:
        text += (f"; above it affinity falls below {threshold:.2f} ({falls['aff']:.2f} at s={falls['s']:.2f}), "
                 "so stronger augmentation starts to destroy what the model relies on.")
    elif stronger:
        far = max(stronger, key=lambda r: r["gap"])
        text += (f"; stronger augmentation moves the source away from the target again "
                 f"(MMD² {_fmt_gap(far['gap'])} at s={far['s']:.2f}).")
    else:
        text += "; it is the strongest strength tried, so the gap might shrink further beyond it."
    return best["s"], text


# ------------------------------------------------------------------------------------------ helpers


def _as_dataset(images: torch.Tensor, labels: torch.Tensor | None, classes: list[str], domain: str) -> Dataset:
    import torch

    from da_core.data.images import make_dataset

    labels = torch.zeros(len(images), dtype=torch.int64) if labels is None else labels
    return make_dataset(images.detach().cpu(), labels.detach().cpu(), classes, domain)


class _Embedding:
    """One embedder, used on clean and augmented images alike (no disk cache for augmented images).

    Embedders that reduce with a joint PCA (``pixels``) get one PCA fitted on the clean data, applied to all.
    """

    def __init__(self, embedder: str | Embedder, device: str = "auto") -> None:
        from da_core.embed import get_embedder

        self.emb = get_embedder(embedder) if isinstance(embedder, str) else embedder
        self.device = device
        self.device_name = ""
        self.mean: np.ndarray | None = None
        self.components: np.ndarray | None = None

    def fit_on(self, *datasets: Dataset) -> None:
        """Embedders that learn from the data (``tfidf``) learn once, from the clean ``datasets``, so augmented
        texts are embedded on the same axes."""
        if getattr(self.emb, "fits_on_data", False):
            self.emb.fit(list(datasets))

    def raw(self, ds: Dataset, cache: bool) -> np.ndarray:
        from da_core.embed import embed

        result = embed(ds, self.emb, self.device, use_cache=cache)
        if result.device != "cache" or not self.device_name:
            self.device_name = result.device
        return result.vectors.astype(np.float32, copy=False)

    def fit(self, *clean: np.ndarray) -> None:
        """Fit the joint PCA (when the embedder asks for one) on clean vectors."""
        k = self.emb.joint_pca
        if not k or clean[0].shape[1] <= k:
            return
        from da_core.embed import fit_joint_pca

        self.mean, self.components = fit_joint_pca(list(clean), k)

    def project(self, x: np.ndarray) -> np.ndarray:
        if self.components is None:
            return x
        return ((x - self.mean) @ self.components).astype(np.float32)


def _apply(pipeline: Pipeline, images: torch.Tensor, labels: torch.Tensor, strength: float, seed: int,
           num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment (on the GPU when there is one) and return uint8 images and hard labels, in the input order.

    Samples are shuffled (seeded) first, so groups sharing a random draw and MixUp/CutMix partners mix
    classes.  torchvision draws one λ per MixUp/CutMix call, so a pipeline with a batch op is applied per
    group of GROUP_SIZE samples, each group with its own seed: many λ, not one for the whole set.
    MixUp/CutMix labels are the argmax of the soft labels.
    """
    import torch

    n = len(images)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    x, y = images[perm], labels[perm]
    has_batch_op = any(r.batch and r.call is not None for r in pipeline.resolve(strength))
    step = GROUP_SIZE if has_batch_op else max(n, 1)
    out_x, out_y = [], []
    for k, i in enumerate(range(0, n, step)):
        part_seed = seed if not has_batch_op else seed * 1_000_003 + k
        xi, yi = _apply_on_device(pipeline, x[i:i + step], y[i:i + step], strength, part_seed, num_classes)
        out_x.append(xi)
        out_y.append(yi)
    inverse = torch.argsort(perm)
    return torch.cat(out_x)[inverse], torch.cat(out_y)[inverse]


def _apply_on_device(pipeline: Pipeline, images: torch.Tensor, labels: torch.Tensor, strength: float, seed: int,
                     num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One ``Pipeline.apply`` call on the GPU when there is one (the CPU for an op the GPU lacks)."""
    import torch

    device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    try:
        out = pipeline.apply(images.to(device), labels=labels.to(device), strength=strength, generator=seed,
                             num_classes=num_classes, group_size=GROUP_SIZE)
    except (RuntimeError, NotImplementedError, TypeError):
        if device.type == "cpu":
            raise
        out = pipeline.apply(images, labels=labels, strength=strength, generator=seed, num_classes=num_classes,
                             group_size=GROUP_SIZE)
    aug_labels = labels if out.soft_labels is None else out.soft_labels.argmax(1)
    return out.images.cpu(), aug_labels.cpu().to(torch.int64)


def _augment_held(pipeline: Pipeline, held: Dataset, strength: float, seed: int, num_classes: int
                  ) -> tuple[Dataset, np.ndarray]:
    """The held-out split augmented at ``strength`` (images through :func:`_apply`, texts through
    :func:`~da_core.augment.text_ops.augment_texts`) and its labels."""
    if held.modality == "text":
        from da_core.augment.text_ops import augment_texts

        ds = augment_texts(pipeline, held, strength, seed).dataset
        assert ds is not None
        return ds, held.labels.numpy()
    images, labels = _apply(pipeline, held.images, held.labels, strength, seed, num_classes)
    return _as_dataset(images, labels, held.classes, f"{held.domain} augmented at s={strength:g}"), labels.numpy()


def _describer(pipeline: Pipeline, held: Dataset) -> Callable[[float], str]:
    """What a strength means: for images at the held-out image size, for texts on a text of median length."""
    if held.modality == "text":
        from da_core.augment.text_ops import describe_text

        words = int(np.median([len(t.split()) for t in held.texts or [""]])) or 1
        return lambda s: describe_text(pipeline, s, words)
    ctx = Context.of(held)
    return lambda s: pipeline.describe(s, ctx)


def _typical_distance(x: np.ndarray, seed: int) -> float:
    from da_core.gap import median_bandwidth

    return float(median_bandwidth(x, seed=seed, device="cpu")) if len(x) >= 2 else 1.0


def _pinned_notes(pipeline: Pipeline) -> list[str]:
    return [f"ops[{i}] ({op.name}) pins its own strength {op.strength:g}, so it does not follow the sweep"
            for i, op in enumerate(pipeline.ops) if op.strength is not None]


def _cap_note(modality: str, cap: int | None, n_source: int, n_target: int, used_source: int, used_target: int
              ) -> list[str]:
    """Say how many samples were used when the cap cut a domain."""
    if cap is None or (used_source >= n_source and used_target >= n_target):
        return []
    what = "texts" if modality == "text" else "images"
    return [f"used {used_source} of {n_source} source and {used_target} of {n_target} target {what} "
            f"(max_samples={cap}; raise it for tighter numbers)"]


# -------------------------------------------------------------------------------------- the sweep


def measure_over_augmentation(pipeline: Pipeline, source: Dataset, target: Dataset,
                              strengths: Sequence[float] = DEFAULT_STRENGTHS, embedder: str | None = None,
                              threshold: float = DEFAULT_THRESHOLD, max_samples: int | None | str = "auto",
                              seed: int = 0, progress: Progress | None = None) -> OverAugmentationReport:
    """Affinity, label-flip rate and gap to target for each strength (see the module docstring), for an image
    or a text pair.

    ``embedder`` defaults to ``digits-cnn`` for images and ``minilm`` for text.  ``max_samples`` caps each domain
    (seeded, class-stratified; ``"auto"``: 1000 images or 400 texts; None: no cap); half the capped source
    trains the probe and half is the held-out split that is augmented.  The same seed gives the same numbers.
    """
    from da_core.data import align_pair
    from da_core.errors import DAError
    from da_core.gap import median_bandwidth, mmd2

    report = progress or (lambda _f, _m: None)
    start = time.perf_counter()
    grid = sorted({round(float(s), 6) for s in strengths})
    if not grid or any(not 0.0 <= s <= 1.0 for s in grid):
        raise DAError(f"strengths must lie in [0, 1], got {list(strengths)}")
    pipeline.check_fits(source)
    pipeline.check_fits(target)
    modality = source.modality
    if source.classes != target.classes or source.modality != target.modality or (
            modality == "image" and source.shape != target.shape):
        source, target, _ = align_pair(source, target)
    embedder = embedder or DEFAULT_EMBEDDERS[modality]
    if max_samples == "auto":
        max_samples = TEXT_MAX_SAMPLES if modality == "text" else IMAGE_MAX_SAMPLES
    if isinstance(max_samples, str):
        raise DAError(f"max_samples must be a number, None or 'auto', got {max_samples!r}")
    seconds: dict[str, float] = {}

    t = time.perf_counter()
    src, tgt = source.capped(max_samples, seed), target.capped(max_samples, seed)
    train, held = src.split(HELD_OUT_FRACTION, seed=seed)
    if len(train) < 4 or len(held) < 4:
        raise DAError(f"source has too few samples ({len(src)}) to split into a probe and a held-out set")
    report(0.02, f"embedding clean data ({len(train)} train, {len(held)} held-out, {len(tgt)} target)")
    embedding = _Embedding(embedder)
    embedding.fit_on(train, held, tgt)
    raw_train, raw_held, raw_target = (embedding.raw(d, cache=True) for d in (train, held, tgt))
    embedding.fit(raw_train, raw_held, raw_target)
    x_train, x_held, x_target = (embedding.project(x) for x in (raw_train, raw_held, raw_target))
    seconds["embed_clean"] = time.perf_counter() - t

    t = time.perf_counter()
    report(0.15, "fitting the source probe")
    y_train, y_held = train.labels.numpy(), held.labels.numpy()
    probe = fit_linear_probe(x_train, y_train, len(train.classes))
    pred_clean = probe.predict(x_held)
    clean_acc = float((pred_clean == y_held).mean())
    bandwidth = median_bandwidth(np.concatenate([x_held, x_target]), seed=seed, device="cpu")
    scale = _typical_distance(x_held, seed) or 1.0
    clean_gap = mmd2(x_held, x_target, bandwidth, seed=seed)
    halves = np.random.default_rng(seed).permutation(len(x_held))
    a, b = halves[: len(halves) // 2], halves[len(halves) // 2:]
    baseline = mmd2(x_held[a], x_held[b], bandwidth, seed=seed) if min(len(a), len(b)) >= 2 else math.nan
    seconds["probe"] = time.perf_counter() - t

    k = len(src.classes)
    describe = _describer(pipeline, held)
    results: list[StrengthResult] = []
    t_aug = t_emb = t_met = 0.0
    for i, s in enumerate(grid):
        report(0.2 + 0.8 * i / len(grid), f"strength {s:.2f}: {describe(s)}")
        if not pipeline.effective_ops(s):
            x_aug, y_aug = x_held, y_held
        else:
            t = time.perf_counter()
            ds, y_aug = _augment_held(pipeline, held, s, seed, k)
            t_aug += time.perf_counter() - t
            t = time.perf_counter()
            x_aug = embedding.project(embedding.raw(ds, cache=False))
            t_emb += time.perf_counter() - t
        t = time.perf_counter()
        pred = probe.predict(x_aug)
        acc = float((pred == y_aug).mean())
        gap = clean_gap if x_aug is x_held else mmd2(x_aug, x_target, bandwidth, seed=seed)
        shift = float(np.linalg.norm(x_aug - x_held, axis=1).mean() / scale)
        results.append(StrengthResult(
            strength=s, affinity=acc / clean_acc if clean_acc > 0 else math.nan,
            label_flip_rate=float((pred != pred_clean).mean()), gap_to_target=float(gap), accuracy=acc,
            embedding_shift=shift, description=describe(s)))
        t_met += time.perf_counter() - t
    seconds.update(augment=t_aug, embed_augmented=t_emb, metrics=t_met, total=time.perf_counter() - start)
    spot, why = sweet_spot(results, threshold)
    report(1.0, "done")
    return OverAugmentationReport(
        results=results, clean_accuracy=clean_acc, threshold=float(threshold), sweet_spot=spot, explanation=why,
        clean_gap=float(clean_gap), gap_baseline=float(baseline), bandwidth=float(bandwidth),
        embedder=embedding.emb.info.id, device=embedding.device_name, n_train=len(train), n_held_out=len(held),
        n_target=len(tgt), seed=seed, pipeline=pipeline.to_dict(), notes=_pinned_notes(pipeline) + _cap_note(
            modality, max_samples, len(source), len(target), len(src), len(tgt)),
        seconds={key: round(v, 3) for key, v in seconds.items()})


# ---------------------------------------------------------------------------------------- self-test


@dataclass
class OpSelfTest:
    """One op measured alone: its effect at each strength, and what looks wrong.

    ``effect``: mean embedding distance to the original, in units of the median distance between two
    original images' embeddings (the pixel effect when no embedder is used).  For texts ``pixel_effect`` is the
    mean share of words edited (:func:`word_change`).  ``pixel_effect``: mean
    absolute pixel change on the 0-1 scale.  ``values``: what the op means concretely at each strength.
    """

    name: str
    strengths: list[float]
    effect: list[float]
    pixel_effect: list[float]
    warnings: list[str] = field(default_factory=list)
    values: list[str] = field(default_factory=list)
    index: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"name": self.name, "index": self.index, "strengths": list(self.strengths),
                "effect": [_num(v) for v in self.effect], "pixel_effect": [_num(v) for v in self.pixel_effect],
                "warnings": list(self.warnings), "values": list(self.values)}


def _warnings(name: str, strengths: list[float], effect: list[float], pixel: list[float], channels: int,
              unit: str = "images") -> list[str]:
    out = []
    moving = [p for s, p in zip(strengths, pixel) if s > 0]
    if moving and max(moving) < (NO_OP_WORDS if unit == "texts" else NO_OP_PIXELS):
        why = " (it only acts on colour, and these images are grey)" if name in GREY_NO_OPS and channels == 1 else ""
        out.append(f"{name} changes nothing on these {unit} at any strength tried{why}.")
        return out
    top = max(effect) if effect else 0.0
    tol = max(MONOTONE_TOLERANCE * top, 1e-6)
    for j in range(1, len(effect)):
        if effect[j] < effect[j - 1] - tol:
            out.append(f"{name} is not monotone in s: its effect drops from {effect[j - 1]:.3g} at "
                       f"s={strengths[j - 1]:.2f} to {effect[j]:.3g} at s={strengths[j]:.2f}.")
            break
    return out


def word_change(original: str, augmented: str) -> float:
    """Share of ``original``'s words edited in ``augmented``: per differing block of the word diff, the larger of
    the words removed and the words added, summed, over the original's word count (0 = unchanged)."""
    import difflib

    a, b = original.split(), augmented.split()
    if a == b:
        return 0.0
    changed = sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in
                  difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes() if tag != "equal")
    return changed / max(len(a), 1)


def _self_test_texts(pipeline: Pipeline, texts: Sequence[str], grid: list[float], seed: int, embedder: str | None,
                     report: Progress) -> list[OpSelfTest]:
    """:func:`self_test` on texts: ``pixel_effect`` holds the mean share of words edited (:func:`word_change`),
    ``effect`` the embedding shift when an ``embedder`` is given, else that share."""
    from da_core.augment.text_ops import augment_texts, describe_text
    from da_core.data.dataset import Dataset

    texts = [str(t) for t in texts]
    words = int(np.median([len(t.split()) for t in texts])) or 1
    embedding = _Embedding(embedder) if embedder else None

    def as_ds(items: list[str]) -> Dataset:
        return Dataset.from_texts(items, np.zeros(len(items), dtype=np.int64), ["all"], domain="self-test")

    base = None
    if embedding is not None:
        clean = as_ds(texts)
        embedding.fit_on(clean)
        base = embedding.raw(clean, cache=False)
    scale = _typical_distance(base, seed) if base is not None else 1.0

    def measure(single: Pipeline, s: float) -> tuple[str, float, float]:
        aug = augment_texts(single, texts, s, seed).texts
        share = float(np.mean([word_change(a, b) for a, b in zip(texts, aug)]))
        if embedding is None or base is None:
            return describe_text(single, s, words), share, share
        x = embedding.raw(as_ds(aug), cache=False)
        return describe_text(single, s, words), share, float(np.linalg.norm(x - base, axis=1).mean() / (scale or 1.0))

    out: list[OpSelfTest] = []
    for i, name, values, share, effect in _each_op_alone(pipeline, grid, seed, report, measure):
        warnings = _warnings(name, grid, effect, share, 0, unit="texts")
        if grid and grid[0] == 0.0 and share[0] > 0:
            warnings.insert(0, f"{name} is not the identity at s=0: it edits {share[0]:.1%} of the words.")
        out.append(OpSelfTest(name, list(grid), effect, share, warnings, values, i))
    return out


def _each_op_alone(pipeline: Pipeline, grid: list[float], seed: int, report: Progress,
                   measure: Callable[[Pipeline, float], tuple[str, float, float]]
                   ) -> Iterator[tuple[int, str, list[Any], list[Any], list[Any]]]:
    """For each op of ``pipeline`` alone (its own strength override dropped): its index, name, and over ``grid``
    what ``measure(single-op pipeline, s)`` gives, (what s means, the raw change, the effect), as three lists;
    progress is reported per op and strength, and done at the end."""
    steps = max(1, len(pipeline.ops) * len(grid))
    for i, op in enumerate(pipeline.ops):
        single = Pipeline([OpConfig(op.name, op.p, None, dict(op.knobs))], strength=pipeline.strength, seed=seed)
        rows = []
        for j, s in enumerate(grid):
            report((i * len(grid) + j) / steps, f"self-test {op.name} at s={s:.2f}")
            rows.append(measure(single, s))
        values, change, effect = ([list(column) for column in zip(*rows)] if rows else ([], [], []))
        yield i, op.name, values, change, effect
    report(1.0, "done")


def self_test(pipeline: Pipeline, images_uint8: torch.Tensor | Sequence[str],
              strengths: Sequence[float] = DEFAULT_STRENGTHS, seed: int = 0, embedder: str | None = "auto",
              progress: Progress | None = None, labels: torch.Tensor | None = None,
              num_classes: int | None = None) -> list[OpSelfTest]:
    """Each op of ``pipeline`` alone (its own strength override dropped) on ``images_uint8`` (N x C x H x W), or
    on a list of texts for a text pipeline.

    Warns when an op changes no pixel (no word) at any strength > 0, and when its effect falls as s grows by more
    than 5% of its largest value; a text op that edits words at s = 0 is warned about too.  ``embedder``:
    ``"auto"`` is ``digits-cnn`` for images and None for texts; None measures pixels (the share of words edited)
    only: fast, no model.  MixUp/CutMix get ``labels`` (default: all zeros, which still mixes the images).
    """
    import torch

    report = progress or (lambda _f, _m: None)
    grid = sorted({round(float(s), 6) for s in strengths})
    if not isinstance(images_uint8, torch.Tensor):
        if len(images_uint8) < 2:
            raise ValueError("self_test needs at least 2 texts")
        return _self_test_texts(pipeline, images_uint8, grid, seed, None if embedder == "auto" else embedder,
                                report)
    embedder = DEFAULT_EMBEDDERS["image"] if embedder == "auto" else embedder
    n = len(images_uint8)
    if n < 2:
        raise ValueError("self_test needs at least 2 images")
    images = images_uint8.detach().cpu()
    labels = torch.zeros(n, dtype=torch.int64) if labels is None else labels.detach().cpu().to(torch.int64)
    k = num_classes or max(2, int(labels.max()) + 1)
    classes = [str(c) for c in range(k)]
    embedding = _Embedding(embedder) if embedder else None
    base = embedding.raw(_as_dataset(images, labels, classes, "self-test"), cache=False) if embedding else None
    if embedding is not None:
        embedding.fit(base)
        base = embedding.project(base)
    scale = _typical_distance(base, seed) if base is not None else 1.0
    context = Context(*images.shape[2:], images.shape[1], k)

    def measure(single: Pipeline, s: float) -> tuple[str, float, float]:
        value = single.describe(s, context)
        if not single.effective_ops(s):
            return value, 0.0, 0.0
        aug, _ = _apply(single, images, labels, s, seed, k)
        pixel = float((aug.float() - images.float()).abs().mean() / 255.0)
        if embedding is None:
            return value, pixel, pixel
        x = embedding.project(embedding.raw(_as_dataset(aug, labels, classes, "self-test"), cache=False))
        return value, pixel, float(np.linalg.norm(x - base, axis=1).mean() / (scale or 1.0))

    return [OpSelfTest(name, list(grid), effect, pixel, _warnings(name, grid, effect, pixel, int(images.shape[1])),
                       values, i)
            for i, name, values, pixel, effect in _each_op_alone(pipeline, grid, seed, report, measure)]
