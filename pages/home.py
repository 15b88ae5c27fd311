"""Home: what the studio is for and where to go next."""

from __future__ import annotations

import streamlit as st

from pages import _ui

_ui.init_state()
st.title("Domain Shift Studio")
st.write(
    "See and measure the gap between a **source** dataset (what a model is trained on) and a **target** "
    "dataset (where it has to work), tune data augmentation without overdoing it, and check whether short "
    "domain-adaptive fine-tuning closes the gap. Everything runs offline on this machine."
)
_ui.pair_caption()


def _preparation_note() -> None:
    """While the server prepares the default pair (da_core.warmup), say how far it is (read every 2 s)."""
    from da_core import warmup

    running = warmup.status().state == "running"

    @st.fragment(run_every=warmup.POLL_S if running else None)
    def note() -> None:
        status = warmup.status()
        if status.state == "running":
            with st.container(key="da-warmup-note"):
                st.info(status.line(), icon=":material/hourglass_top:")
        elif status.state == "failed":
            st.warning(status.line())
        elif status.state == "done":
            st.caption(status.line())
        if running and status.state != "running":
            st.rerun()  # once: show the page without the timer

    note()


_preparation_note()

st.markdown(
    """
**The workflow**

1. **Datasets** — choose a source and a target (built-in pairs, your folders or ZIPs, torchvision files)
   and compare them side by side: samples per class, class balance, pixel statistics, what failed to load.
2. **Gap map** — embed both domains, draw them on one UMAP map and measure the gap with honest metrics.
3. **Selection** — weigh the source by how target-like each sample is and keep what serves the target.
4. **Augmentation lab** — preview augmentations with one strength knob and see where "more" starts to hurt.
5. **Training** — short fine-tuning runs (optionally adversarial) with live charts and a run history.
6. **Study** — selection vs augmentation vs both vs DANN at equal budget, paired over seeds, with a
   recommendation from the numbers and a map of when each wins.

The default pair, printed digits → handwritten digits, is a real synthetic-to-real gap: a classifier
trained on printed digits loses a large share of its accuracy on handwritten ones.
"""
)
st.page_link("pages/datasets.py", label="Datasets: choose and compare the two domains", icon=":material/dataset:")
st.page_link("pages/gap.py", label="Gap map: embeddings, UMAP and gap metrics", icon=":material/scatter_plot:")
st.page_link("pages/select.py", label="Selection: which source samples look like the target, and what keeping them "
             "does to the gap", icon=":material/filter_alt:")
st.page_link("pages/augment.py", label="Augmentation lab: one strength knob, live previews, over-augmentation measured",
             icon=":material/auto_fix_high:")
st.page_link("pages/train.py", label="Training: short fine-tuning runs with live charts (optionally DANN)",
             icon=":material/model_training:")
st.page_link("pages/study.py", label="Study: select, augment, both or DANN — which closes the gap on this pair, and "
             "when", icon=":material/science:")
st.page_link("pages/runs.py", label="Runs: the history of every run, overlays, downloads and sweeps",
             icon=":material/history:")
