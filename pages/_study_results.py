"""The Study page's results: progress per arm, a study's headline (recommendation, table, figures, map),
downloads, and the saved studies (reopen, resume, compare, delete).  The numbers come from a stored study
result (``da_core.study.StudyResult.to_dict``); the figures from ``da_core.study.figures``."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from da_core.errors import DAError, StoreError
from da_core.jsonio import dumps
from pages._report_button import report_button

OPEN, COMPARE = "study_open", "study_compare"


def arm_progress(result: dict[str, Any]) -> None:
    """Runs finished per arm, out of each arm's runs in the study (every cell × seed)."""
    plan = result.get("plan") or {}
    records = result.get("records") or []
    if not plan or not records:
        st.caption("Setting up: the source pools, the selection and the augmentation strength, once for the study.")
        return
    per_arm = max(plan["runs_per_arm"], 1)
    cols = st.columns(min(len(plan["arms"]), 6))
    for i, arm in enumerate(plan["arms"]):
        done = sum(1 for r in records if r["arm"] == arm and r["status"] == "finished")
        cols[i % len(cols)].progress(min(done / per_arm, 1.0), text=f"{arm}: {done} of {per_arm}")


def arms_table(arms: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per arm: mean target accuracy with its interval, the paired gain over source only, gap and time
    (the rows of :func:`da_core.study.analysis.arm_rows`, which the study's report shows too)."""
    from da_core.study.analysis import arm_rows

    return pd.DataFrame(arm_rows(arms))


def headline(result: dict[str, Any], key: str) -> None:
    """The recommendation, the table and the figures of a study result (and the map when it has a grid)."""
    from da_core.study import figures

    arms = result.get("arms") or []
    if result.get("recommendation"):
        st.success(result["recommendation"], icon=":material/recommend:")
    setup = result.get("setup") or {}
    notes = [f"Augmentation: {setup['strength_note']}." if setup.get("strength_note") else None]
    for share, sel in (setup.get("selections") or {}).items():
        notes.append(f"Selection on {float(share):.0%} of the source: kept {sel['n_selected']} of {sel['n_pool']} "
                     f"({sel['method']}); input-space MMD² to the target {sel['gap_before']:.3f} → "
                     f"{sel['gap_after']:.3f} (random subsets of that size: {sel['random_gap']:.3f}).")
    for note in [n for n in notes if n] + list(setup.get("notes") or []):
        st.caption(f":material/info: {note}")
    main = result.get("main_cell") or {}
    if result.get("cells"):
        st.caption(f"The table and recommendation are for the cell k = {main.get('k')}, "
                   f"{main.get('source_share', 1):.0%} of the source.")
    st.dataframe(arms_table(arms), hide_index=True, width="stretch", column_config={
        "target accuracy": st.column_config.NumberColumn(format="percent"),
        "feature MMD²": st.column_config.NumberColumn(format="%.3f"),
        "s per run": st.column_config.NumberColumn(format="%.1f")})
    order = [a["name"] for a in arms]
    c1, c2 = st.columns(2)
    c1.plotly_chart(figures.accuracy_figure(arms, order), key=f"{key}_acc", width="stretch")
    c2.plotly_chart(figures.paired_figure(arms), key=f"{key}_paired", width="stretch")
    st.plotly_chart(figures.cost_figure(arms, order), key=f"{key}_cost", width="stretch")
    if result.get("cells"):
        st.subheader("When does each win")
        titles = {a["name"]: a["title"] for c in result["cells"] for a in c["arms"]}
        st.plotly_chart(figures.map_figure(result["cells"], order, titles), key=f"{key}_map", width="stretch")
        for line in result.get("map_summary") or []:
            st.markdown(f"- {line}")


def _records_csv(result: dict[str, Any]) -> bytes:
    return pd.DataFrame(result.get("records") or []).to_csv(index=False).encode()


def saved_studies(manager: Any, session: str) -> None:
    """The studies in the history: reopen one (its results and downloads), resume, delete; compare several."""
    from da_core.study import figures

    store = manager.store
    try:
        studies = store.list_sweeps(limit=100, kind="study")
    except StoreError as exc:
        st.error(f"**The saved studies cannot be read.** {exc}.")
        return
    st.subheader("Saved studies")
    if not studies:
        st.info("No study yet: set one up above and press **Start study**, or run `python -m da_core compare`.")
        return
    # no status in the label: it changes while a study runs, and a widget's options should not
    labels = {s.id: f"#{s.id} {s.config.get('name') or ''} · {len(s.config.get('arms') or [])} arms × "
                    f"{len(s.config.get('seeds') or [])} seeds{' · grid' if s.config.get('ks') else ''} · "
                    f"{pd.Timestamp(s.created, unit='s'):%Y-%m-%d %H:%M}" for s in studies}
    ids = list(labels)
    if st.session_state.get(OPEN) not in ids:
        st.session_state[OPEN] = ids[0]
    chosen = st.selectbox("Open a study", ids, key=OPEN, format_func=labels.get)
    study = next(s for s in studies if s.id == chosen)
    result = study.result or {}
    st.caption(f"Study #{study.id} **{study.status}**" + (f": {study.message}" if study.message else "") + ".")
    active = any(j.sweep_id == study.id and not j.done for j in manager.jobs())
    if active:
        st.caption("This study is running: its results fill in above as its runs finish.")
    elif result.get("arms"):
        headline(result, key="saved")
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.download_button("Runs (CSV)", _records_csv(result), f"study-{study.id}.csv", "text/csv",
                       key="study_csv", width="stretch", disabled=not result.get("records"))
    c2.download_button("Study (JSON)", dumps({"config": study.config, "result": result}, indent=1).encode(),
                       f"study-{study.id}.json", "application/json", key="study_json", width="stretch")
    with c3:
        report_button(study.id, key="study_report")
    c4.button("Resume", key="study_resume", on_click=_resume, args=(manager, study, session), width="stretch",
              disabled=active or study.status not in ("stopped", "interrupted", "failed") or store.readonly,
              help="Runs only what is missing; finished runs are kept.")
    c5.button("Delete with its runs", key="study_delete", on_click=_delete, args=(store, study.id), width="stretch",
              disabled=active or store.readonly)
    if st.session_state.get("study_msg"):
        st.info(st.session_state.pop("study_msg"))
    others = [s for s in studies if s.result and s.result.get("arms")]
    if len(others) >= 2:
        picked = st.multiselect("Compare studies", [s.id for s in others], key=COMPARE,
                                format_func=labels.get, max_selections=6)
        if len(picked) >= 2:
            chosen_results = [(labels[i], next(s for s in others if s.id == i).result["arms"]) for i in picked]
            st.plotly_chart(figures.studies_figure(chosen_results), key="study_compare_fig", width="stretch")


def _resume(manager: Any, study: Any, session: str) -> None:
    """Button callback: queue the stored study again; only its missing runs train."""
    from da_core.study import StudySpec

    try:
        spec = StudySpec.from_dict(study.config)
        job = manager.submit_study(spec, session, origin="page", study_id=study.id)
    except DAError as exc:
        st.session_state["study_msg"] = f"Cannot resume study #{study.id}: {exc}"
        return
    st.session_state["study_job"] = job.id


def _delete(store: Any, study_id: int) -> None:
    """Button callback: delete the study and its runs."""
    try:
        gone = store.delete_sweep(study_id)
    except StoreError as exc:
        st.session_state["study_msg"] = f"Nothing was deleted: {exc}."
        return
    st.session_state["study_msg"] = f"Deleted study #{study_id} and its runs." if gone else "Nothing was deleted."
    st.session_state.pop(OPEN, None)

