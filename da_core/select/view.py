"""What the Selection page shows, computed from a :class:`SelectionResult`: its cache keys (shared with the Gap
map's, so the page draws the Gap map's own map of the same samples), the selection at another fraction without
weighing the source again, the class balance, and the samples a gallery shows."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np

from da_core.data import Dataset
from da_core.gap_workflow import gap_key, map_key, pca_map_key
from da_core.select.selectors import Weights, get_selector, select_top
from da_core.select.workflow import SelectionResult
from da_core.warmup import MAP_DEFAULTS


def selection_key(source: Dataset, target: Dataset, method: str, params: dict[str, Any], embedder: str,
                  max_samples: int | None, seed: int) -> str:
    """The key of one selection in a cache: the pair's embeddings (:func:`gap_key`), the method and its
    parameters (the fraction is not part of it: :func:`at_fraction` re-selects from the same weights)."""
    return f"{gap_key(source, target, embedder, max_samples, seed)}|{method}|{json.dumps(params, sort_keys=True)}"


def map_keys(source: Dataset, target: Dataset, embedder: str, max_samples: int | None, seed: int) -> tuple[str, str]:
    """The cache keys of the Gap page's 2-D maps of these embeddings: the UMAP map it draws before anyone touches
    its widgets (the warm-up's, :data:`da_core.warmup.MAP_DEFAULTS`) and its PCA stand-in."""
    key, m = gap_key(source, target, embedder, max_samples, seed), MAP_DEFAULTS
    return map_key(key, 2, m["n_neighbors"], m["min_dist"], m["engine"]), pca_map_key(key, 2)


def at_fraction(result: SelectionResult, fraction: float) -> SelectionResult:
    """The same selection kept at ``fraction`` (the weights and the gap curve are not recomputed); the class
    balance warnings follow the new mask."""
    if abs(fraction - result.fraction) < 1e-9:
        return result
    mask = select_top(get_selector(result.method), Weights(result.weights, groups=result.groups),
                      result.source.labels.numpy(), fraction)
    return replace(result, fraction=float(fraction), selected=mask)


def class_balance_rows(result: SelectionResult) -> list[dict[str, Any]]:
    """Per source class: samples before and after the selection and the share kept."""
    before, after = result.class_counts_before, result.class_counts_after
    return [{"class": name, "before": n, "after": after.get(name, 0),
             "kept": after.get(name, 0) / n if n else float("nan")} for name, n in before.items()]


def sample_images(ds: Dataset, positions: np.ndarray) -> np.ndarray:
    """The images at ``positions``, uint8 N×C×H×W (for :func:`da_core.viz.gallery`)."""
    return ds.images[np.ascontiguousarray(positions, dtype=np.int64)].numpy()


def sample_rows(ds: Dataset, positions: np.ndarray, values: np.ndarray | None = None,
                value_name: str = "weight") -> Any:
    """The samples at ``positions`` as a table: ``uid``, ``class``, the ``values`` given (e.g. each one's weight)
    and, for text, the ``text``."""
    import pandas as pd

    idx = np.asarray(positions, dtype=np.int64)
    uids, labels = ds.uids, ds.labels.numpy()
    frame = pd.DataFrame({"uid": [uids[i] for i in idx], "class": [ds.classes[int(labels[i])] for i in idx]})
    if values is not None:
        frame[value_name] = np.asarray(values)[idx]
    if ds.texts is not None:
        frame["text"] = [ds.texts[i] for i in idx]
    return frame


def uid_caption(ds: Dataset, positions: np.ndarray, values: np.ndarray | None = None, value_name: str = "weight",
                limit: int = 24) -> str:
    """One line naming a gallery's samples by uid in order (row by row from the top left), with the range of
    their ``values`` when given."""
    idx = np.asarray(positions, dtype=np.int64)[:limit]
    uids = ds.uids
    line = "uids, row by row: " + ", ".join(uids[i] for i in idx)
    if values is not None and len(idx):
        v = np.asarray(values)[idx]
        line += f" ({value_name} {v[0]:.3g} … {v[-1]:.3g})"
    return line


def verdict(result: SelectionResult) -> tuple[bool, str]:
    """Whether the kept source is closer to the target than random subsets of the same size (its MMD² interval
    lies below their range), and the sentence that says so with its numbers (at the gap-curve point nearest the
    fraction kept)."""
    p, full = result.point(result.fraction), result.point(1.0)
    where = f"{p.fraction:.0%} kept (n = {p.n})"
    if abs(p.fraction - result.fraction) > 1e-9:
        where += f", the measured fraction nearest {result.fraction:.0%}"
    numbers = (f"MMD² = {p.mmd2:.4g} [95% CI {p.ci[0]:.3g}, {p.ci[1]:.3g}] against {p.random_mmd2:.4g} for random "
               f"subsets of the same size (range {p.random_low:.3g} to {p.random_high:.3g}); the whole source: "
               f"{full.mmd2:.4g}.")
    if p.ci[1] < p.random_low:
        return True, f"**The selection is closer to the target than random subsets** at {where}: {numbers}"
    if p.ci[0] > p.random_high:
        return False, f"**The selection is farther from the target than random subsets** at {where}: {numbers}"
    return False, f"**The selection is not clearly closer to the target than random subsets** at {where}: {numbers}"
