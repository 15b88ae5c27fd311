"""A run's training film: the backbone's features of the same held-out samples at every evaluation, on one map.

While a run trains, :class:`FilmRecorder` keeps, at each evaluation, the features of a fixed, seeded part of the
held-out source and target (:data:`FILM_ROWS` of each, class-stratified): step 0 is the backbone before
training.  :meth:`FilmRecorder.to_bytes` packs them (float16 ``.npz``), and the store keeps them with the run.

:func:`film_frames` lays the frames out.  Each frame gets a map of its own features (the Gap map's engines,
seeded), and each map is aligned to the previous one by an orthogonal Procrustes fit (rotation, reflection, scale
and shift) on the same samples, so the points move only as far as the features did.  Why not one map fitted once:
features drift over training, so one UMAP fitted on every frame's features pulls the frames apart from each
other rather than showing the domains within each; and a map fitted on the first frame would place later
features by their neighbours among features that no longer exist.  Each frame also carries a number measured in
its own feature space, not on the map: the domain mixing (the share of each target sample's
:data:`MIX_NEIGHBOURS` nearest held-out neighbours that are source samples, relative to the source's share of
the film's samples; 1 = as mixed as chance, 0 = the domains apart).
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from da_core import neighbours
from da_core.data.dataset import stratified_subset
from da_core.reduce import reduce
from da_core.viz import DOMAIN_COLOURS, DOMAIN_SYMBOLS

FILM_ROWS = 150  # held-out samples per domain in every frame
MIX_NEIGHBOURS = 10


class FilmRecorder:
    """Collects the film of one run: which held-out rows, and their features at each evaluation's step."""

    def __init__(self, source_labels: Any, target_labels: Any, seed: int, rows: int = FILM_ROWS) -> None:
        self.rows = tuple(np.asarray(stratified_subset(np.asarray(labels), rows, seed + 31), dtype=np.int64)
                          for labels in (source_labels, target_labels))
        self.labels = tuple(np.asarray(labels)[r] for labels, r in zip((source_labels, target_labels), self.rows,
                                                                         strict=True))
        self.steps: list[int] = []
        self.frames: list[np.ndarray] = []

    def capture(self, step: int, features: tuple[Any, Any] | None) -> None:
        """Keep this evaluation's features of the film's rows (a later capture at the same step replaces it)."""
        if features is None:
            return
        parts = [np.asarray(f.detach().float().cpu().numpy() if hasattr(f, "detach") else f)[r]
                 for f, r in zip(features, self.rows, strict=True)]
        frame = np.concatenate(parts).astype(np.float16)
        if self.steps and self.steps[-1] == step:
            self.frames[-1] = frame
            return
        self.steps.append(int(step))
        self.frames.append(frame)

    def to_bytes(self) -> bytes | None:
        """The film as ``.npz`` bytes (steps, features frames x n x d, domain and label per sample, held-out rows);
        None before any frame."""
        if not self.frames:
            return None
        buffer = io.BytesIO()
        domains = np.array([0] * len(self.rows[0]) + [1] * len(self.rows[1]), dtype=np.int8)
        np.savez_compressed(buffer, steps=np.asarray(self.steps, dtype=np.int64), features=np.stack(self.frames),
                            domains=domains, labels=np.concatenate(self.labels).astype(np.int64),
                            rows=np.concatenate(self.rows))
        return buffer.getvalue()


@dataclass
class Film:
    """A film unpacked: ``features`` (frames x n x d), ``steps``, and per sample its domain and label, and its row
    in the held-out set of its domain."""

    steps: np.ndarray
    features: np.ndarray
    domains: np.ndarray
    labels: np.ndarray
    rows: np.ndarray

    @classmethod
    def from_bytes(cls, data: bytes) -> Film:
        """Read :meth:`FilmRecorder.to_bytes`'s output."""
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return cls(z["steps"], z["features"].astype(np.float32), np.where(z["domains"] == 0, "source", "target"),
                       z["labels"], z["rows"])

    @functools.cached_property
    def mixing(self) -> list[float]:
        """Each frame's domain mixing in its own feature space (see the module docstring), computed once."""
        is_source = self.domains == "source"
        chance = float(is_source.mean())
        out = []
        for feats in self.features:  # each sample's others (never itself, even among duplicate features)
            idx, _ = neighbours.search(feats, k=MIX_NEIGHBOURS, exclude_self=True)
            share = is_source[idx[~is_source]].mean()
            out.append(round(float(share / chance), 4) if chance > 0 else 0.0)
        return out


def film_frames(film: Film, method: str = "umap", seed: int = 0) -> np.ndarray:
    """Frames x n x 2 map coordinates: a map per frame, each aligned to the one before (module docstring)."""
    from scipy.linalg import orthogonal_procrustes

    maps: list[np.ndarray] = []
    for feats in film.features:
        coords = reduce(feats, method, n_components=2, seed=seed).coords.astype(np.float64)
        coords -= coords.mean(axis=0)
        coords /= max(float(np.sqrt((coords ** 2).sum(axis=1).mean())), 1e-12)  # unit mean radius
        if maps:
            rotation, _ = orthogonal_procrustes(coords, maps[-1])
            coords = coords @ rotation
        maps.append(coords)
    return np.stack(maps).astype(np.float32)


def film_story(film: Film, target_acc: dict[int, float] | None = None) -> str:
    """Two sentences on what the film shows, from its measured mixing (and the target accuracy at its steps)."""
    mix = film.mixing
    first, last = mix[0], mix[-1]
    change = "merged" if last > first + 0.1 else "drew apart" if last < first - 0.1 else "stayed about as mixed"
    text = (f"In the backbone's own features the domains {change}: a target sample's {MIX_NEIGHBOURS} nearest "
            f"held-out neighbours were source samples {first:.2f}× as often as chance at step {int(film.steps[0])} "
            f"and {last:.2f}× at step {int(film.steps[-1])} (1 = fully mixed).")
    if target_acc:
        a0, a1 = target_acc.get(int(film.steps[0])), target_acc.get(int(film.steps[-1]))
        if a0 is not None and a1 is not None:
            text += f" Target accuracy went from {a0:.3f} to {a1:.3f} over the same steps."
    return text


def film_figure(film: Film, coords: np.ndarray, classes: list[str] | None = None,
                target_acc: dict[int, float] | None = None, height: int = 520) -> Any:
    """The film as a plotly animation: one frame per evaluation, a slider over the steps and a play button; source
    and target held-out samples by colour, class on hover; the axes fixed over all frames."""
    import plotly.graph_objects as go

    mix = film.mixing
    names = list(classes or [])
    hover = np.array([f"{d} · class {names[int(y)] if int(y) < len(names) else int(y)}"
                      for d, y in zip(film.domains, film.labels, strict=True)], dtype=object)
    pad = 0.05 * float(np.ptp(coords[..., :2]))
    ranges = [[float(coords[..., i].min()) - pad, float(coords[..., i].max()) + pad] for i in (0, 1)]

    def traces(i: int) -> list[Any]:
        out = []
        for d in ("source", "target"):
            mask = film.domains == d
            out.append(go.Scatter(x=coords[i, mask, 0], y=coords[i, mask, 1], mode="markers", name=d,
                                  text=hover[mask], hovertemplate="%{text}<extra></extra>",
                                  marker={"color": DOMAIN_COLOURS[d], "symbol": DOMAIN_SYMBOLS[d], "size": 7,
                                          "opacity": 0.75, "line": {"width": 0}}))
        return out

    def title(i: int) -> str:
        step = int(film.steps[i])
        acc = (target_acc or {}).get(step)
        return (f"step {step}" + (f" · target accuracy {acc:.3f}" if acc is not None else "")
                + f" · domain mixing {mix[i]:.2f}")

    frames = [go.Frame(data=traces(i), name=str(int(s)), layout={"title": {"text": title(i)}})
              for i, s in enumerate(film.steps)]
    fig = go.Figure(data=traces(0), frames=frames)
    steps = [{"label": str(int(s)), "method": "animate",
              "args": [[str(int(s))], {"mode": "immediate", "frame": {"duration": 0, "redraw": False},
                                       "transition": {"duration": 300}}]} for s in film.steps]
    fig.update_layout(
        title={"text": title(0), "x": 0.01, "font": {"size": 14}}, height=height,
        margin={"l": 10, "r": 10, "t": 44, "b": 10},
        xaxis={"range": ranges[0], "showticklabels": False, "zeroline": False},
        yaxis={"range": ranges[1], "showticklabels": False, "zeroline": False, "scaleanchor": "x"},
        legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom", "xanchor": "left"},
        sliders=[{"active": 0, "steps": steps, "currentvalue": {"prefix": "step "}, "pad": {"t": 30}}],
        updatemenus=[{"type": "buttons", "showactive": False, "x": 1.0, "xanchor": "right", "y": 1.08,
                      "buttons": [{"label": "▶ play", "method": "animate",
                                   "args": [None, {"frame": {"duration": 900, "redraw": False}, "fromcurrent": True,
                                                   "transition": {"duration": 500}}]}]}])
    return fig


def target_accuracy(metrics: Any) -> dict[int, float]:
    """Step -> held-out target accuracy from a run's metric table (``RunStore.metrics``: step, name, value)."""
    rows = metrics[metrics["name"] == "target_acc"]
    return {int(s): float(v) for s, v in zip(rows["step"], rows["value"], strict=True) if v is not None}


def describe(film: Film) -> str:
    """What the film holds, in one sentence."""
    per = int((film.domains == "source").sum()), int((film.domains == "target").sum())
    return (f"{len(film.steps)} frames (one per evaluation) of the same {per[0]} held-out source and {per[1]} "
            "target samples; each frame is a UMAP of that step's backbone features, aligned to the previous "
            "frame (rotation, reflection, scale), so points move only as far as the features did.")
