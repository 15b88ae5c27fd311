"""Domain Shift Studio: page config and navigation over the files in ``pages/``."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

ASSETS = Path(__file__).parent / "assets"

st.set_page_config(page_title="Domain Shift Studio", page_icon=str(ASSETS / "icon.svg"), layout="wide")
st.logo(str(ASSETS / "logo.svg"), icon_image=str(ASSETS / "icon.svg"), size="large")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/datasets.py", title="Datasets", icon=":material/dataset:"),
    st.Page("pages/gap.py", title="Gap map", icon=":material/scatter_plot:"),
    st.Page("pages/augment.py", title="Augmentation lab", icon=":material/auto_fix_high:"),
    st.Page("pages/train.py", title="Training", icon=":material/model_training:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/history:"),
]

st.navigation(PAGES).run()


@st.cache_resource(show_spinner=False)
def _warm_up() -> bool:
    """Once per server process, in background threads: fit a tiny UMAP and draw a tiny augmentation preview,
    so the first real map and the first preview are fast."""
    import os

    if os.environ.get("DA_WARM_UP", "1") != "0":
        from da_core.augment import preview
        from da_core.reduce import warm_up

        warm_up()
        preview.warm_up()
    return True


_warm_up()
