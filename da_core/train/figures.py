"""Figures for runs and sweeps (plotly, imported lazily): live charts, overlays, confusion matrix, per-class
change against the source-only baseline, target accuracy against strength and the Affinity-Diversity plane.

Metric tables are long: columns run_id, step, epoch, name, value (as ``RunStore.metrics`` and
``Job.metrics`` return them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from da_core.viz import DOMAIN_COLOURS

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

LOSS_COLOUR = "#444444"
DOMAIN_LOSS_COLOUR = "#8e44ad"
TRAIN_COLOUR = "#7f8c8d"
PALETTE = ("#3b6fd4", "#e4572e", "#29a36a", "#8e44ad", "#f2a541", "#17becf", "#b33f62", "#6c757d", "#bcbd22",
           "#1f3a93")
METRIC_LABELS = {"train_loss": "training loss", "domain_loss": "domain loss (DANN)", "train_acc": "training accuracy",
                 "source_acc": "source accuracy (held out)", "target_acc": "target accuracy (held out)",
                 "lr": "learning rate", "throughput": "samples / s", "dann_lambda": "DANN λ",
                 "aug_strength": "augmentation strength", "adv_eps": "adversarial ε"}


def _series(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    part = frame[frame["name"] == name]
    return part.sort_values("step") if len(part) else part


def smooth(values: Sequence[float], weight: float = 0.8) -> np.ndarray:
    """TensorBoard-style exponential moving average with bias correction (first points are not dragged to 0)."""
    out = np.empty(len(values))
    avg = 0.0
    for i, v in enumerate(values):
        avg = weight * avg + (1 - weight) * float(v)
        out[i] = avg / (1 - weight ** (i + 1))
    return out


def _layout(fig: go.Figure, title: str, y_title: str, height: int = 300) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40, b=10), xaxis_title="step",
                      yaxis_title=y_title, legend=dict(orientation="h", yanchor="top", y=-0.25, x=0),
                      hovermode="x unified")
    return fig


def loss_figure(frame: pd.DataFrame, title: str = "Loss") -> go.Figure:
    """Training loss per step (raw, faint) with its moving average, and the DANN domain loss when logged."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, colour in (("train_loss", LOSS_COLOUR), ("domain_loss", DOMAIN_LOSS_COLOUR)):
        part = _series(frame, name)
        if not len(part):
            continue
        label = METRIC_LABELS[name]
        fig.add_trace(go.Scatter(x=part["step"], y=part["value"], mode="lines", name=f"{label} (per step)",
                                 line=dict(color=colour, width=1), opacity=0.3, showlegend=False))
        fig.add_trace(go.Scatter(x=part["step"], y=smooth(part["value"].to_numpy()), mode="lines", name=label,
                                 line=dict(color=colour, width=2.5)))
    return _layout(fig, title, "loss")


def accuracy_figure(frame: pd.DataFrame, title: str = "Accuracy") -> go.Figure:
    """Held-out source and target accuracy at each evaluation, and the training-batch accuracy."""
    import plotly.graph_objects as go

    fig = go.Figure()
    part = _series(frame, "train_acc")
    if len(part):
        fig.add_trace(go.Scatter(x=part["step"], y=smooth(part["value"].to_numpy()), mode="lines",
                                 name="training batches", line=dict(color=TRAIN_COLOUR, width=1.5, dash="dot")))
    for name, domain in (("source_acc", "source"), ("target_acc", "target")):
        part = _series(frame, name)
        if len(part):
            fig.add_trace(go.Scatter(x=part["step"], y=part["value"], mode="lines+markers",
                                     name=f"{domain} (held out)", line=dict(color=DOMAIN_COLOURS[domain], width=2.5)))
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return _layout(fig, title, "accuracy")


def lr_figure(frame: pd.DataFrame, title: str = "Learning rate") -> go.Figure:
    """The head's learning rate per step (the backbone's is a fixed fraction of it) and, when the run augments,
    the augmentation strength of each step on a second axis (the strength schedule, adaptive or not)."""
    import plotly.graph_objects as go

    part = _series(frame, "lr")
    fig = go.Figure(go.Scatter(x=part["step"], y=part["value"], mode="lines", name="learning rate (head)",
                               line=dict(color=PALETTE[2], width=2), showlegend=True))
    fig.update_yaxes(exponentformat="e", rangemode="tozero")
    strength = _series(frame, "aug_strength")
    if len(strength):
        fig.add_trace(go.Scatter(x=strength["step"], y=strength["value"], mode="lines", name="augmentation strength",
                                 line=dict(color=PALETTE[4], width=2), yaxis="y2"))
        fig.update_layout(yaxis2=dict(title="strength", overlaying="y", side="right", range=[0, 1.02],
                                      showgrid=False))
        title = "Learning rate and strength" if title == "Learning rate" else title
    return _layout(fig, title, "learning rate")


def live_figures(frame: pd.DataFrame) -> dict[str, go.Figure]:
    """The three live charts of a run: loss, accuracies, and learning rate (with the strength when augmented)."""
    return {"loss": loss_figure(frame), "accuracy": accuracy_figure(frame), "lr": lr_figure(frame)}


def adversarial_curve_figure(robustness: dict[str, Any], title: str = "Accuracy under adversarial perturbation"
                             ) -> go.Figure:
    """A run's accuracy against ε for each attack (FGSM/FGM, PGD), the half-clean line and where it is crossed."""
    import plotly.graph_objects as go

    fig = go.Figure()
    curve = pd.DataFrame(robustness.get("adv_curve") or [])
    if curve.empty:
        return _layout(fig, title, "accuracy")
    names = {"fgsm_acc": "FGM (one gradient step)" if "fgm" in robustness.get("attacks", []) else "FGSM",
             "pgd_acc": f"PGD-{robustness.get('pgd_steps') or ''}".rstrip("-")}
    for i, (column, name) in enumerate(names.items()):
        if column in curve:
            fig.add_trace(go.Scatter(x=curve["eps"], y=curve[column], mode="lines+markers", name=name,
                                     line=dict(color=PALETTE[i + 1], width=2.5),
                                     hovertemplate="ε %{x:g}: %{y:.1%}<extra>" + name + "</extra>"))
    clean = float(robustness.get("clean_acc") or 0)
    fig.add_hline(y=clean / 2, line=dict(color=TRAIN_COLOUR, dash="dot"), annotation_text="half the clean accuracy")
    half = robustness.get("eps_half")
    if half is not None:
        fig.add_vline(x=half, line=dict(color="#f2a541", dash="dash"), annotation_text=f"ε½ = {half:.3g}")
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    out = _layout(fig, title, "target accuracy", height=340)
    out.update_layout(xaxis_title=f"ε ({robustness.get('eps_units', '')})", hovermode="closest")
    return out


def corruption_figure(robustness: dict[str, Any], title: str = "Accuracy under corruption") -> go.Figure:
    """Accuracy per corruption kind (rows) and severity (columns), hardest kinds first."""
    import plotly.graph_objects as go

    by_kind = robustness.get("corruption_by_kind") or {}
    severities = robustness.get("severities") or [1, 2, 3, 4, 5]
    kinds = sorted(by_kind, key=lambda k: float(np.mean(by_kind[k])) if by_kind[k] else 1.0)
    z = [by_kind[k] for k in kinds]
    fig = go.Figure(go.Heatmap(z=z, x=[f"severity {s}" for s in severities], y=[k.replace("_", " ") for k in kinds],
                               zmin=0, zmax=1, colorscale="RdYlGn", colorbar=dict(title="accuracy", tickformat=".0%"),
                               text=[[f"{v:.0%}" for v in row] for row in z], texttemplate="%{text}",
                               hovertemplate="%{y}, %{x}: %{z:.1%}<extra></extra>"))
    fig.update_layout(title=title, height=max(220, 60 + 26 * len(kinds)), margin=dict(l=10, r=10, t=40, b=10))
    fig.update_yaxes(autorange="reversed")
    return fig


def sweep_robustness_figure(summary: Sequence[dict[str, Any]],
                            title: str = "Clean and adversarial accuracy against strength") -> go.Figure:
    """Per strength (one line per schedule and learning rate): clean target accuracy, accuracy under corruption
    and adversarial accuracy (the strongest attack's mean over the ε grid), means over seeds."""
    import plotly.graph_objects as go

    fig = go.Figure()
    rows = _summary_frame(summary)
    if rows.empty:
        return _layout(fig, title, "accuracy")
    groups = rows.groupby(["lr", "schedule"], sort=True)
    many_lrs = rows["lr"].nunique() > 1
    styles = (("target_acc", "clean target", DOMAIN_COLOURS["target"], "solid"),
              ("corruption_acc", "under corruption", PALETTE[4], "dash"),
              ("adv_acc", "adversarial (mean over ε)", PALETTE[3], "dot"))
    for (lr, schedule), part in groups:
        part = part.sort_values("strength")
        suffix = "" if len(groups) == 1 else f" ({schedule}" + (f", lr {lr:g}" if many_lrs else "") + ")"
        for column, name, colour, dash in styles:
            if column in part and part[column].notna().any():
                fig.add_trace(go.Scatter(x=part["strength"], y=part[column], mode="lines+markers", name=name + suffix,
                                         line=dict(color=colour, width=2.5, dash=dash)))
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    out = _layout(fig, title, "accuracy", height=400)
    out.update_layout(xaxis_title="augmentation strength", hovermode="closest")
    return out


def overlay_figure(frame: pd.DataFrame, metric: str, labels: dict[int, str] | None = None,
                   smoothing: float = 0.0) -> go.Figure:
    """One metric of several runs on one chart (one line per run)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    part = frame[frame["name"] == metric]
    for i, (run_id, group) in enumerate(part.groupby("run_id", sort=True)):
        group = group.sort_values("step")
        y = smooth(group["value"].to_numpy(), smoothing) if smoothing > 0 else group["value"]
        fig.add_trace(go.Scatter(x=group["step"], y=y, mode="lines+markers" if len(group) < 30 else "lines",
                                 name=(labels or {}).get(int(run_id), f"#{run_id}"),
                                 line=dict(color=PALETTE[i % len(PALETTE)], width=2)))
    if metric.endswith("_acc"):
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return _layout(fig, METRIC_LABELS.get(metric, metric), METRIC_LABELS.get(metric, metric), height=380)


def confusion_figure(confusion: Sequence[Sequence[int]], classes: Sequence[str],
                     title: str = "Target confusion matrix") -> go.Figure:
    """Rows: true class; columns: predicted; colour: share of the row, text: counts."""
    import plotly.graph_objects as go

    counts = np.asarray(confusion, dtype=np.int64)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    names = [str(c) for c in classes]
    fig = go.Figure(go.Heatmap(z=share, x=names, y=names, text=counts, texttemplate="%{text}", colorscale="Blues",
                               zmin=0, zmax=1, colorbar=dict(title="row share", tickformat=".0%"),
                               hovertemplate="true %{y} → predicted %{x}: %{text} (%{z:.0%})<extra></extra>"))
    fig.update_layout(title=title, height=420, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(title="predicted", type="category"),
                      yaxis=dict(title="true", type="category", autorange="reversed"))
    return fig


def per_class_change_figure(per_class: Sequence[float | None], baseline: Sequence[float | None],
                            classes: Sequence[str], title: str = "Per-class target accuracy vs source-only"
                            ) -> go.Figure:
    """Bars of the per-class target-accuracy change in points (green up, red down), baseline and final in hover."""
    import plotly.graph_objects as go

    names = [str(c) for c in classes]
    final = np.array([np.nan if v is None else v for v in per_class], dtype=float)
    base = np.array([np.nan if v is None else v for v in baseline], dtype=float)
    change = (final - base) * 100
    colours = ["#29a36a" if c >= 0 else "#d1495b" for c in np.nan_to_num(change)]
    fig = go.Figure(go.Bar(x=names, y=change, marker_color=colours, customdata=np.stack([base, final], axis=1),
                           hovertemplate="class %{x}: %{customdata[0]:.0%} → %{customdata[1]:.0%} "
                                         "(%{y:+.1f} points)<extra></extra>"))
    fig.update_layout(title=title, height=340, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(title="class", type="category"), yaxis_title="change (percentage points)")
    return fig


def _summary_frame(summary: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """A sweep's summary rows as a frame; rows stored before schedules existed were all ``constant``."""
    rows = pd.DataFrame(list(summary))
    if not rows.empty and "schedule" not in rows:
        rows["schedule"] = "constant"
    return rows


def sweep_strength_figure(summary: Sequence[dict[str, Any]], results: Sequence[dict[str, Any]] = (),
                          title: str = "Target accuracy against augmentation strength") -> go.Figure:
    """Mean target accuracy over seeds with its 95% interval per strength (one line per learning rate), each
    seed's run as a faint dot, source accuracy dashed, and the best setting starred."""
    import plotly.graph_objects as go

    fig = go.Figure()
    rows = _summary_frame(summary)
    if rows.empty:
        return _layout(fig, title, "target accuracy")
    lines = sorted({(lr, sch) for lr, sch in zip(rows["lr"], rows["schedule"])})
    many_lrs, many_schedules = rows["lr"].nunique() > 1, rows["schedule"].nunique() > 1
    for i, (lr, schedule) in enumerate(lines):
        part = rows[(rows["lr"] == lr) & (rows["schedule"] == schedule)].sort_values("strength")
        colour = DOMAIN_COLOURS["target"] if len(lines) == 1 else PALETTE[i % len(PALETTE)]
        tags = ([schedule] if many_schedules else []) + ([f"lr {lr:g}"] if many_lrs else [])
        suffix = f" ({', '.join(tags)})" if tags else ""
        fig.add_trace(go.Scatter(
            x=part["strength"], y=part["target_acc"], mode="lines+markers", name=f"target accuracy{suffix}",
            line=dict(color=colour, width=2.5),
            error_y=dict(type="data", symmetric=False, array=part["target_acc_high"] - part["target_acc"],
                         arrayminus=part["target_acc"] - part["target_acc_low"], thickness=1.2, width=4),
            customdata=np.stack([part["n"], part["target_acc_low"], part["target_acc_high"]], axis=1),
            hovertemplate="strength %{x}: %{y:.1%} (95% interval %{customdata[1]:.1%}–%{customdata[2]:.1%}, "
                          "%{customdata[0]} seeds)<extra></extra>"))
        if part["source_acc"].notna().any():
            fig.add_trace(go.Scatter(x=part["strength"], y=part["source_acc"], mode="lines",
                                     name=f"source accuracy{suffix}", line=dict(color=DOMAIN_COLOURS["source"],
                                                                                 width=1.5, dash="dash")))
    runs = pd.DataFrame(list(results))
    if not runs.empty and "target_acc" in runs:
        runs = runs[runs["target_acc"].notna()]
        fig.add_trace(go.Scatter(x=runs["strength"], y=runs["target_acc"], mode="markers", name="one seed",
                                 marker=dict(color=TRAIN_COLOUR, size=6, opacity=0.5),
                                 hovertemplate="strength %{x}, seed %{customdata}: %{y:.1%}<extra></extra>",
                                 customdata=runs["seed"]))
    best = rows[rows["best"].astype(bool)] if "best" in rows else rows.iloc[:0]
    if len(best):
        b = best.iloc[0]
        fig.add_trace(go.Scatter(x=[b["strength"]], y=[b["target_acc"]], mode="markers", name="best",
                                 marker=dict(symbol="star", size=18, color="#f2a541",
                                             line=dict(color="black", width=1))))
    fig.update_yaxes(tickformat=".0%")
    fig.update_layout(hovermode="closest")
    out = _layout(fig, title, "accuracy", height=400)
    out.update_layout(xaxis_title="augmentation strength", hovermode="closest")
    return out


def affinity_diversity_figure(summary: Sequence[dict[str, Any]],
                              title: str = "Affinity–Diversity plane") -> go.Figure:
    """Each strength as a point (Diversity on x, Affinity on y), coloured by mean target accuracy; best starred.

    Good augmentations sit up and to the right: diverse (harder to fit) yet still close to the clean data.
    """
    import plotly.graph_objects as go

    rows = pd.DataFrame(list(summary))
    fig = go.Figure()
    if rows.empty or rows["diversity"].isna().all():
        return _layout(fig, title, "affinity")
    rows = rows[rows["diversity"].notna() & rows["affinity"].notna()]
    fig.add_trace(go.Scatter(
        x=rows["diversity"], y=rows["affinity"], mode="markers+text", text=[f"s={s:g}" for s in rows["strength"]],
        textposition="top center", name="strength",
        marker=dict(size=14, color=rows["target_acc"], colorscale="Viridis", showscale=True,
                    colorbar=dict(title="target acc", tickformat=".0%"), line=dict(color="black", width=0.5)),
        customdata=np.stack([rows["strength"], rows["target_acc"], rows["lr"]], axis=1),
        hovertemplate="strength %{customdata[0]} (lr %{customdata[2]:g}): diversity %{x:.2f}, affinity %{y:.2f}, "
                      "target acc %{customdata[1]:.1%}<extra></extra>"))
    best = rows[rows["best"].astype(bool)] if "best" in rows else rows.iloc[:0]
    if len(best):
        b = best.iloc[0]
        fig.add_trace(go.Scatter(x=[b["diversity"]], y=[b["affinity"]], mode="markers", name="best",
                                 marker=dict(symbol="star", size=22, color="#f2a541",
                                             line=dict(color="black", width=1))))
    out = _layout(fig, title, "affinity (augmented ÷ clean accuracy)", height=400)
    out.update_layout(xaxis_title="diversity (training loss with ÷ without augmentation)", hovermode="closest")
    return out
