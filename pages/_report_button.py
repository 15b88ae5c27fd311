"""The "Download report (HTML)" button of a stored study, on the Study and Runs pages.

The report (:func:`da_core.report.build_report`: one self-contained HTML file that opens offline) is built when
the button is clicked, not when the page draws, and kept per study and number of finished runs, so a second
click on an unchanged study downloads at once.
"""

from __future__ import annotations

import html
from typing import Any

import streamlit as st


@st.cache_data(show_spinner=False, max_entries=4)
def _report_html(study_id: int, runs_done: int, status: str, newest_group: int) -> str:
    """The report of a study (the cache key holds its finished runs, its status and the history's newest group,
    since the report shows the pair's newest sweep: a study that moved on, or a new sweep, builds it again)."""
    from da_core.report import build_report
    from da_core.train.store import get_store

    return build_report(study_id, get_store())


def _html_or_why(study_id: int, runs_done: int, status: str, newest_group: int) -> str:
    """The report, or (when the history changed under it) a one-paragraph page saying why there is none."""
    from da_core.errors import DAError

    try:
        return _report_html(study_id, runs_done, status, newest_group)
    except DAError as exc:
        return (f"<!DOCTYPE html><meta charset=\"utf-8\"><title>No report</title><p>The report of study #{study_id} "
                f"could not be built: {html.escape(str(exc))}</p>")


def study_of(run: Any) -> int | None:
    """The id of the study a run belongs to (None for a run of no study)."""
    study = ((getattr(run, "config", None) or {}).get("extra") or {}).get("study")
    return int(study["id"]) if isinstance(study, dict) and isinstance(study.get("id"), int) else None


def report_button(study_id: int | None, key: str) -> None:
    """The download button of study ``study_id``'s report (nothing for None, or an id that is not a study);
    disabled while the study runs or before any of its runs finished."""
    from da_core.errors import StoreError
    from da_core.train.store import get_store

    if study_id is None:
        return
    try:
        study = get_store().get_sweep(int(study_id))
    except StoreError:
        return  # the page that calls this says what is wrong with the history
    if study is None or study.kind != "study":
        return
    runs_done = int((study.result or {}).get("runs_done") or 0)
    active = study.status in ("queued", "running")
    why = ("The study is still running: its report is ready when it ends." if active else
           "No run of this study has finished yet." if not runs_done else
           "One HTML file that opens offline: the pair, its gap metrics, the sweet spot, a sweep of the pair, the "
           "selection, the arms with intervals, the figures and map, the validators, and the commands that rerun "
           "it. It is built when you click (the gap metrics take a few seconds).")
    status = study.status
    newest = max((g.id for g in get_store().list_sweeps(limit=1, kind=None)), default=0)
    st.download_button("Download report (HTML)", lambda: _html_or_why(int(study_id), runs_done, status, newest),
                       file_name=f"study-{study_id}-report.html", mime="text/html", key=key, width="stretch",
                       disabled=active or not runs_done, help=why, icon=":material/description:")
