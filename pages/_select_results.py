"""The Selection page's results: the headline numbers, the map coloured by weight, the weight histogram, the gap
curve, the class balance, the galleries, and the CSV with its hand-off to the Training page.  Every number comes
from the :class:`da_core.select.SelectionResult`; the figures from ``da_core.select.figures``."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from da_core import viz
from da_core.errors import DAError
from da_core.select import figures, view
from da_core.select.measures import RANDOM_DRAWS
from da_core.train import form
from pages import _ui

GALLERY = 24  # samples per gallery


def headline(result: Any) -> None:
    """Kept samples, effective sample size, the gap after selection against random, and the selector's notes."""
    p, full = result.point(result.fraction), result.point(1.0)
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Kept", f"{int(result.selected.sum())} of {len(result.source)}", f"{result.fraction:.0%}",
              delta_color="off", delta_arrow="off")
    m2.metric("Effective sample size", f"{result.ess:.1%}", f"≈{result.ess * len(result.source):.0f} samples",
              delta_color="off", delta_arrow="off",
              help="Kish's ESS of the importance weights (of the kept subset for other selectors): how many "
                   "equally weighted samples they are worth, as a share of the source.")
    m3.metric(f"MMD² at {p.fraction:.0%} kept", f"{p.mmd2:.4g}", f"{p.mmd2 - full.mmd2:+.3g} vs the whole source",
              delta_color="inverse", help="Squared maximum mean discrepancy to the target: 0 = no gap.")
    m4.metric("Random subsets, same size", f"{p.random_mmd2:.4g}", f"{p.mmd2 - p.random_mmd2:+.3g} selection − random",
              delta_color="inverse")
    closer, sentence = view.verdict(result)
    (st.success if closer else st.warning)(sentence)
    for warning in result.warnings:
        st.warning(f"**Class balance:** {warning}.")
    for note in result.notes:
        st.caption(f":material/info: {note}.")
    where = "embeddings from the disk cache" if result.device == "cache" else f"on {result.device}"
    st.caption(f"Embedder `{result.embedder}`, {where}; {len(result.source)} source × {len(result.target)} target "
               "samples; " + ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items()) + ".")


def map_and_weights(result: Any, source: Any, target: Any, max_samples: int, seed: int) -> None:
    """The map coloured by weight (the Gap map's UMAP when it exists, else PCA) beside the weight histogram."""
    from da_core.gap_workflow import map_hover_texts, map_points
    from da_core.reduce import reduce
    from da_core.warmup import MAP_DEFAULTS

    umap_key, pca_key = view.map_keys(source, target, result.embedder, max_samples, seed)
    points = map_points(result)[0]
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.subheader("Weights on the map")
        if st.button("Compute the UMAP map", key="sel_umap", disabled=_ui.is_cached("map", umap_key)) or \
                _ui.is_cached("map", umap_key):
            m = MAP_DEFAULTS
            made = _ui.memo("map", umap_key,
                            lambda p: reduce(points, "umap", n_components=2, n_neighbors=m["n_neighbors"],
                                             min_dist=m["min_dist"], seed=seed, engine=m["engine"], progress=p),
                            "Computing UMAP")
            title = f"UMAP by {made.engine}: the Gap map's map of these samples"
        else:
            made = _ui.memo("map", pca_key, lambda p: reduce(points, "pca", n_components=2, seed=seed),
                            "Computing a PCA map")
            title = "PCA (a linear projection)"
            st.caption("A PCA projection, drawn at once. The Gap map's UMAP of the same samples (same embedder, max "
                       "samples and seed) is shown here as soon as it exists: open the Gap map, or press the button.")
        coords = made.coords if len(made.coords) == len(points) else reduce(points, "pca", seed=seed).coords
        st.plotly_chart(figures.weight_map_figure(coords, result.weights, result.selected, title,
                                                  hover_texts=map_hover_texts(result)), key="sel_map", width="stretch")
        st.caption("Each source sample is coloured by the rank of its weight (yellow: most target-like; hover for "
                   "the weight); the kept ones are solid and outlined, the rest faint; target samples are the orange "
                   "diamonds. A good selection keeps the source points that lie among the target's.")
    with right:
        st.subheader("Weights")
        st.plotly_chart(figures.weight_histogram_figure(result.weights, result.selected, result.ess),
                        key="sel_hist", width="stretch")
        st.caption("How the weights spread (counts on a log scale), kept samples in green. The effective sample "
                   "size (ESS) says how many equally weighted samples the weights are worth: a few huge weights give "
                   "a small ESS, and a run on them sees little more than those few samples.")


def curve_and_balance(result: Any) -> None:
    """The gap curve against random subsets, and the class counts before and after the selection."""
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.subheader("Gap against the fraction kept")
        st.plotly_chart(figures.gap_curve_figure(result.curve, result.fraction), key="sel_curve", width="stretch")
        st.caption("MMD² between the kept source and the target at each fraction (green, with its bootstrap 95% "
                   "interval), against random subsets of the same size (grey: mean and range of "
                   f"{RANDOM_DRAWS} draws at each of the {len(result.curve)} fractions). Below the grey band, the "
                   "selector does better than chance; at 100% both are the whole source. The dotted line: the slider.")
    with right:
        st.subheader("Class balance")
        st.dataframe(pd.DataFrame(view.class_balance_rows(result)), hide_index=True, width="stretch",
                     column_config={"kept": st.column_config.ProgressColumn("kept", format="percent", min_value=0,
                                                                            max_value=1)})
        st.caption("Source samples per class before and after the selection. A class the selection empties cannot "
                   "be learnt by a run on it.")


def _gallery(ds: Any, positions: Any, values: Any, value_name: str) -> None:
    if ds.modality == "image":
        st.image(viz.gallery(view.sample_images(ds, positions), [], columns=6), width="stretch")
        st.caption(view.uid_caption(ds, positions, values, value_name, GALLERY))
    else:
        st.dataframe(view.sample_rows(ds, positions, values, value_name), hide_index=True, width="stretch")


def galleries(result: Any) -> None:
    """The most and least target-like source samples and the target samples the source covers least."""
    st.subheader("Samples")
    ranked = result.ranked()
    c1, c2, c3 = st.columns(3, gap="medium")
    with c1:
        st.markdown("**Most target-like source samples**")
        _gallery(result.source, ranked[:GALLERY], result.weights, "weight")
    with c2:
        st.markdown("**Least target-like source samples**")
        _gallery(result.source, ranked[::-1][:GALLERY], result.weights, "weight")
    with c3:
        st.markdown("**Target samples the source covers least**")
        _gallery(result.target, result.least_covered(GALLERY), result.target_scores, "p(target)")
    st.caption("Left to right, row by row. The last gallery holds the target samples a domain classifier is surest "
               "are target (p(target) near 1): what no source sample resembles, which selection cannot fix.")


def export(result: Any) -> None:
    """The selection as CSV (a subset or importance weights), and the button that opens it in Training."""
    st.subheader("Use the selection")
    loaded = _ui.load(st.session_state["source_spec"], "source")  # the dataset the Training page loads
    use = _ui.widget(st.radio, "Use as", "sel_use", "weights" if result.importance else "subset",
                     options=["subset", "weights"], horizontal=True,
                     format_func={"subset": "subset (train on the kept samples)",
                                  "weights": "importance weights (train on every sample, weighted)"}.get)
    if use == "weights" and not result.importance:
        st.caption(f"{result.method} scores are similarities, not importance weights: as weights they are shifted "
                   "to be at least 0, which is close to training on everything. 'subset' is the usual use.")
    outside = len(loaded) - len(result.source)
    if outside > 0:
        st.caption(f"The CSV lists the {len(result.source)} source samples weighed (max samples per domain); a run "
                   f"trains on none of the other {outside} samples of the source.")
    data = result.csv(loaded.domain, loaded.fingerprint, use)
    name = f"selection-{result.method}-{result.fraction:.0%}-{use}.csv".replace("%", "pct")
    c1, c2 = st.columns(2)
    c1.download_button("Download selection (CSV)", data, file_name=name, mime="text/csv", key="sel_download",
                       help="One row per weighed source sample by uid, with its weight, whether it is kept, the use "
                            "and the source's fingerprint: the Training page and `train --selection` read it.",
                       width="stretch")
    if c2.button("Open in Training with this selection", type="primary", key="sel_to_train", width="stretch"):
        try:
            st.session_state[form.SELECTION_HANDOFF] = form.hand_selection(data, name, loaded)
        except DAError as exc:
            st.error(str(exc))
            return
        st.switch_page("pages/train.py")
