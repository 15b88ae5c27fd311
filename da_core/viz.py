"""Figure builders shared by the pages and the command line (plotly is imported lazily)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

    from da_core.data import Dataset

DOMAIN_COLOURS = {"source": "#3b6fd4", "target": "#e4572e"}


def _hex_to_rgb(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    return int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16)


def sample_grid(ds: Dataset, per_class: int = 8, seed: int = 0, scale: int = 2, label_width: int = 56) -> np.ndarray:
    """A contact sheet: one row per class (class name on the left), ``per_class`` random samples each.

    Returns an H x W x 3 uint8 image; the same seed picks the same samples.
    """
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    c, h, w = ds.shape
    pad = 2
    labels = ds.labels.numpy()
    images = ds.images.numpy()
    cell_h, cell_w = h * scale + pad, w * scale + pad
    rows = len(ds.classes)
    sheet = np.full((rows * cell_h + pad, label_width + per_class * cell_w + pad, 3), 245, dtype=np.uint8)
    for r in range(rows):
        idx = np.flatnonzero(labels == r)
        if len(idx) > per_class:
            idx = np.sort(rng.choice(idx, per_class, replace=False))
        for k, i in enumerate(idx):
            img = images[i].transpose(1, 2, 0)
            if c == 1:
                img = np.repeat(img, 3, axis=2)
            img = img.repeat(scale, axis=0).repeat(scale, axis=1)
            y, x = pad + r * cell_h, label_width + pad + k * cell_w
            sheet[y:y + h * scale, x:x + w * scale] = img
    pil = Image.fromarray(sheet)
    draw = ImageDraw.Draw(pil)
    for r, name in enumerate(ds.classes):
        text = name if len(name) <= 8 else name[:7] + "…"
        draw.text((4, pad + r * cell_h + max(0, (h * scale - 11) // 2)), text, fill=(40, 40, 40))
    return np.asarray(pil)


def class_count_figure(datasets: dict[str, Dataset], normalise: bool = True) -> go.Figure:
    """Grouped bars of samples per class for each domain on one chart (label shift at a glance)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    classes: list[str] = []
    for ds in datasets.values():
        classes += [c for c in ds.classes if c not in classes]
    for i, (name, ds) in enumerate(datasets.items()):
        counts = ds.counts
        values = np.array([counts.get(c, 0) for c in classes], dtype=float)
        shown = values / max(values.sum(), 1) if normalise else values
        colour = DOMAIN_COLOURS.get(name, ["#3b6fd4", "#e4572e", "#59a14f"][i % 3])
        fig.add_bar(x=classes, y=shown, name=f"{name} (n={len(ds)})", marker_color=colour, customdata=values,
                    hovertemplate="class %{x}<br>%{customdata:.0f} samples<extra>%{fullData.name}</extra>")
    fig.update_layout(barmode="group", height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      yaxis_title="share of samples" if normalise else "samples", xaxis_title="class",
                      xaxis_type="category", legend={"orientation": "h", "y": 1.12})
    return fig


def intensity_histogram(ds: Dataset) -> np.ndarray:
    """Share of pixels at each intensity 0..255 (all channels pooled)."""
    counts = np.bincount(ds.images.numpy().ravel(), minlength=256).astype(float)
    return counts / max(counts.sum(), 1)


def intensity_histogram_figure(datasets: dict[str, Dataset], log_y: bool = True) -> go.Figure:
    """Overlaid pixel-intensity histograms, one per domain."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for i, (name, ds) in enumerate(datasets.items()):
        colour = DOMAIN_COLOURS.get(name, ["#3b6fd4", "#e4572e", "#59a14f"][i % 3])
        r, g, b = _hex_to_rgb(colour)
        fig.add_scatter(x=np.arange(256), y=intensity_histogram(ds), name=name, mode="lines",
                        line={"color": colour, "width": 1.5}, fill="tozeroy", fillcolor=f"rgba({r},{g},{b},0.25)")
    fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10}, xaxis_title="pixel intensity",
                      yaxis_title="share of pixels", legend={"orientation": "h", "y": 1.12})
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def summary_rows(datasets: dict[str, Dataset]) -> list[dict[str, Any]]:
    """Rows of the side-by-side summary table."""
    rows = []
    for name, ds in datasets.items():
        info = ds.summary()
        rows.append({
            "domain": name, "spec": info["name"], "samples": info["n"], "classes": len(info["classes"]),
            "shape": "×".join(map(str, info["shape"])), "channels": info["channels"],
            "mean": info["mean"], "std": info["std"], "skipped": len(info["skipped"]),
            "ignored": info["ignored"], "fingerprint": info["fingerprint"],
        })
    return rows
