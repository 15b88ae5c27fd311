"""The Selection page's figures (plotly, imported lazily): the map coloured by weight, the weight histogram with
its effective sample size, and the gap curve against random subsets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from da_core.select.measures import CurvePoint
from da_core.viz import DOMAIN_COLOURS, rgba

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

KEPT_COLOUR, DROPPED_COLOUR, RANDOM_COLOUR = "#2a9d8f", "#bab0ac", "#7f7f7f"
WEIGHT_SCALE = "Viridis"


def _band(x: Sequence[float], low: Sequence[float], high: Sequence[float], colour: str, name: str) -> go.Scatter:
    import plotly.graph_objects as go

    return go.Scatter(x=[*x, *x[::-1]], y=[*high, *low[::-1]], fill="toself", fillcolor=rgba(colour, 0.18),
                      line={"width": 0}, hoverinfo="skip", name=name, showlegend=True)


def weight_map_figure(coords: np.ndarray, weights: np.ndarray, selected: np.ndarray, title: str = "",
                      webgl_from: int = 1500, hover_texts: list[str] | None = None) -> go.Figure:
    """The 2-D map with the source (the first ``len(weights)`` rows of ``coords``; kept samples drawn solid, the
    others faint) coloured by the rank of its weight, 0 for the least and 1 for the most target-like (importance
    weights are skewed: a few large ones would wash a linear scale out; the hover shows the weight itself), and
    the target (the remaining rows) as faint diamonds.  ``hover_texts`` (one per row, source first, as
    :func:`da_core.gap_workflow.map_hover_texts` gives them) add each sample's text to its hover."""
    import plotly.graph_objects as go

    coords, weights, selected = np.asarray(coords), np.asarray(weights, dtype=np.float64), np.asarray(selected)
    n_source = len(weights)
    trace = go.Scattergl if len(coords) >= webgl_from else go.Scatter
    rank = np.argsort(np.argsort(weights, kind="stable"), kind="stable") / max(n_source - 1, 1)
    fig = go.Figure()
    target = coords[n_source:]
    texts = np.asarray(hover_texts, dtype=object) if hover_texts is not None else None
    text_part = "<br>%{text}" if texts is not None else ""
    fig.add_trace(trace(x=target[:, 0], y=target[:, 1], mode="markers", name=f"target (n={len(target)})",
                        marker={"color": DOMAIN_COLOURS["target"], "symbol": "diamond", "size": 5, "opacity": 0.25},
                        hovertemplate=f"target{text_part}<extra></extra>",
                        **({"text": texts[n_source:].tolist()} if texts is not None else {})))
    for kept, name in ((False, "source, not kept"), (True, "source, kept")):
        rows = np.flatnonzero(selected == kept)
        fig.add_trace(trace(
            x=coords[rows, 0], y=coords[rows, 1], mode="markers", name=f"{name} (n={len(rows)})",
            customdata=np.stack([rows, weights[rows]], axis=1) if len(rows) else None,
            hovertemplate=f"{name}<br>row %{{customdata[0]}}<br>weight %{{customdata[1]:.3g}}{text_part}"
                          "<extra></extra>",
            **({"text": texts[rows].tolist()} if texts is not None else {}),
            marker={"color": rank[rows], "colorscale": WEIGHT_SCALE, "cmin": 0.0, "cmax": 1.0, "size": 6,
                    "opacity": 0.9 if kept else 0.3, "showscale": kept,
                    "colorbar": {"title": {"text": "weight rank"}, "thickness": 12},
                    "line": {"width": 0.6 if kept else 0, "color": "#222"}}))
    fig.update_layout(title={"text": title, "x": 0.01, "font": {"size": 14}} if title else None, height=560,
                      margin={"l": 10, "r": 10, "t": 44 if title else 10, "b": 10},
                      legend={"itemsizing": "constant", "orientation": "h", "x": 0, "y": -0.02, "yanchor": "top"})
    fig.update_xaxes(showticklabels=False, title=None)
    fig.update_yaxes(showticklabels=False, title=None, scaleanchor="x")
    return fig


def weight_histogram_figure(weights: np.ndarray, selected: np.ndarray, ess: float, bins: int = 40) -> go.Figure:
    """Histogram of the weights, kept and not kept stacked, on a log count axis (importance weights are skewed),
    titled with the effective sample size (a share of the source, as :attr:`SelectionResult.ess` gives it)."""
    import plotly.graph_objects as go

    weights, selected = np.asarray(weights, dtype=np.float64), np.asarray(selected, dtype=bool)
    lo, hi = (float(weights.min()), float(weights.max())) if len(weights) else (0.0, 1.0)
    size = (hi - lo) / bins if hi > lo else 1.0
    xbins = {"start": lo, "end": hi + size, "size": size}
    fig = go.Figure()
    for kept, name, colour in ((True, "kept", KEPT_COLOUR), (False, "not kept", DROPPED_COLOUR)):
        part = weights[selected == kept]
        fig.add_trace(go.Histogram(x=part, xbins=xbins, name=f"{name} (n={len(part)})", marker_color=colour))
    n_eff = ess * len(weights)
    fig.update_layout(barmode="stack", height=320, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      title={"text": f"ESS {ess:.1%} of the source (≈{n_eff:.0f} of {len(weights)} samples)",
                             "x": 0.01, "font": {"size": 14}},
                      xaxis_title="weight", yaxis_title="source samples", yaxis_type="log",
                      legend={"x": 0.99, "xanchor": "right", "y": 0.99, "yanchor": "top",
                              "bgcolor": "rgba(255,255,255,0.7)"})
    return fig


def gap_curve_figure(curve: Sequence[CurvePoint], fraction: float | None = None) -> go.Figure:
    """MMD² of the kept source to the target against the share kept, with its 95% interval, beside the mean and
    range of random subsets of the same size; a dotted line marks ``fraction``."""
    import plotly.graph_objects as go

    points = sorted(curve, key=lambda p: p.fraction)
    x = [100 * p.fraction for p in points]
    fig = go.Figure()
    fig.add_trace(_band(x, [p.random_low for p in points], [p.random_high for p in points], RANDOM_COLOUR,
                        "random subsets (range)"))
    fig.add_trace(go.Scatter(x=x, y=[p.random_mmd2 for p in points], mode="lines", name="random subsets (mean)",
                             line={"color": RANDOM_COLOUR, "dash": "dash"}))
    fig.add_trace(_band(x, [p.ci[0] for p in points], [p.ci[1] for p in points], KEPT_COLOUR, "selection: 95% CI"))
    fig.add_trace(go.Scatter(x=x, y=[p.mmd2 for p in points], mode="lines+markers", name="selection",
                             line={"color": KEPT_COLOUR}, customdata=[p.n for p in points],
                             hovertemplate="%{x:.0f}% kept (n=%{customdata})<br>MMD² %{y:.4g}<extra></extra>"))
    if fraction is not None:
        fig.add_vline(x=100 * fraction, line={"dash": "dot", "color": "#444"})
    fig.update_layout(height=360, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis_title="source kept (%)",
                      yaxis_title="MMD² to the target", hovermode="closest",
                      legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"})
    return fig
