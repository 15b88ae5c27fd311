"""The Lesson page's steps 1-4 (step 5: ``_lesson_study.py``): each runs the real pages' library calls under the
same cache keys (so a step whose page already ran, or the warm-up, is instant), draws their figures and returns
what it measured as a :class:`da_core.lesson.Reveal` (None until the class asks for the reveal)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from da_core import lesson, viz
from da_core.warmup import GAP_DEFAULTS, MAP_DEFAULTS
from pages import _ui

GAP = {**GAP_DEFAULTS, **MAP_DEFAULTS}  # the Gap map page's defaults (what the warm-up prepares)


@dataclass
class Context:
    """The lesson's pair and how to draw."""

    source: Any
    target: Any
    source_spec: str
    target_spec: str
    presenter: bool

    @property
    def modality(self) -> str:
        return str(self.source.modality)

    def chart(self, fig: Any, key: str) -> None:
        """A figure, larger in presenter mode."""
        if self.presenter:
            fig.update_layout(font={"size": 18}, height=int((fig.layout.height or 450) * 1.35))
        st.plotly_chart(fig, key=f"lesson_{key}", width="stretch")


# ------------------------------------------------------------------------------------------ shared computations


def _gap_key(ctx: Context) -> tuple[str, str]:
    """The Gap map's embedder for the pair's modality and its cache key at the page's defaults."""
    from da_core.embed import default_embedder
    from da_core.gap_workflow import gap_key

    emb = default_embedder(ctx.modality)
    return emb, gap_key(ctx.source, ctx.target, emb, GAP["max_samples"], GAP["seed"])


def _map_key(key: str) -> str:
    from da_core.gap_workflow import map_key

    return map_key(key, GAP["n_components"], GAP["n_neighbors"], GAP["min_dist"], GAP["engine"])


def _embedded(ctx: Context, run: bool) -> Any:
    """The Gap map's embeddings of the pair (its default embedder, cap and seed; its cache key)."""
    from da_core.gap_workflow import embed_for_gap

    emb, key = _gap_key(ctx)
    if not run:  # the class predicts first; a cached result makes the reveal instant
        return None, key
    return _ui.memo("embedding", key, lambda p: embed_for_gap(ctx.source, ctx.target, emb, GAP["max_samples"],
                                                              GAP["seed"], progress=p),
                    f"Computing embeddings ({emb})"), key


def _analysis(embedded: Any, key: str) -> Any:
    """The Gap map's metrics of those embeddings (the same call and key as the page)."""
    from da_core.gap_workflow import for_metrics, measure_gap

    return _ui.memo("analysis", key, lambda p: measure_gap(for_metrics(embedded, GAP["seed"]), GAP["seed"],
                                                           progress=p),
                    "Computing gap metrics (permutation test and bootstrap intervals)")


def timing(ctx: Context, key: str, manager: Any) -> tuple[bool, float | None, str]:
    """Whether a step's results are cached already (so it is instant) and, for step 5, the study's estimate from
    the history's run times: (cached, seconds or None, what the estimate rests on)."""
    gkey = _gap_key(ctx)[1]
    if key == "domains":
        return _ui.is_cached("analysis", gkey), None, ""
    if key == "gap":
        return _ui.is_cached("analysis", gkey) and _ui.is_cached("map", _map_key(gkey)), None, ""
    if key == "augment":
        return _ui.is_cached("augment-measure", _augment_inputs(ctx)[-1]), None, ""
    if key == "select":
        return _ui.is_cached("selection", _select_inputs(ctx)[-1]), None, ""
    from da_core.study.runner import estimate_seconds

    spec = lesson.study_spec(ctx.modality, ctx.source_spec, ctx.target_spec, quick(ctx))
    if lesson.finished_study(manager.store, spec) is not None:
        return True, None, ""
    seconds, basis = estimate_seconds(spec, manager.store, len(ctx.source))
    return False, seconds, basis


def quick(ctx: Context) -> bool:
    """Whether step 5 runs its quick study (the toggle's state)."""
    return bool(st.session_state.get(f"lesson_quick_{ctx.modality}", False))


# ------------------------------------------------------------------------------------------ steps


def domains(ctx: Context, run: bool) -> lesson.Reveal | None:
    """Step 1: samples of both domains and their class balance; the source-trained probe on both."""
    from da_core.data import textstats

    left, right = st.columns(2, gap="large")
    for col, role, ds in ((left, "source", ctx.source), (right, "target", ctx.target)):
        col.markdown(f"**{role}**: `{ds.domain}` ({len(ds):,} samples)")
        if ctx.modality == "text":
            col.dataframe(textstats.samples_per_class(ds, 2, 0), hide_index=True, width="stretch",
                          column_config={"text": st.column_config.TextColumn(width="large")})
        else:
            col.image(viz.sample_grid(ds, per_class=6 if ctx.presenter else 8, seed=0,
                                      scale=4 if ctx.presenter else 2), width="stretch")
    embedded, key = _embedded(ctx, run)
    if embedded is None:
        return None
    analysis = _analysis(embedded, key)
    return lesson.reveal_domains(analysis.probe, len(ctx.source.classes))


def gap(ctx: Context, run: bool) -> lesson.Reveal | None:
    """Step 2: both domains on the Gap map's UMAP, and its metrics with their baselines."""
    import pandas as pd

    from da_core.gap_workflow import map_points, metric_rows, shown_rows
    from da_core.reduce import reduce_many

    embedded, key = _embedded(ctx, run)
    if embedded is None:
        return None
    points, domains_, labels = map_points(embedded)
    result = _ui.memo("map", _map_key(key), lambda p: reduce_many(points, "umap", strata=domains_, n_components=2,
                                                           n_neighbors=GAP["n_neighbors"], min_dist=GAP["min_dist"],
                                                           seed=GAP["seed"], engine=GAP["engine"], progress=p),
                      "Computing UMAP")
    analysis = _analysis(embedded, key)
    left, right = st.columns([3, 2], gap="large")
    with left:
        ctx.chart(viz.embedding_map_figure(result.coords, domains_, labels, embedded.source.classes, "domain",
                                           rows=shown_rows(domains_, GAP["seed"])), "gap_map")
    rows = pd.DataFrame(metric_rows(analysis.metrics)).set_index("metric")
    right.dataframe(rows[["value", "baseline", "95% CI", "p", "gap?"]], width="stretch")
    return lesson.reveal_gap(analysis.metrics)


def _augment_inputs(ctx: Context) -> tuple[Any, list[float], str, int, str]:
    from da_core.augment import editor
    from da_core.augment.lab import DEFAULT_GRID, MEASURE_GRIDS
    from da_core.augment.measure import DEFAULT_EMBEDDERS, IMAGE_MAX_SAMPLES, TEXT_MAX_SAMPLES
    from da_core.augment.text_ops import default_pipeline_for

    pipeline = default_pipeline_for(ctx.modality)
    grid = MEASURE_GRIDS[DEFAULT_GRID]
    embedder = DEFAULT_EMBEDDERS[ctx.modality]
    max_samples = TEXT_MAX_SAMPLES if ctx.modality == "text" else IMAGE_MAX_SAMPLES
    key = editor.measure_key(pipeline, ctx.source.fingerprint, ctx.target.fingerprint, grid, embedder, max_samples)
    return pipeline, grid, embedder, max_samples, key


def augment(ctx: Context, run: bool) -> lesson.Reveal | None:
    """Step 3: the lab's default pipeline measured over strength (the lab's call and key)."""
    from da_core.augment.measure import measure_over_augmentation

    pipeline, grid, embedder, max_samples, key = _augment_inputs(ctx)
    st.caption(f"The lab's starting pipeline, measured at strengths {', '.join(f'{g:g}' for g in grid)}: "
               f"{pipeline.describe(1.0)} (at full strength).")
    if not run:
        return None
    report = _ui.memo("augment-measure", key,
                      lambda p: measure_over_augmentation(pipeline, ctx.source, ctx.target, strengths=grid,
                                                          embedder=embedder, max_samples=max_samples,
                                                          seed=pipeline.seed, progress=p),
                      f"Computing over-augmentation measures ({len(grid)} strengths, {embedder})")
    ctx.chart(viz.over_augmentation_figure(report), "augment")
    return lesson.reveal_augment(report)


def _select_inputs(ctx: Context) -> tuple[str, dict[str, Any], str, str]:
    from da_core.embed import default_embedder
    from da_core.select import DEFAULT_METHOD, selectors, view

    values = selectors(ctx.modality)[DEFAULT_METHOD].resolve({})
    emb = default_embedder(ctx.modality)
    key = view.selection_key(ctx.source, ctx.target, DEFAULT_METHOD, values, emb, GAP["max_samples"], GAP["seed"])
    return DEFAULT_METHOD, values, emb, key


def select(ctx: Context, run: bool) -> lesson.Reveal | None:
    """Step 4: the Selection page's default selector, and its gap curve against random subsets."""
    from da_core.select import DEFAULT_FRACTION, figures, select_source, view

    method, values, emb, key = _select_inputs(ctx)
    if not run:
        return None
    result = _ui.memo("selection", key, lambda p: select_source(ctx.source, ctx.target, method, values,
                                                                 DEFAULT_FRACTION, emb, GAP["max_samples"],
                                                                 GAP["seed"], progress=p),
                      f"Computing the selection ({method}, {emb})")
    result = view.at_fraction(result, DEFAULT_FRACTION)
    ctx.chart(figures.gap_curve_figure(result.curve, result.fraction), "select_curve")
    return lesson.reveal_select(result)
