"""The selection workflow the Selection page and ``python -m da_core select`` share: embed the pair, weigh the
source with a selector, keep the top fraction, and measure what that does to the gap."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from da_core.data import Dataset, align_pair
from da_core.errors import ModalityError
from da_core.select.measures import (
    CURVE_FRACTIONS,
    CurvePoint,
    balance_warnings,
    class_counts,
    effective_sample_size,
    gap_curve,
)
from da_core.select.selectors import SelectorInput, domain_probabilities, get_selector, select_top

DEFAULT_METHOD = "density-ratio"
DEFAULT_FRACTION = 0.5


@dataclass
class SelectionResult:
    """A selection and its measures (see the module docstring).  ``source``/``target`` are the aligned (and
    capped) datasets the weights belong to, ``xs``/``xt`` their embeddings."""

    method: str
    params: dict[str, Any]
    fraction: float
    embedder: str
    device: str
    source: Dataset
    target: Dataset
    xs: np.ndarray
    xt: np.ndarray
    weights: np.ndarray
    selected: np.ndarray
    target_scores: np.ndarray
    curve: list[CurvePoint]
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    group_gaps: dict[str, float] | None = None
    groups: np.ndarray | None = None  # each source sample's group, for a selector that keeps whole groups
    importance: bool = False  # the weights are importance weights (train on them as they are)

    @property
    def warnings(self) -> list[str]:
        """Classes the selection leaves empty or nearly so (follows :attr:`selected`)."""
        return balance_warnings(self.class_counts_after, self.class_counts_before)

    @property
    def ess(self) -> float:
        """Effective sample size, as a share of the source (1 = uniform): of the importance weights for a
        selector that makes them, else of the selection itself (then it is the share kept)."""
        return effective_sample_size(self.weights if self.importance else self.selected.astype(np.float64))

    def point(self, fraction: float) -> CurvePoint:
        """The gap-curve point nearest ``fraction``."""
        return min(self.curve, key=lambda p: abs(p.fraction - fraction))

    @property
    def class_counts_before(self) -> dict[str, int]:
        """Source samples per class before selection."""
        return self.source.counts

    @property
    def class_counts_after(self) -> dict[str, int]:
        """Source samples per class kept."""
        return class_counts(self.source.labels.numpy(), self.selected, self.source.classes)

    def least_covered(self, k: int = 24) -> np.ndarray:
        """Positions of the ``k`` target samples the source covers least (the domain classifier is surest they
        are target)."""
        return np.argsort(-self.target_scores, kind="stable")[:k]

    def ranked(self) -> np.ndarray:
        """Source positions from the most to the least target-like."""
        return np.argsort(-self.weights, kind="stable")

    def csv(self, origin: str, fingerprint: str, use: str = "subset") -> bytes:
        """:meth:`table` as CSV bytes: what ``select --out`` writes and the Selection page downloads or hands
        to the Training page."""
        return self.table(origin, fingerprint, use).to_csv(index=False).encode()

    def table(self, origin: str, fingerprint: str, use: str = "subset") -> Any:
        """The selection as the CSV the Training page and ``train --selection`` read: one row per source sample
        with ``uid``, ``domain``, ``origin``, ``weight``, ``selected``, ``use`` (``subset``: train on the selected
        rows; ``weights``: on every row with its weight), the source's ``fingerprint``, and ``method``,
        ``fraction`` and ``params`` (JSON), which a run records; most target-like first."""
        import json

        import pandas as pd

        if use not in ("subset", "weights"):
            raise ValueError(f"use must be subset or weights, got {use!r}")
        order = self.ranked()
        uids = self.source.uids
        weights = self.weights[order]
        if use == "weights" and not self.importance:  # scores are not weights: shift them to >= 0
            weights = weights - min(0.0, float(weights.min()))
        return pd.DataFrame({"uid": [uids[i] for i in order], "domain": "source", "origin": origin,
                             "weight": weights, "selected": self.selected[order], "use": use,
                             "fingerprint": fingerprint, "method": self.method, "fraction": self.fraction,
                             "params": json.dumps(self.params, sort_keys=True)})

    def to_dict(self) -> dict[str, Any]:
        """The command line's JSON."""
        after, full = self.point(self.fraction), self.point(1.0)
        return {"method": self.method, "params": self.params, "fraction": self.fraction, "embedder": self.embedder,
                "n_source": len(self.source), "n_target": len(self.target), "n_selected": int(self.selected.sum()),
                "ess": self.ess, "gap_before": {"mmd2": full.mmd2, "ci": list(full.ci)},
                "gap_after": {"mmd2": after.mmd2, "ci": list(after.ci)},
                "random_baseline": {"mmd2": after.random_mmd2, "ci": [after.random_low, after.random_high]},
                "curve": [p.to_dict() for p in self.curve], "class_counts_before": self.class_counts_before,
                "class_counts_after": self.class_counts_after, "notes": self.notes, "warnings": self.warnings,
                "group_gaps": self.group_gaps, "seconds": self.seconds}


def select_source(source: Dataset, target: Dataset, method: str = DEFAULT_METHOD, params: dict[str, Any] | None = None,
                  fraction: float = DEFAULT_FRACTION, embedder: str | None = None, max_samples: int | None = None,
                  seed: int = 0, device: str = "auto", progress: Any = None) -> SelectionResult:
    """Embed both domains (aligned, capped to ``max_samples`` each when given), weigh the source with
    ``method`` and keep ``fraction``; measures included (see :class:`SelectionResult`).  ``embedder`` defaults to
    the modality's (digits-cnn for images, minilm for text)."""
    from da_core.embed import default_embedder
    from da_core.gap_workflow import embed_for_gap

    report = progress or (lambda _f, _m: None)
    selector = get_selector(method)
    if selector.modality is not None and source.modality != selector.modality:
        raise ModalityError(f"selector {method!r} takes {selector.modality} data, but dataset {source.domain!r} "
                            f"holds {source.modality}")
    embedder = embedder or default_embedder(source.modality)
    values = selector.resolve(params)
    source, target, _ = align_pair(source, target)
    # the Gap map's capped samples and embeddings, so the Selection page can draw the Gap map's own map
    pair = embed_for_gap(source, target, embedder, max_samples, seed, device, lambda f, m: report(0.4 * f, m))
    source, target, xs, xt = pair.source, pair.target, pair.xs, pair.xt
    seconds: dict[str, float] = {"embed": pair.seconds}

    report(0.4, f"weighing the source ({selector.label})")
    t = time.perf_counter()
    inputs = SelectorInput(xs, xt, source.labels.numpy(), target.labels.numpy(), source.meta, len(source.classes),
                           seed, source.texts, target.texts)
    weights = selector.fn(inputs, values)
    seconds["weights"] = time.perf_counter() - t
    selected = select_top(selector, weights, inputs.ys, fraction)
    target_scores = weights.target_scores
    if target_scores is None:  # the least-covered target samples come from the domain classifier in any case
        t = time.perf_counter()
        target_scores = domain_probabilities(xs, xt, 3, seed)[1]
        seconds["coverage"] = time.perf_counter() - t

    report(0.55, "measuring the gap curve")
    t = time.perf_counter()
    fractions = sorted({*CURVE_FRACTIONS, round(float(fraction), 4)})
    masks = [selected if f == round(float(fraction), 4) else select_top(selector, weights, inputs.ys, f)
             for f in fractions]
    curve = gap_curve(xs, xt, masks, fractions, seed=seed, device=device,
                      progress=lambda f, m: report(0.55 + 0.45 * f, m))
    seconds["curve"] = time.perf_counter() - t
    report(1.0, "done")
    return SelectionResult(method, values, float(fraction), pair.embedder, pair.device, source, target, xs, xt,
                           weights.weights, selected, target_scores, curve, list(weights.notes), seconds,
                           weights.group_gaps, weights.groups, selector.importance)
