"""Domain Shift Studio: page config, navigation over the files in ``pages/``, and the warm-up of the default pair.

From the first request on, a background thread (``da_core.warmup.start_background``; off with DA_WARM_UP=0)
prepares the default pair and hands each result to the pages' shared cache.  A page that needs a step still
under way shows the preparation's progress instead of computing the same thing a second time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import streamlit as st

from da_core import warmup  # cheap: no torch at import

ASSETS = Path(__file__).parent / "assets"
GATE_KEY = "da-warmup-gate"  # the waiting view's container (tests/e2e/browser.py looks for it)
# The warm-up steps (da_core.warmup.STEPS) each page needs on the default pair before it can draw at once.
PAGE_NEEDS: dict[str, tuple[str, ...]] = {
    "datasets": ("datasets",),
    "gap": ("datasets", "model", "embeddings", "map", "metrics"),
    "augment": ("datasets",),
    "select": ("datasets",),
    "study": ("datasets",),
    "lesson": ("datasets", "model", "embeddings", "map", "metrics"),
}

st.set_page_config(page_title="Domain Shift Studio", page_icon=str(ASSETS / "icon.svg"), layout="wide")
st.logo(str(ASSETS / "logo.svg"), icon_image=str(ASSETS / "icon.svg"), size="large")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/lesson.py", title="Lesson", icon=":material/school:"),
    st.Page("pages/datasets.py", title="Datasets", icon=":material/dataset:"),
    st.Page("pages/gap.py", title="Gap map", icon=":material/scatter_plot:"),
    st.Page("pages/select.py", title="Selection", icon=":material/filter_alt:"),
    st.Page("pages/augment.py", title="Augmentation lab", icon=":material/auto_fix_high:"),
    st.Page("pages/train.py", title="Training", icon=":material/model_training:"),
    st.Page("pages/study.py", title="Study", icon=":material/science:"),
    st.Page("pages/tune.py", title="Tuning", icon=":material/tune:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/history:"),
]


def _warm_up() -> None:
    """Start (once per process, unless DA_WARM_UP=0) the background preparation of the default pair, then the
    UMAP and augmentation-preview warm-ups.  Results go straight into the pages' shared cache."""
    if os.environ.get("DA_WARM_UP", "1") == "0":
        return
    from pages import _ui

    publish = _ui.publisher()  # made here, in the script thread: the worker never calls streamlit

    def umap_warm_up() -> None:
        from da_core.reduce import warm_up

        warm_up()

    def preview_warm_up() -> None:
        from da_core.augment import preview

        preview.warm_up()

    warmup.start_background(_ui.DEFAULT_SOURCE, _ui.DEFAULT_TARGET, publish, after=(umap_warm_up, preview_warm_up))


def _on_default_pair() -> bool:
    from da_core.data import resolve
    from da_core.errors import DAError
    from pages import _ui

    try:
        return all(str(resolve(st.session_state.get(f"{role}_spec", default))[1]) == str(resolve(default)[1])
                   for role, default in (("source", _ui.DEFAULT_SOURCE), ("target", _ui.DEFAULT_TARGET)))
    except DAError:
        return False


@st.fragment(run_every=warmup.POLL_S)
def _preparation_progress(needs: tuple[str, ...]) -> None:

    status = warmup.status()
    if status.ready(needs):
        st.rerun()  # the whole page, now from the prepared results
    st.progress(status.overall, text=status.line())


def _wait_for_preparation(page: Any) -> None:
    """Show the warm-up's progress (and stop) while the page's steps are still being prepared."""
    needs = PAGE_NEEDS.get(page.url_path)
    if not needs:
        return

    if warmup.status().ready(needs) or not _on_default_pair():
        return
    with st.container(key=GATE_KEY):
        st.title(page.title)
        st.caption("This page opens by itself as soon as what it needs is ready; other pages work meanwhile.")
        _preparation_progress(needs)
    st.stop()


page = st.navigation(PAGES)
_warm_up()
_wait_for_preparation(page)
page.run()
