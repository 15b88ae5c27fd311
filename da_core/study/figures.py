"""Plotly figures of a study, from its stored result (:meth:`da_core.study.StudyResult.to_dict`): target accuracy
per arm with intervals and every seed, the paired differences to source only, the learned feature gap and time
per arm, the map of winners over the grid, and several studies side by side."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

PALETTE = ("#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880")


def _colour(names: Sequence[str], name: str) -> str:
    return PALETTE[list(names).index(name) % len(PALETTE)] if name in names else "#888888"


def _layout(fig: go.Figure, title: str, height: int = 360) -> go.Figure:
    fig.update_layout(title=title, height=height, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      template="plotly_white", showlegend=False)
    return fig


def _short(title: str, width: int = 34) -> str:
    return title if len(title) <= width else title[:width - 1] + "…"


def accuracy_figure(arms: Sequence[dict[str, Any]], order: Sequence[str] | None = None) -> go.Figure:
    """Mean target accuracy per arm with its 95% interval over seeds (error bars) and every seed as a dot."""
    names = list(order or [a["name"] for a in arms])
    fig = go.Figure()
    labels = [_short(a["title"]) for a in arms]
    means = [a["target_acc_mean"] for a in arms]
    low = [(m - ci[0]) if m is not None and ci[0] is not None else 0 for m, ci in
           zip(means, (a["target_acc_ci"] for a in arms))]
    high = [(ci[1] - m) if m is not None and ci[1] is not None else 0 for m, ci in
            zip(means, (a["target_acc_ci"] for a in arms))]
    fig.add_bar(x=labels, y=means, marker_color=[_colour(names, a["name"]) for a in arms],
                error_y={"type": "data", "symmetric": False, "array": high, "arrayminus": low},
                text=[f"{m:.1%}" if m is not None else "" for m in means], textposition="inside",
                hovertemplate="%{x}<br>mean %{y:.1%}<extra></extra>", name="mean")
    for a, label in zip(arms, labels):
        seeds = a.get("target_acc_by_seed") or {}
        fig.add_scatter(x=[label] * len(seeds), y=list(seeds.values()), mode="markers", name="seeds",
                        marker={"color": "#222", "size": 6, "symbol": "circle-open"},
                        text=[f"seed {s}" for s in seeds], hovertemplate="%{text}: %{y:.1%}<extra></extra>")
    fig.update_yaxes(title="target accuracy", tickformat=".0%", rangemode="tozero")
    return _layout(fig, "Target accuracy: mean, 95% interval, seeds")


def paired_figure(arms: Sequence[dict[str, Any]]) -> go.Figure:
    """Each arm's paired difference to source only (points of target accuracy) with its 95% interval."""
    rows = [a for a in arms if a["name"] != "source-only" and a.get("paired_diff_vs_source_only")]
    fig = go.Figure()
    means = [a["paired_diff_vs_source_only"]["mean"] * 100 for a in rows]
    cis = [a["paired_diff_vs_source_only"]["ci"] for a in rows]
    labels = [_short(a["title"]) for a in rows]
    colours = ["#2a9d8f" if ci[0] is not None and ci[0] > 0 else "#e76f51" if ci[1] is not None and ci[1] < 0
               else "#8d99ae" for ci in cis]
    fig.add_scatter(x=means, y=labels, mode="markers", marker={"size": 11, "color": colours},
                    error_x={"type": "data", "symmetric": False,
                             "array": [(ci[1] * 100 - m) if ci[1] is not None else 0 for m, ci in zip(means, cis)],
                             "arrayminus": [(m - ci[0] * 100) if ci[0] is not None else 0
                                            for m, ci in zip(means, cis)]},
                    hovertemplate="%{y}<br>%{x:+.1f} points<extra></extra>")
    fig.add_vline(x=0, line_dash="dash", line_color="#555")
    fig.update_xaxes(title="paired difference to source only (points)", zeroline=False)
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, "Paired gain vs source only (coloured: interval ≠ 0)",
                   height=max(220, 70 + 50 * len(rows)))


def cost_figure(arms: Sequence[dict[str, Any]], order: Sequence[str] | None = None) -> go.Figure:
    """Two panels: the learned feature gap (MMD² between held-out source and target features) and seconds per run."""
    names = list(order or [a["name"] for a in arms])
    labels = [_short(a["title"], 22) for a in arms]
    colours = [_colour(names, a["name"]) for a in arms]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("learned feature gap (MMD², lower = closer)",
                                                        "seconds per run"))
    fig.add_bar(x=labels, y=[a.get("feature_mmd2_mean") for a in arms], marker_color=colours, row=1, col=1,
                hovertemplate="%{x}: %{y:.3f}<extra></extra>")
    fig.add_bar(x=labels, y=[a.get("seconds_mean") for a in arms], marker_color=colours, row=1, col=2,
                hovertemplate="%{x}: %{y:.1f} s<extra></extra>")
    return _layout(fig, "Feature gap and time per arm", height=340)


def map_figure(cells: Sequence[dict[str, Any]], arms: Sequence[str], titles: dict[str, str] | None = None
               ) -> go.Figure:
    """The map: rows = labelled target samples per class, columns = share of the source; each cell coloured by
    its winning arm, with the margin over the runner-up (points) and ``tie`` where their paired interval holds 0."""
    titles = titles or {}
    ks = sorted({c["k"] for c in cells})
    shares = sorted({c["source_share"] for c in cells}, reverse=True)
    winners = [a for a in arms if any(c["winner"] == a for c in cells)]
    z, text = [], []
    for k in ks:
        zrow, trow = [], []
        for s in shares:
            cell = next((c for c in cells if c["k"] == k and c["source_share"] == s), None)
            if cell is None or cell["winner"] is None:
                zrow.append(None)
                trow.append("not run yet")
                continue
            zrow.append(winners.index(cell["winner"]))
            margin = cell["margin"]
            trow.append(f"{_short(titles.get(cell['winner'], cell['winner']), 26)}<br>"
                        + (f"{margin * 100:+.1f} pts" if margin is not None and math.isfinite(margin) else "")
                        + (" · tie" if cell["tie"] else ""))
        z.append(zrow)
        text.append(trow)
    n = max(len(winners), 1)
    scale = []
    for i, name in enumerate(winners):
        colour = _colour(arms, name)
        scale += [[i / n, colour], [(i + 1) / n, colour]]
    fig = go.Figure(go.Heatmap(
        z=z, x=[f"{s:.0%} of the source" for s in shares], y=[f"k = {k}" for k in ks], text=text,
        texttemplate="%{text}", hovertemplate="%{y}, %{x}<br>%{text}<extra></extra>", showscale=False,
        colorscale=scale or [[0, "#ddd"], [1, "#ddd"]], zmin=-0.5 if n == 1 else 0, zmax=n - 0.5 if n > 1 else 0.5,
        xgap=3, ygap=3))
    fig.update_yaxes(title="labelled target samples per class", autorange="reversed")
    fig.update_xaxes(side="top")
    return _layout(fig, "The winning arm per cell (margin over the runner-up)",
                   height=140 + 90 * len(ks))


def studies_figure(studies: Sequence[tuple[str, Sequence[dict[str, Any]]]]) -> go.Figure:
    """Several studies side by side: mean target accuracy per arm (with the 95% interval), one colour a study."""
    fig = go.Figure()
    for i, (label, arms) in enumerate(studies):
        means = [a["target_acc_mean"] for a in arms]
        cis = [a["target_acc_ci"] for a in arms]
        fig.add_bar(x=[a["name"] for a in arms], y=means, name=label, marker_color=PALETTE[i % len(PALETTE)],
                    error_y={"type": "data", "symmetric": False,
                             "array": [(c[1] - m) if m is not None and c[1] is not None else 0
                                       for m, c in zip(means, cis)],
                             "arrayminus": [(m - c[0]) if m is not None and c[0] is not None else 0
                                            for m, c in zip(means, cis)]})
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="target accuracy", tickformat=".0%", rangemode="tozero")
    out = _layout(fig, "Studies compared: target accuracy per arm")
    out.update_layout(showlegend=True)
    return out
