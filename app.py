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
]

st.navigation(PAGES).run()
