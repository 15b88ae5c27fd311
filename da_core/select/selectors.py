"""Source-domain selectors: which source samples look like the target.

Each selector is a registry entry that declares its parameters (``Param``: the page builds its widgets and the
command line reads ``--param k=v`` from them) and returns one weight per source sample, higher for more
target-like samples.  A selection is the top fraction by weight (:func:`select_top`; per class for selectors
that keep the class balance, whole groups for ``group``) or the weights themselves (importance weighting).

All but one work on embeddings, so they serve any modality an embedder supports; ``dsir`` (``dsir.py``) reads
the texts themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from da_core import neighbours
from da_core.data.spec import Param
from da_core.errors import SpecError

GROUP_MAX_POINTS = 1000  # per side, for the MMD² that ranks a group


@dataclass
class SelectorInput:
    """What a selector may use: embeddings of both domains, source labels, target labels when there are any,
    the source's meta (for ``group``), the number of classes, a seed, and for text both domains' texts."""

    xs: np.ndarray
    xt: np.ndarray
    ys: np.ndarray
    yt: np.ndarray | None
    meta: pd.DataFrame
    n_classes: int
    seed: int = 0
    texts_s: list[str] | None = None  # the samples themselves, for a selector that reads text (dsir)
    texts_t: list[str] | None = None


@dataclass
class Weights:
    """A selector's output: one weight per source sample, and what the page should say about how they were
    made (e.g. "pseudo-labels from the source model"); ``target_scores``: how target-like each target sample
    is by the selector's own model, when it has one (higher = less covered by the source);  ``groups``: each
    source sample's group for ``group``."""

    weights: np.ndarray
    notes: list[str] = field(default_factory=list)
    target_scores: np.ndarray | None = None
    groups: np.ndarray | None = None
    group_gaps: dict[str, float] | None = None


@dataclass(frozen=True)
class Selector:
    """A registry entry."""

    name: str
    label: str
    summary: str
    params: tuple[Param, ...]
    fn: Callable[[SelectorInput, dict[str, Any]], Weights]
    balanced: bool = False  # the top fraction is taken within each class
    whole_groups: bool = False  # the top fraction is made of whole groups
    importance: bool = False  # the weights are importance weights (mean 1), fit to train on as they are
    modality: str | None = None  # the one modality it serves (dsir reads text); None: any, through embeddings

    def resolve(self, params: dict[str, Any] | None) -> dict[str, Any]:
        """Typed parameter values, defaults filled in; unknown names refused naming the valid ones."""
        given = dict(params or {})
        known = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise SpecError(f"selector {self.name}: unknown parameter {unknown[0]!r}; valid: "
                            f"{', '.join(known) or 'none'}")
        return {p.name: p.coerce(given[p.name], f"selector {self.name}") if p.name in given else p.default
                for p in self.params}


_SELECTORS: dict[str, Selector] = {}


def register_selector(name: str, label: str, summary: str, params: tuple[Param, ...] = (), *,
                      balanced: bool = False, whole_groups: bool = False,
                      importance: bool = False,
                      modality: str | None = None) -> Callable[[Callable[..., Weights]], Callable[..., Weights]]:
    """Decorator adding a selector function ``fn(inputs, params) -> Weights`` to the registry (``modality``: the
    one modality it serves, when it reads the samples themselves rather than their embeddings)."""

    def deco(fn: Callable[..., Weights]) -> Callable[..., Weights]:
        _SELECTORS[name] = Selector(name, label, summary, params, fn, balanced, whole_groups, importance, modality)
        return fn

    return deco


def selectors(modality: str | None = None) -> dict[str, Selector]:
    """The registered selectors by name, in registration order (those serving ``modality`` when given)."""
    return {k: s for k, s in _SELECTORS.items() if modality is None or s.modality in (None, modality)}


def get_selector(name: str) -> Selector:
    """A selector by name; :class:`SpecError` lists the valid names."""
    if name not in _SELECTORS:
        raise SpecError(f"unknown selection method {name!r}; available: {', '.join(_SELECTORS)}")
    return _SELECTORS[name]


# ------------------------------------------------------------------------------------------- helpers


def knn_similarity(xs: np.ndarray, xt: np.ndarray, k: int) -> np.ndarray:
    """Mean cosine similarity of each row of ``xs`` to its ``k`` nearest rows of ``xt`` (exact:
    :func:`da_core.neighbours.search`, faiss when installed, else torch in blocks)."""
    if len(xs) == 0:
        return np.zeros(0)
    if len(xt) == 0:
        raise SpecError("selection needs target samples to compare with")
    _, sims = neighbours.search(xt, xs, k=max(1, int(k)), metric="cosine")
    return sims.mean(axis=1).astype(np.float64)


def domain_probabilities(xs: np.ndarray, xt: np.ndarray, folds: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """P(target | x) for every source and target sample from a logistic-regression domain classifier,
    cross-fitted (each sample is scored by a classifier fitted on the other folds) and calibrated (a sigmoid
    fitted to the out-of-fold scores, Platt's method)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    z = np.concatenate([xs, xt]).astype(np.float32, copy=False)
    d = np.r_[np.zeros(len(xs), dtype=int), np.ones(len(xt), dtype=int)]
    folds = max(2, min(int(folds), len(xs), len(xt)))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    scores = cross_val_predict(model, z, d, cv=cv, method="decision_function")
    calibration = LogisticRegression().fit(scores[:, None], d)
    p = calibration.predict_proba(scores[:, None])[:, 1]
    return p[:len(xs)], p[len(xs):]


def group_column(meta: pd.DataFrame, column: str) -> pd.Series:
    """The group of each source sample: a meta column, or ``folder`` (the parent folder of each file's path)."""
    if column == "folder" and "folder" not in meta.columns and "path" in meta.columns:
        return meta["path"].astype(str).map(lambda p: p.rsplit("/", 1)[0] if "/" in p else ".")
    if column not in meta.columns:
        usable = [c for c in meta.columns if c != "uid"] + (["folder"] if "path" in meta.columns else [])
        raise SpecError(f"selector group: the source has no column {column!r}; it has {', '.join(usable) or 'none'}")
    return meta[column].astype(str)


# ----------------------------------------------------------------------------------------- selectors


@register_selector(
    "knn-similarity", "k-NN similarity",
    "Mean cosine similarity of each source sample to its k nearest target samples.",
    (Param("k", int, 10, "target neighbours averaged per source sample", min=1, max=1000),))
def _knn(inputs: SelectorInput, params: dict[str, Any]) -> Weights:
    return Weights(knn_similarity(inputs.xs, inputs.xt, params["k"]))


@register_selector(
    "density-ratio", "Density ratio (domain classifier)",
    "A calibrated, cross-fitted domain classifier p(target|x): w = p/(1−p) · n_s/n_t, clipped and normalised to "
    "mean 1 (importance weights).",
    (Param("max_weight", float, 10.0, "largest weight kept (before normalising to mean 1)", min=1.0, max=1e6),
     Param("folds", int, 3, "cross-fitting folds: no sample is scored by a classifier that saw it", min=2,
           max=10)),
    importance=True)
def _density_ratio(inputs: SelectorInput, params: dict[str, Any]) -> Weights:
    w, clipped, pt = density_ratio(inputs.xs, inputs.xt, params["folds"], inputs.seed, params["max_weight"])
    notes = [f"{clipped} weights clipped at {params['max_weight']:g}"] if clipped else []
    return Weights(w / w.mean(), notes, target_scores=pt)


def density_ratio(xs: np.ndarray, xt: np.ndarray, folds: int = 3, seed: int = 0,
                  max_weight: float = 10.0) -> tuple[np.ndarray, int, np.ndarray]:
    """The source samples' density ratios p_t(x)/p_s(x) = p/(1−p) · n_s/n_t from a cross-fitted, calibrated domain
    classifier, clipped at ``max_weight`` but not normalised (their mean estimates 1: DEV's control variate needs
    that); also how many were clipped and the target samples' p(target|x)."""
    ps, pt = domain_probabilities(xs, xt, folds, seed)
    ps = np.clip(ps, 1e-12, 1 - 1e-12)
    w = ps / (1 - ps) * len(xs) / max(len(xt), 1)
    clipped = int((w > max_weight).sum())
    return np.minimum(w, max_weight), clipped, pt


@register_selector(
    "class-conditional", "Class-conditional similarity",
    "k-NN similarity within each class (target labels where there are any, else pseudo-labels from the source "
    "model); the top fraction is taken in every class, so the class balance is kept.",
    (Param("k", int, 10, "target neighbours of the same class averaged per source sample", min=1, max=1000),
     Param("use_target_labels", bool, False, "use the target's own labels (when it has them) instead of "
                                            "pseudo-labels: only when target labels are really available")),
    balanced=True)
def _class_conditional(inputs: SelectorInput, params: dict[str, Any]) -> Weights:
    if inputs.yt is not None and params["use_target_labels"]:
        yt, notes = inputs.yt, ["classes of target samples from their labels"]
    else:
        from da_core.probe import fit_linear_probe

        yt = fit_linear_probe(inputs.xs, inputs.ys, inputs.n_classes).predict(inputs.xt)
        notes = ["classes of target samples are pseudo-labels from the source model (a linear probe on source "
                 "embeddings): the target has no labels here"]
    w = np.full(len(inputs.xs), -1.0)  # below any cosine similarity: a class the target lacks comes last
    for c in np.unique(inputs.ys):
        src, tgt = inputs.ys == c, yt == c
        if tgt.any():
            w[src] = knn_similarity(inputs.xs[src], inputs.xt[tgt], params["k"])
    missing = sorted(set(np.unique(inputs.ys).tolist()) - set(np.unique(yt).tolist()))
    if missing:
        notes.append(f"{len(missing)} source classes have no target sample to compare with; they rank last")
    return Weights(w, notes)


@register_selector(
    "group", "Whole groups",
    "Ranks the groups of a metadata column (the font of printed digits, a sub-folder, any column) by their MMD² "
    "to the target and selects whole groups, closest first.",
    (Param("column", str, "font", "the source meta column whose values form the groups ('folder' for the "
                                  "sub-folder of a folder dataset)"),),
    whole_groups=True)
def _group(inputs: SelectorInput, params: dict[str, Any]) -> Weights:
    from da_core.gap import median_bandwidth, mmd2

    groups = group_column(inputs.meta, params["column"]).to_numpy()
    names = pd.unique(groups)
    if len(names) < 2:
        raise SpecError(f"selector group: column {params['column']!r} has a single group ({names[0]!r} for all "
                        f"{len(groups)} samples); choose a column with several values")
    rng = np.random.default_rng(inputs.seed)
    xt = inputs.xt[rng.permutation(len(inputs.xt))[:GROUP_MAX_POINTS]]
    bandwidth = median_bandwidth(np.concatenate([inputs.xs[:GROUP_MAX_POINTS], xt]), seed=inputs.seed, device="cpu")
    gaps: dict[str, float] = {}
    for name in names:
        idx = np.flatnonzero(groups == name)
        sample = inputs.xs[idx[rng.permutation(len(idx))[:GROUP_MAX_POINTS]]]
        gaps[str(name)] = mmd2(sample, xt, bandwidth, seed=inputs.seed, device="cpu") if len(sample) >= 2 \
            else float("inf")
    w = np.array([-gaps[str(g)] for g in groups])
    finite = np.isfinite(w)
    w[~finite] = (w[finite].min() - 1.0) if finite.any() else -1.0  # one-sample groups rank last
    return Weights(w, [f"{len(names)} groups of {params['column']!r} ranked by MMD² to the target"], groups=groups,
                   group_gaps=gaps)


@register_selector("random", "Random (baseline)", "Uniformly random weights: the baseline every figure compares "
                   "against.", (Param("seed", int, 0, "seed of the draw", min=0),))
def _random(inputs: SelectorInput, params: dict[str, Any]) -> Weights:
    return Weights(np.random.default_rng([inputs.seed, params["seed"]]).random(len(inputs.xs)))


# ----------------------------------------------------------------------------------------- selecting


def select_top(selector: Selector, weights: Weights, labels: np.ndarray, fraction: float) -> np.ndarray:
    """A boolean mask of the source samples kept at ``fraction``: the top by weight overall, within each class
    (balanced selectors), or whole groups, best first, until the fraction is reached (at least one group)."""
    if not 0.0 < fraction <= 1.0:
        raise SpecError(f"selection fraction must be in (0, 1], got {fraction}")
    w = weights.weights
    n = len(w)
    keep = np.zeros(n, dtype=bool)
    if selector.whole_groups and weights.groups is not None:
        budget = max(1, int(round(fraction * n)))
        order = sorted(pd.unique(weights.groups), key=lambda g: -w[np.flatnonzero(weights.groups == g)[0]])
        for g in order:
            members = weights.groups == g
            if keep.any() and keep.sum() + members.sum() > budget:
                break
            keep |= members
        return keep
    if selector.balanced:
        for c in np.unique(labels):
            idx = np.flatnonzero(labels == c)
            top = idx[np.argsort(-w[idx], kind="stable")[:max(1, int(round(fraction * len(idx))))]]
            keep[top] = True
        return keep
    keep[np.argsort(-w, kind="stable")[:max(1, int(round(fraction * n)))]] = True
    return keep
