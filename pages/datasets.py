"""Datasets: choose the source and target domains and compare them side by side."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from da_core import viz
from pages import _datasets_text, _ui

_ui.init_state()
st.title("Datasets")
st.write(
    "Pick a **source** (what you train on) and a **target** (where the model must work). "
    "The choice is shared by every page. Built-ins work offline; your own data can come from a folder, "
    "a ZIP upload, or torchvision files on disk; texts from the built-in corpora or a CSV/JSON Lines file."
)
_datasets_text.default_pair_button()

with st.expander("Sampling (applies to both domains)", expanded=False):
    c1, c2 = st.columns(2)
    size = _ui.widget(c1.number_input, "Image size (pixels)", "shared_size", 28, min_value=8, max_value=256, step=4,
                      help="Both domains are resized to size × size so they can be compared.")
    seed = _ui.widget(c2.number_input, "Seed", "shared_seed", 0, min_value=0, max_value=2**31 - 1, step=1,
                      help="Generated data and random subsets are reproducible for a seed.")
shared = {"size": int(size), "seed": int(seed)}

cols = st.columns(2, gap="large")
for role, col in zip(_ui.ROLES, cols):
    with col:
        st.subheader(role.capitalize())
        spec = _ui.spec_builder(role, shared)
        if spec:
            st.session_state[f"{role}_spec"] = spec
        st.code(st.session_state[f"{role}_spec"], language=None)

source, target, alignment = _ui.load_pair()
datasets = {"source": source, "target": target}

if not alignment.identical:
    st.warning(
        f"The domains' class sets differ; the app uses the **{len(alignment.shared)} shared classes**. "
        f"Only in source: {', '.join(alignment.only_source) or '—'}. "
        f"Only in target: {', '.join(alignment.only_target) or '—'}."
    )

st.subheader("Summary")
st.dataframe(pd.DataFrame(viz.summary_rows(datasets)).set_index("domain"), width="stretch")

if source.modality == "text":
    _datasets_text.samples(datasets, int(seed))
    _datasets_text.lengths_and_balance(datasets)
    _datasets_text.vocabulary(datasets)
else:
    st.subheader("Samples per class")
    per_class = _ui.widget(st.slider, "Samples per class", "grid_per_class", 8, min_value=4, max_value=16)
    cols = st.columns(2, gap="large")
    for (role, ds), col in zip(datasets.items(), cols):
        col.image(viz.sample_grid(ds, per_class=per_class, seed=int(seed)), caption=f"{role}: {ds.domain}",
                  width="stretch")

    c1, c2 = st.columns(2, gap="large")
    with c1:
        _datasets_text.class_balance(datasets)
    with c2:
        st.subheader("Pixel intensities")
        log_y = st.toggle("Log scale", value=True, key="hist_log")
        st.plotly_chart(viz.intensity_histogram_figure(datasets, log_y=log_y), width="stretch")

st.subheader("Load report")
cols = st.columns(2, gap="large")
for (role, ds), col in zip(datasets.items(), cols):
    with col:
        report = ds.report
        unit = "rows" if ds.modality == "text" else "files"
        if not report.skipped and not report.ignored:
            st.success(f"{role}: every {unit[:-1]} loaded.")
        if report.skipped:
            st.warning(f"{role}: {len(report.skipped)} {unit} skipped.")
            st.dataframe(pd.DataFrame(report.to_dict()["skipped"]), width="stretch", hide_index=True)
        if report.ignored:
            st.info(f"{role}: {report.ignored} non-image files ignored "
                    f"(e.g. {', '.join(report.ignored_examples[:3])}).")
        for note in report.notes:
            st.caption(note)
