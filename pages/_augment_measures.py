"""The Augmentation lab's measuring half: over-augmentation measured against strength (Affinity, label flips,
gap to target, the sweet spot) and the self-test of each op.  Laid out by :func:`section`; the numbers come from
``da_core.augment.measure``."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from da_core.augment import Pipeline, editor
from da_core.errors import DAError
from pages import _ui

P = editor.PREFIX


def section(pipeline: Pipeline, source: Any, target: Any, prefix: str = P) -> None:
    """Both measures of ``pipeline`` on the source → target pair (images or texts), each computed on request (the
    first also automatically, with **Auto**) and cached per pipeline, pair and settings.  ``prefix``: the
    widget keys' (the text lab keeps its own)."""
    grid, embedder = _over_augmentation(pipeline, source, target, prefix)
    _self_test(pipeline, source, grid, embedder, prefix)


def _over_augmentation(pipeline: Pipeline, source: Any, target: Any, P: str = P) -> tuple[tuple[float, ...], str]:
    """The settings, the Measure button and, once measured, :func:`_measures`; returns the strength grid and
    embedder chosen (the self-test uses them too)."""
    st.divider()
    st.subheader("Over-augmentation, measured")
    st.write(
        "For each strength, held-out source samples are augmented and embedded. **Affinity** is the source model's "
        "accuracy on them divided by its accuracy on clean data (1 = the augmentation keeps what the model relies "
        "on); the **label-flip rate** is the share of predictions that change; the **gap to target** is MMD² between "
        "augmented source and target embeddings (lower = the source looks more like the target). The **sweet spot** "
        "is the strength with the smallest gap whose affinity stays above your threshold. No training needed."
    )
    from da_core.augment.lab import DEFAULT_GRID, MEASURE_GRIDS
    from da_core.augment.measure import (
        DEFAULT_EMBEDDERS,
        IMAGE_MAX_SAMPLES,
        TEXT_MAX_SAMPLES,
        measure_over_augmentation,
    )
    from da_core.embed import list_embedders

    text = source.modality == "text"
    embedders = [info.id for info, why in list_embedders(source.modality) if why is None]
    default_embedder = DEFAULT_EMBEDDERS[source.modality]
    if embedders and default_embedder not in embedders:
        default_embedder = embedders[0]
    m1, m2, m3, m4 = st.columns([2, 2, 2, 1], vertical_alignment="bottom")
    embedder = _ui.widget(m1.selectbox, "Embedder", f"{P}_embedder", default_embedder, options=embedders,
                          help="The source model is a linear probe on these embeddings, fitted on clean source data.")
    grid_name = _ui.widget(m2.selectbox, "Strengths", f"{P}_grid", DEFAULT_GRID, options=list(MEASURE_GRIDS))
    max_samples = int(_ui.widget(m3.number_input, "Max samples per domain", f"{P}_max",
                                 TEXT_MAX_SAMPLES if text else IMAGE_MAX_SAMPLES, min_value=50,
                                 max_value=20000, step=100 if text else 250,
                                 help="Half the source trains the probe, half is augmented."))
    auto = _ui.widget(m4.toggle, "Auto", f"{P}_auto", False, help="Re-measure whenever the pipeline changes.")
    grid = MEASURE_GRIDS[grid_name]
    key = editor.measure_key(pipeline, source.fingerprint, target.fingerprint, grid, embedder, max_samples)
    cached = _ui.is_cached("augment-measure", key)
    if not cached:
        st.button("Measure over-augmentation", key=f"{P}_measure", type="primary", icon=":material/monitoring:",
                  disabled=not pipeline.ops, on_click=_ui.keep, args=(f"{P}_measure_req", key))
    clicked = st.session_state.get(f"{P}_measure_req") == key  # a callback, so the request survives any rerun
    if not pipeline.ops:
        st.info("Add an op to the pipeline to measure it.")
    elif clicked or auto or cached:
        try:
            report = _ui.memo("augment-measure", key,
                              lambda p: measure_over_augmentation(pipeline, source, target, strengths=grid,
                                                                  embedder=embedder, max_samples=max_samples,
                                                                  seed=pipeline.seed, progress=p),
                              f"Computing over-augmentation measures ({len(grid)} strengths, {embedder})")
        except DAError as exc:
            st.error(str(exc))
        else:
            _measures(report, P)
    else:
        cost = ("about 20–40 s at 400 texts with MiniLM on a laptop CPU, a few seconds with tfidf" if text
                else "about 5–10 s at 1000 samples on a laptop CPU")
        st.info(f"Press **Measure over-augmentation** ({cost}), or turn on **Auto**. Results are cached per "
                "pipeline, pair and settings.")
    return grid, embedder


def _use_strength(value: float, P: str = P) -> None:
    """Button callback: put the sweet spot into the preview's strength slider."""
    _ui.keep(f"{P}_strength", value)
    st.session_state[f"{P}_rerun_app"] = True


@st.fragment
def _measures(report: Any, P: str = P) -> None:
    """Threshold and chart: moving the threshold re-picks the sweet spot without recomputing."""
    from da_core import viz

    if st.session_state.pop(f"{P}_rerun_app", False):
        st.rerun(scope="app")  # the preview (another fragment) must show the new strength
    chart, words = st.columns([3, 2], gap="large")
    with words:
        threshold = float(_ui.widget(st.slider, "Affinity threshold", f"{P}_threshold", 0.9, min_value=0.5,
                                     max_value=1.0, step=0.01,
                                     help="How much of its clean accuracy the model must keep on augmented data. "
                                          "Moving it re-picks the sweet spot without re-measuring."))
    rep = report.with_threshold(threshold)
    chart.plotly_chart(viz.over_augmentation_figure(rep, threshold, rep.sweet_spot), width="stretch",
                       key=f"{P}_measure_chart")
    with words:
        if rep.sweet_spot == 0:
            st.warning(f"**Sweet spot: s = 0 (no augmentation).** {rep.explanation}")
        elif rep.sweet_spot is not None:
            st.success(f"**Sweet spot: s = {rep.sweet_spot:.2f}.** {rep.explanation}")
            st.button(f"Use s = {rep.sweet_spot:.2f} in the preview", key=f"{P}_use_spot",
                      on_click=_use_strength, args=(float(rep.sweet_spot), P))
        else:
            st.warning(f"**No sweet spot.** {rep.explanation}")
        st.caption(f"Clean source accuracy {rep.clean_accuracy:.3f}; clean gap MMD² {rep.clean_gap:.3g} "
                   f"(noise floor {rep.gap_baseline:.2g}); {rep.n_train} probe / {rep.n_held_out} "
                   f"held-out / {rep.n_target} target samples; {rep.embedder} on {rep.device}; "
                   f"{rep.seconds.get('total', 0):.1f} s.")
        for note in rep.notes:
            st.caption(note)
    table = pd.DataFrame([r.to_dict() for r in rep.results])
    with st.expander("Numbers", expanded=False):
        st.dataframe(table, hide_index=True, width="stretch")
    st.download_button("Measures (JSON)", json.dumps(rep.to_dict(), indent=2), file_name="over-augmentation.json",
                       mime="application/json", icon=":material/download:")


def _self_test(pipeline: Pipeline, source: Any, grid: tuple[float, ...], embedder: str, P: str = P) -> None:
    """Each op alone against s, on request; warnings for an op that changes nothing or falls as s grows."""
    from da_core import viz
    from da_core.augment.measure import self_test

    text = source.modality == "text"
    st.subheader("Self-test per op")
    if text:
        embedder = "words"  # the share of words edited: no model needed
        st.caption("Each op alone on 64 source texts: the share of their words it edits against s (0 at s = 0). An "
                   "op that changes nothing or whose effect falls as s grows gets a warning.")
    else:
        st.caption("Each op alone on 64 source samples: its effect (mean embedding distance to the original, in "
                   "units of the typical distance between two samples) against s. An op that changes nothing or "
                   "whose effect falls as s grows gets a warning.")
    test_key = editor.measure_key(pipeline, source.fingerprint, grid, embedder, "self-test")
    test_cached = _ui.is_cached("augment-selftest", test_key)
    if not test_cached:
        st.button("Run the self-test", key=f"{P}_selftest", icon=":material/rule:", disabled=not pipeline.ops,
                  on_click=_ui.keep, args=(f"{P}_selftest_req", test_key))
    if not (test_cached or (pipeline.ops and st.session_state.get(f"{P}_selftest_req") == test_key)):
        return
    sample = source.capped(64, pipeline.seed)
    tests = _ui.memo("augment-selftest", test_key,
                     lambda p: self_test(pipeline, sample.texts if text else sample.images, strengths=grid,
                                         seed=pipeline.seed, embedder=None if text else embedder, progress=p,
                                         labels=sample.labels, num_classes=len(source.classes)),
                     f"Computing the self-test of {len(pipeline.ops)} ops")
    t1, t2 = st.columns([3, 2], gap="large")
    figure = viz.self_test_figure(tests)
    if text:
        figure.update_layout(yaxis_title="share of words edited")
    t1.plotly_chart(figure, width="stretch", key=f"{P}_selftest_chart")
    with t2:
        warnings = [w for t in tests for w in t.warnings]
        for w in warnings:
            st.warning(w)
        if not warnings:
            st.success(f"All {len(tests)} ops change the {'texts' if text else 'images'} and grow with s.")
