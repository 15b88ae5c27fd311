"""Gap map: embed both domains, draw them on one map, and measure the gap with honest metrics."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from da_core import viz
from pages import _ui

_ui.init_state()
st.title("Gap map")
_ui.pair_caption()
source, target, alignment = _ui.load_pair()
if not alignment.identical:
    st.info(f"Using the {len(alignment.shared)} classes both domains share.")

from da_core.embed import default_embedder, free_form_embedders, list_embedders  # noqa: E402  (after the pair)
from da_core.gap_workflow import METRICS_PER_DOMAIN, SHOW_ALL_PER_DOMAIN  # noqa: E402

# ------------------------------------------------------------------------------------------ controls
available = list_embedders(source.modality)  # only the embedders that take this pair's modality
families = {f"{entry.prefix} (local folder)": entry for entry in free_form_embedders(source.modality)}
ids = [info.id for info, _ in available] + list(families)
reasons = {info.id: why for info, why in available}
c1, c2, c3 = st.columns([2, 1, 1])
_ui.remember("gap_embedder", default_embedder(source.modality))
if st.session_state["gap_embedder"] not in ids:  # the pair changed modality: start from its default
    _ui.keep("gap_embedder", default_embedder(source.modality))
choice = c1.selectbox("Embedder", ids, key="gap_embedder",
                      format_func=lambda i: i + ("  (unavailable)" if reasons.get(i) else ""),
                      help="minilm is the all-MiniLM-L6-v2 sentence encoder; tfidf (TF-IDF + SVD) is the no-model "
                           "baseline." if source.modality == "text" else
                      "digits-cnn is pretrained here on printed digits; pixels is a sanity baseline.")
_ui.store("gap_embedder")
max_samples = int(_ui.widget(c2.number_input, "Max samples per domain", "gap_max", 2000, min_value=200,
                             max_value=200_000, step=200,
                             help="A seeded, class-stratified subset of each domain keeps the map fast. Past "
                                  f"{SHOW_ALL_PER_DOMAIN:,} per domain the map draws a stated subsample with a "
                                  "density overview of all points; the metrics use a stated subsample of "
                                  f"{METRICS_PER_DOMAIN:,} per domain."))
seed = int(_ui.widget(c3.number_input, "Seed", "gap_seed", 0, min_value=0, max_value=10_000))
embedder = choice
if choice in families:
    _ui.remember("gap_hf_path", "")
    path = st.text_input(families[choice].free_form, key="gap_hf_path")
    _ui.store("gap_hf_path")
    if not path:
        st.info("Enter a local model folder. Nothing is downloaded unless DA_ALLOW_DOWNLOAD=1 is set.")
        st.stop()
    embedder = f"{families[choice].prefix}{path}"
elif reasons.get(choice):
    st.warning(f"**{choice} is unavailable.** {reasons[choice]}")
    st.stop()

# ------------------------------------------------------------------------------------------ analysis
from da_core.errors import DAError  # noqa: E402
from da_core.gap_workflow import (  # noqa: E402
    embed_for_gap,
    embeddings_npz,
    fmt_acc,
    for_metrics,
    gap_key,
    gap_verdict,
    map_hover_texts,
    map_key,
    map_notes,
    map_points,
    measure_gap,
    metric_rows,
    pca_map_key,
    selection_images,
    selection_table,
    selection_texts,
    shown_rows,
)

key = gap_key(source, target, embedder, max_samples, seed)
try:
    embedded = _ui.memo("embedding", key,
                        lambda p: embed_for_gap(source, target, embedder, max_samples, seed, progress=p),
                        f"Computing embeddings ({embedder})")
except DAError as exc:
    st.error(str(exc))
    st.stop()
if embedder == "digits-cnn":
    from da_core.models import load_digits_cnn  # noqa: E402

    info = load_digits_cnn()[1]
    st.caption(f"digits-cnn: pretrained here on `{info.source_spec}`; held-out source accuracy "
               f"{info.source_accuracy:.3f}.")

points, domains, labels = map_points(embedded)
classes = embedded.source.classes
hover = map_hover_texts(embedded)  # texts show on hover (None for images)
shown = shown_rows(domains, seed)  # None: every point is drawn

map_col, metric_col = st.columns([1, 1], gap="large")
with map_col:
    from da_core.reduce import available_engines, reduce, reduce_many  # noqa: E402

    engines = available_engines()
    m1, m2, m3 = st.columns(3)
    dims = m1.radio("Map", ["2-D", "3-D"], horizontal=True, key="gap_dims")
    color_by = m2.selectbox("Colour by", ["domain", "class", "domain×class"], key="gap_color")
    engine = m3.selectbox("Engine", ["auto", *[e for e, why in engines.items() if why is None]], key="gap_engine",
                          help="\n\n".join(f"**{e}**: {why or 'available'}" for e, why in engines.items()))
    s1, s2 = st.columns(2)
    n_neighbors = s1.slider("n_neighbors", 5, 100, 15, key="gap_nn", help="Larger: more global structure.")
    min_dist = s2.slider("min_dist", 0.0, 0.99, 0.1, 0.01, key="gap_md", help="Smaller: tighter clusters.")
    k = 3 if dims == "3-D" else 2
    plot = st.empty()
    umap_key = map_key(key, k, n_neighbors, min_dist, engine)
    umap_ready = _ui.is_cached("map", umap_key)
    if not umap_ready:  # show PCA at once while UMAP runs
        pca = _ui.memo("map", pca_map_key(key, k), lambda p: reduce(points, "pca", n_components=k, seed=seed),
                       "Computing a PCA map")
        pca_fig = viz.embedding_map_figure(pca.coords, domains, labels, classes, color_by,
                                           title="PCA (UMAP is being computed…)", hover_texts=hover, rows=shown)
        plot.plotly_chart(pca_fig, key="gap_pca", width="stretch")
    try:
        result = _ui.memo("map", umap_key, lambda p: reduce_many(points, "umap", strata=domains, n_components=k,
                                                                  n_neighbors=n_neighbors, min_dist=min_dist,
                                                                  seed=seed, engine=engine, progress=p),
                          "Computing UMAP")
    except DAError as exc:
        st.error(str(exc))
        st.stop()
    fig = viz.embedding_map_figure(result.coords, domains, labels, classes, color_by,
                                   title=f"UMAP by {result.engine} ({result.seconds:.1f} s)", hover_texts=hover,
                                   rows=shown)
    event = plot.plotly_chart(fig, key="gap_map", on_select="rerun", selection_mode=("box", "lasso"),
                              width="stretch")
    for note in map_notes(domains, shown, result.params):
        st.caption(note)
    if shown is not None:
        st.plotly_chart(viz.density_figure(result.coords, domains), key="gap_density", width="stretch")
    st.download_button("Download map (HTML)", fig.to_html(include_plotlyjs=True, full_html=True),
                       file_name="gap-map.html", mime="text/html")

with metric_col:
    from da_core.gap import METRIC_HELP  # noqa: E402

    st.subheader("Gap metrics")
    analysis = _ui.memo("analysis", key, lambda p: measure_gap(for_metrics(embedded, seed), seed, progress=p),
                        "Computing gap metrics (permutation test and bootstrap intervals)")
    where = "embeddings from the disk cache" if analysis.device == "cache" else f"on {analysis.device}"
    of = (f" (a seeded, class-stratified subsample of {len(embedded.xs):,} × {len(embedded.xt):,}; the intervals "
          "are for it)") if len(analysis.xs) < len(embedded.xs) or len(analysis.xt) < len(embedded.xt) else ""
    st.caption(f"Embedder `{analysis.embedder}`, {where}; {len(analysis.xs):,} source × {len(analysis.xt):,} target "
               f"samples{of}.")
    st.dataframe(pd.DataFrame(metric_rows(analysis.metrics)).set_index("metric"), width="stretch",
                 column_config={
                     "value": st.column_config.NumberColumn(format="%.3g", help="source vs target"),
                     "baseline": st.column_config.NumberColumn(
                         format="%.2g", help="the same metric between two random halves of the source"),
                     "95% CI": st.column_config.TextColumn(help="bootstrap interval of the value"),
                     "p": st.column_config.TextColumn(help="MMD² permutation-test p-value"),
                     "gap?": st.column_config.TextColumn(help="significant: p < 0.05 for MMD², otherwise the interval "
                                                              "lies above the baseline"),
                 })
    verdict = gap_verdict(analysis.metrics)
    if verdict is not None:
        (st.success if verdict[0] else st.warning)(verdict[1])
    st.caption(f"Linear probe trained on source embeddings: source accuracy {fmt_acc(analysis.probe['source_acc'])}, "
               f"target accuracy {fmt_acc(analysis.probe['target_acc'])}.")
    with st.expander("What the metrics mean", expanded=False):
        for name in analysis.metrics:
            st.markdown(f"- {METRIC_HELP[name]}")
        st.markdown("- The **baseline** is the same metric between two random halves of the source: what "
                    "'no shift' looks like at this sample size. The **95% CI** comes from a bootstrap.")

# ------------------------------------------------------------------------------------------ selection
selected = viz.selected_rows(event.selection.get("points", [])) if event is not None and getattr(
    event, "selection", None) else []
if selected:
    st.subheader(f"Selection: {len(selected)} samples")
    if source.modality == "text":
        st.dataframe(selection_texts(embedded, selected, 120), hide_index=True, width="stretch",
                     column_config={"text": st.column_config.TextColumn(width="large")})
        st.caption("The first 120 selected texts.")
    else:
        st.image(viz.gallery(selection_images(embedded, selected, 120), []), caption="first 120 selected samples")
    loaded = {role: _ui.load(st.session_state[f"{role}_spec"], role) for role in ("source", "target")}
    table = selection_table(embedded, selected, {r: ds.domain for r, ds in loaded.items()},
                            {r: ds.fingerprint for r, ds in loaded.items()})
    st.dataframe(table, hide_index=True, width="stretch", column_order=["domain", "uid", "class"])
    st.caption("The CSV names each sample by its uid and the dataset's fingerprint: upload it on the Training "
               "page to train on exactly these source samples.")
    st.download_button("Download selection (CSV)", table.to_csv(index=False), file_name="selection.csv",
                       mime="text/csv")
else:
    st.caption("Drag a box or lasso on the map to see the selected samples here.")

# ------------------------------------------------------------------------------------------ per class
st.subheader("Per class")
per_class = pd.DataFrame(analysis.per_class)
c1, c2 = st.columns([3, 2], gap="large")
c1.dataframe(per_class, hide_index=True, width="stretch")
with c2:
    by = st.radio("Worst classes by", ["mmd2", "target_acc"], horizontal=True, key="gap_worst_by")
    st.plotly_chart(viz.worst_classes_figure(analysis.per_class, by), key="gap_worst", width="stretch")
st.download_button("Download embeddings (.npz)", embeddings_npz(analysis), file_name="embeddings.npz",
                   help="The vectors the metrics used, with each row's label and sample uid.")
