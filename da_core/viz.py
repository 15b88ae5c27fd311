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


def rgba(colour: str, alpha: float) -> str:
    """A ``#rrggbb`` colour as a CSS ``rgba(...)`` string with opacity ``alpha`` (a band's fill)."""
    r, g, b = _hex_to_rgb(colour)
    return f"rgba({r},{g},{b},{alpha})"


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


def text_length_figure(datasets: dict[str, Dataset], unit: str = "words", bins: int = 40) -> go.Figure:
    """Overlaid histograms of text lengths (words or characters), one per domain, as shares of its texts."""
    import plotly.graph_objects as go

    from da_core.data.textstats import text_lengths

    lengths = {name: text_lengths(ds, unit) for name, ds in datasets.items()}
    top = max((int(np.percentile(v, 99)) for v in lengths.values() if len(v)), default=1)
    edges = np.linspace(0, max(top, 1), bins + 1)
    fig = go.Figure()
    for i, (name, values) in enumerate(lengths.items()):
        colour = DOMAIN_COLOURS.get(name, ["#3b6fd4", "#e4572e", "#59a14f"][i % 3])
        counts, _ = np.histogram(np.clip(values, 0, edges[-1]), bins=edges)
        fig.add_bar(x=(edges[:-1] + edges[1:]) / 2, y=counts / max(len(values), 1), width=edges[1] - edges[0],
                    name=f"{name} (median {np.median(values):.0f})" if len(values) else name, marker_color=colour,
                    opacity=0.55, hovertemplate=f"%{{x:.0f}} {unit}: %{{y:.1%}}<extra>%{{fullData.name}}</extra>")
    fig.update_layout(barmode="overlay", height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      xaxis_title=f"{unit} per text (longer ones in the last bar)", yaxis_title="share of texts",
                      legend={"orientation": "h", "y": 1.12})
    return fig


def vocabulary_overlap_figure(overlap: Any) -> go.Figure:
    """Heatmap of :func:`da_core.data.textstats.vocabulary_overlap` (row: whose top words; column: shared with)."""
    import plotly.graph_objects as go

    values = overlap.to_numpy(dtype=float)
    fig = go.Figure(go.Heatmap(z=values, x=list(overlap.columns), y=list(overlap.index), zmin=0, zmax=1,
                               colorscale="Blues", text=[[f"{v:.0%}" for v in row] for row in values],
                               texttemplate="%{text}", hovertemplate="%{z:.1%} of %{y}'s top words are among "
                                                                      "%{x}'s<extra></extra>"))
    side = 90 + 60 * len(values)
    fig.update_layout(height=max(side, 220), margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      yaxis={"autorange": "reversed"}, xaxis_title="shared with", yaxis_title="top words of")
    return fig


def summary_rows(datasets: dict[str, Dataset]) -> list[dict[str, Any]]:
    """Rows of the side-by-side summary table."""
    rows = []
    for name, ds in datasets.items():
        info = ds.summary()
        if info["modality"] == "text":
            rows.append({"domain": name, "spec": info["name"], "samples": info["n"], "classes": len(info["classes"]),
                         "words (mean)": info["words_mean"], "words (median)": info["words_median"],
                         "words (max)": info["words_max"], "chars (mean)": info["chars_mean"],
                         "skipped": len(info["skipped"]), "fingerprint": info["fingerprint"]})
            continue
        rows.append({
            "domain": name, "spec": info["name"], "samples": info["n"], "classes": len(info["classes"]),
            "shape": "×".join(map(str, info["shape"])), "channels": info["channels"],
            "mean": info["mean"], "std": info["std"], "skipped": len(info["skipped"]),
            "ignored": info["ignored"], "fingerprint": info["fingerprint"],
        })
    return rows


DOMAIN_SYMBOLS = {"source": "circle", "target": "diamond"}
CLASS_PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
                 "#9c755f", "#bab0ac", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#17becf"]


def embedding_map_figure(coords: np.ndarray, domains: np.ndarray, labels: np.ndarray, classes: list[str],
                         color_by: str = "domain", title: str = "", webgl_from: int = 1500,
                         hover_texts: list[str] | None = None, rows: np.ndarray | None = None) -> go.Figure:
    """Scatter of a 2-D or 3-D map: colour by ``domain``, ``class`` or ``domain×class``; symbol by domain.

    ``domains`` holds "source"/"target" per point; every point carries its row index as customdata so a
    box/lasso selection maps back to samples.  Legend entries show counts.  WebGL is used for large sets.
    ``hover_texts`` (one per point, e.g. :func:`da_core.gap_workflow.map_hover_texts`) are shown on hover.
    ``rows`` draws only those rows (:func:`da_core.gap_workflow.shown_rows`); they keep their own row index.
    """
    import plotly.graph_objects as go

    coords = np.asarray(coords)
    index = np.arange(len(coords))
    if rows is not None:
        coords, domains, labels, index = coords[rows], np.asarray(domains)[rows], np.asarray(labels)[rows], rows
        hover_texts = None if hover_texts is None else [hover_texts[int(r)] for r in rows]
    three_d = coords.shape[1] >= 3
    n = len(coords)
    fig = go.Figure()
    groups: list[tuple[str, np.ndarray, str, str]] = []
    for d in ("source", "target"):
        in_d = domains == d
        if color_by == "domain":
            groups.append((f"{d} (n={int(in_d.sum())})", in_d, DOMAIN_COLOURS[d], d))
            continue
        for c, name in enumerate(classes):
            mask = in_d & (labels == c)
            if not mask.any():
                continue
            colour = CLASS_PALETTE[c % len(CLASS_PALETTE)]
            if color_by == "domain×class" and d == "target":
                r, g, b = _hex_to_rgb(colour)
                colour = f"rgba({max(r - 60, 0)},{max(g - 60, 0)},{max(b - 60, 0)},1)"
            groups.append((f"{d} · {name} (n={int(mask.sum())})", mask, colour, d))
    texts = np.asarray(hover_texts, dtype=object) if hover_texts is not None else None
    for name, mask, colour, d in groups:
        custom = np.stack([index[mask], labels[mask]], axis=1)
        hover = (f"{d}<br>class %{{customdata[1]}}<br>row %{{customdata[0]}}<extra></extra>")
        extra: dict[str, Any] = {}
        if texts is not None:
            extra["text"] = texts[mask].tolist()
            hover = f"{d} · class %{{customdata[1]}} · row %{{customdata[0]}}<br>%{{text}}<extra></extra>"
        marker = {"color": colour, "size": 4 if three_d else 6, "symbol": DOMAIN_SYMBOLS[d],
                  "opacity": 0.75, "line": {"width": 0}}
        if three_d:
            fig.add_scatter3d(x=coords[mask, 0], y=coords[mask, 1], z=coords[mask, 2], mode="markers", name=name,
                              marker=marker, customdata=custom, hovertemplate=hover, legendgroup=d, **extra)
        else:
            trace = go.Scattergl if n >= webgl_from else go.Scatter
            fig.add_trace(trace(x=coords[mask, 0], y=coords[mask, 1], mode="markers", name=name, marker=marker,
                                customdata=custom, hovertemplate=hover, legendgroup=d, **extra))
    fig.update_layout(title={"text": title, "x": 0.01, "font": {"size": 14}} if title else None, height=600,
                      margin={"l": 10, "r": 10, "t": 44 if title else 10, "b": 10},
                      legend={"itemsizing": "constant", "orientation": "h", "x": 0, "y": -0.02, "yanchor": "top"},
                      dragmode="lasso" if not three_d else None)
    if not three_d:
        fig.update_xaxes(showticklabels=False, title=None)
        fig.update_yaxes(showticklabels=False, title=None, scaleanchor="x")
    return fig


def density_figure(coords: np.ndarray, domains: np.ndarray, bins: int = 80) -> go.Figure:
    """An overview of every point of a 2-D map, however many: each domain's density (a 2-D histogram on one grid,
    log counts) and where the target's share of the points is above or below the source's (target share minus
    source share per cell, per thousand)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    xy = np.asarray(coords)[:, :2]
    edges = [np.linspace(xy[:, i].min(), xy[:, i].max() + 1e-9, bins + 1) for i in (0, 1)]
    centres = [(e[:-1] + e[1:]) / 2 for e in edges]
    counts = {d: np.histogram2d(xy[domains == d, 0], xy[domains == d, 1], bins=edges)[0].T
              for d in ("source", "target")}
    n = {d: max(int((domains == d).sum()), 1) for d in counts}
    fig = make_subplots(rows=1, cols=3, shared_yaxes=True, horizontal_spacing=0.03, subplot_titles=[
        f"source density (n={n['source']:,})", f"target density (n={n['target']:,})",
        "target share − source share (‰)"])
    for col, d in enumerate(("source", "target"), start=1):
        z = np.where(counts[d] > 0, np.log10(np.maximum(counts[d], 1)), np.nan)
        fig.add_trace(go.Heatmap(x=centres[0], y=centres[1], z=z, colorscale="Viridis", showscale=False,
                                 hovertemplate=f"{d}: 10^%{{z:.1f}} points<extra></extra>"), row=1, col=col)
    diff = 1000 * (counts["target"] / n["target"] - counts["source"] / n["source"])
    diff[(counts["target"] + counts["source"]) == 0] = np.nan
    limit = float(np.nanmax(np.abs(diff))) if np.isfinite(diff).any() else 1.0
    fig.add_trace(go.Heatmap(x=centres[0], y=centres[1], z=diff, colorscale="RdBu_r", zmid=0, zmin=-limit,
                             zmax=limit, colorbar={"title": "‰", "thickness": 10},
                             hovertemplate="target − source: %{z:.2f}‰<extra></extra>"), row=1, col=3)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return fig


def selected_rows(points: list[dict[str, Any]]) -> list[int]:
    """Row indices of the points a box/lasso selection returned (customdata[0] of the map's points).

    The browser sends customdata as a list, or for WebGL traces as an object keyed "0", "1", …
    """
    rows = []
    for point in points:
        custom = point.get("customdata")
        if isinstance(custom, dict):
            custom = [custom[k] for k in sorted(custom, key=lambda k: int(k))] if custom else None
        if isinstance(custom, list | tuple) and custom:
            custom = custom[0]
        if custom is None:
            continue
        try:
            rows.append(int(custom))
        except (TypeError, ValueError):
            continue
    return rows


def gallery(images: np.ndarray, captions: list[str], columns: int = 12, scale: int = 2) -> np.ndarray:
    """Tile uint8 N x C x H x W images into one H x W x 3 sheet (captions are returned by the caller)."""
    if len(images) == 0:
        return np.full((8, 8, 3), 255, dtype=np.uint8)
    n, c, h, w = images.shape
    rows = (n + columns - 1) // columns
    pad = 2
    sheet = np.full((rows * (h * scale + pad) + pad, min(n, columns) * (w * scale + pad) + pad, 3), 255, np.uint8)
    for k in range(n):
        img = images[k].transpose(1, 2, 0)
        if c == 1:
            img = np.repeat(img, 3, axis=2)
        img = img.repeat(scale, axis=0).repeat(scale, axis=1)
        y, x = pad + (k // columns) * (h * scale + pad), pad + (k % columns) * (w * scale + pad)
        sheet[y:y + h * scale, x:x + w * scale] = img
    return sheet


def worst_classes_figure(rows: list[dict[str, Any]], value: str = "mmd2", top: int = 10) -> go.Figure:
    """Horizontal bars of the classes with the largest gap (or lowest accuracy when value is an accuracy)."""
    import plotly.graph_objects as go

    usable = [r for r in rows if r.get(value) is not None]
    ascending = "acc" in value
    usable.sort(key=lambda r: r[value], reverse=not ascending)
    usable = usable[:top][::-1]
    fig = go.Figure(go.Bar(x=[r[value] for r in usable], y=[str(r["class"]) for r in usable], orientation="h",
                           marker_color="#e4572e"))
    fig.update_layout(height=40 + 28 * max(len(usable), 1), margin={"l": 10, "r": 10, "t": 10, "b": 10},
                      xaxis_title=value, yaxis_type="category")
    return fig


# ------------------------------------------------------------------------------- over-augmentation

AUGMENT_COLOURS = {"affinity": "#3b6fd4", "label_flip_rate": "#e4572e", "gap_to_target": "#2a9d8f"}


def _field(row: Any, key: str, default: Any = None) -> Any:
    value = row.get(key, default) if isinstance(row, dict) else getattr(row, key, default)
    return default if value is None else value


def over_augmentation_figure(report_or_results: Any, threshold: float | None = None,
                             sweet_spot: float | None | str = "auto") -> go.Figure:
    """Affinity, label-flip rate (left axis, 0-1) and gap to target (MMD², right axis) against strength s.

    ``report_or_results``: an :class:`~da_core.augment.measure.OverAugmentationReport`, its ``to_dict()``, or
    a list of per-strength results (objects or dicts).  ``threshold`` (default: the report's, else 0.9) is
    drawn as a dashed line; ``sweet_spot`` is marked with a vertical line and a star on the gap curve
    (``"auto"``: re-picked from the results at ``threshold``; None: nothing marked).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from da_core.augment.measure import sweet_spot as pick_sweet_spot

    report = report_or_results
    results = report if isinstance(report, list | tuple) else _field(report, "results", [])
    if threshold is None:
        threshold = float(_field(report, "threshold", 0.9)) if not isinstance(report, list | tuple) else 0.9
    if sweet_spot == "auto":
        sweet_spot = pick_sweet_spot(results, threshold)[0]
    rows = sorted(results, key=lambda r: float(_field(r, "strength", 0.0)))
    s = [float(_field(r, "strength", 0.0)) for r in rows]
    text = [str(_field(r, "description", "")) for r in rows]

    def col(key: str) -> list[float | None]:
        return [None if _field(r, key) is None else float(_field(r, key)) for r in rows]

    fig = make_subplots(specs=[[{"secondary_y": True}]])
    hover = "s=%{x:.2f}<br>%{meta}: %{y:.3f}<br>%{customdata}<extra></extra>"
    for key, name, dash in (("affinity", "Affinity (acc. aug / clean)", None),
                            ("label_flip_rate", "Label-flip rate", "dot")):
        fig.add_trace(go.Scatter(x=s, y=col(key), name=name, mode="lines+markers", meta=name, customdata=text,
                                 hovertemplate=hover, line={"color": AUGMENT_COLOURS[key], "dash": dash}),
                      secondary_y=False)
    fig.add_trace(go.Scatter(x=s, y=col("gap_to_target"), name="Gap to target (MMD², right axis)",
                             mode="lines+markers", meta="MMD² to target", customdata=text, hovertemplate=hover,
                             line={"color": AUGMENT_COLOURS["gap_to_target"], "width": 3}), secondary_y=True)
    fig.add_hline(y=threshold, line_dash="dash", line_color="#888", secondary_y=False,
                  annotation_text=f"affinity threshold {threshold:.2f}", annotation_position="bottom left")
    if sweet_spot is not None and s:
        k = min(range(len(s)), key=lambda i: abs(s[i] - float(sweet_spot)))
        fig.add_vline(x=float(sweet_spot), line_color="#f4a261", line_width=2)
        gap = col("gap_to_target")[k]
        if gap is not None:
            fig.add_trace(go.Scatter(x=[s[k]], y=[gap], mode="markers", name=f"sweet spot s={float(sweet_spot):.2f}",
                                     marker={"symbol": "star", "size": 18, "color": "#f4a261",
                                             "line": {"width": 1, "color": "#333"}},
                                     hovertemplate=f"sweet spot s={float(sweet_spot):.2f}<extra></extra>"),
                          secondary_y=True)
    fig.update_xaxes(title_text="strength s", range=[-0.03, 1.03] if s and max(s) <= 1 else None)
    fig.update_yaxes(title_text="affinity / flip rate", range=[0, 1.05], secondary_y=False)
    fig.update_yaxes(title_text="MMD² to target", rangemode="tozero", secondary_y=True, showgrid=False)
    fig.update_layout(height=420, margin={"l": 10, "r": 10, "t": 30, "b": 10}, hovermode="closest",
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0})
    return fig


def self_test_figure(results: Any) -> go.Figure:
    """Effect size of each op alone against strength (one line per op; dashed with ⚠ when it has warnings)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for i, r in enumerate(results):
        warnings = list(_field(r, "warnings", []))
        name = str(_field(r, "name", f"op {i}")) + (" ⚠" if warnings else "")
        values = [str(v) for v in _field(r, "values", [])] or [""] * len(_field(r, "strengths", []))
        note = "<br>".join(warnings)
        fig.add_trace(go.Scatter(
            x=list(_field(r, "strengths", [])), y=list(_field(r, "effect", [])), name=name, mode="lines+markers",
            customdata=values,
            line={"color": CLASS_PALETTE[i % len(CLASS_PALETTE)], "dash": "dash" if warnings else "solid"},
            hovertemplate=f"{name}<br>s=%{{x:.2f}}: effect %{{y:.3f}}<br>%{{customdata}}"
                          + (f"<br>{note}" if note else "") + "<extra></extra>"))
    fig.update_layout(height=380, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis_title="strength s",
                      yaxis_title="effect (embedding distance / typical)", hovermode="closest")
    fig.update_yaxes(rangemode="tozero")
    return fig
