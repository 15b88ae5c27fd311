"""Streamlit helpers for the run history, shared by the Training and Runs pages: the job manager (or what is
wrong with the history, and the way out), and a finished run's result charts."""

from __future__ import annotations

from typing import Any

import streamlit as st


def job_manager() -> Any:
    """The background-job manager over the run history; when the history cannot be used, say what is wrong and
    what to do, and stop the page.  A damaged file gets a button that sets it aside (renamed
    ``runs.sqlite.damaged-<time>``, never deleted); a read-only history shows its runs under a warning."""
    from da_core.errors import StoreError
    from da_core.train.jobs import get_manager

    for key, show in (("_store_reset_msg", st.success), ("_store_reset_error", st.error)):
        if st.session_state.get(key):
            show(st.session_state.pop(key))
    try:
        manager = get_manager()
    except StoreError as exc:
        store_error(exc)
        st.stop()
    if manager.store.readonly:
        st.warning(f"**Read-only run history.** {manager.store.readonly_message()}.", icon=":material/lock:")
    return manager


def store_error(exc: Exception) -> None:
    """Show a run-history error (naming the file and the fix); for a damaged file, with the set-aside button."""
    from da_core.errors import StoreDamagedError

    st.error(f"**The run history cannot be used.** {exc}.")
    if isinstance(exc, StoreDamagedError):
        st.button("Set it aside and start a new history", key="store_set_aside", type="primary",
                  on_click=_set_aside_store, args=(str(exc.path),),
                  help="Renames the damaged file (and its -wal/-shm files) to runs.sqlite.damaged-<time> next to it; "
                       "nothing is deleted.")


def _set_aside_store(path: str) -> None:
    """Button callback: rename the damaged history so a new one starts; the result shows on the next run."""
    from da_core.errors import StoreError
    from da_core.train.store import set_aside

    try:
        moved = set_aside(path)
    except StoreError as exc:
        st.session_state["_store_reset_error"] = f"**Could not set the run history aside.** {exc}."
        return
    st.session_state["_store_reset_msg"] = (f"The damaged run history was renamed to `{moved}` (nothing was deleted); "
                                            "a new, empty history has started.")


def result_charts(details: dict[str, Any], prefix: str) -> bool:
    """A finished run's confusion matrix and per-class change against the source-only baseline, side by side
    (chart keys ``{prefix}_confusion`` and ``{prefix}_per_class``); False, drawing nothing, without them."""
    from da_core.train import figures

    if "confusion" not in details:
        return False
    c1, c2 = st.columns(2)
    c1.plotly_chart(figures.confusion_figure(details["confusion"], details["classes"]), key=f"{prefix}_confusion",
                    width="stretch")
    c2.plotly_chart(figures.per_class_change_figure(details["per_class"], details["baseline_per_class"],
                                                    details["classes"]), key=f"{prefix}_per_class", width="stretch")
    return True
