"""Domain Shift Studio: page config and navigation over the files in ``pages/``."""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="Domain Shift Studio", page_icon=":material/compare:", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/datasets.py", title="Datasets", icon=":material/dataset:"),
]

st.navigation(PAGES).run()
