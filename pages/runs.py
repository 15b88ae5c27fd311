"""Runs: the history of every fine-tuning run (page and command line), overlays, downloads, and sweeps."""

from __future__ import annotations

import json

import streamlit as st

from pages import _history, _report_button, _ui

_ui.init_state()
st.title("Runs")
st.write("Every run, from this page or `python -m da_core train`, with its settings and results. Pick runs to "
         "overlay their curves, download their metrics, or delete them. Sweeps are at the bottom.")

from da_core.errors import StoreError  # noqa: E402
from da_core.train import figures  # noqa: E402
from da_core.train.store import STATUSES  # noqa: E402
from da_core.train.sweep import peak  # noqa: E402

manager = _history.job_manager()  # also marks runs left active by a stopped server as interrupted
store = manager.store
READ_ONLY = "The run history is read-only: nothing can be deleted." if store.readonly else None
# The keys of the widgets the delete callbacks read or reset (the other widgets' keys appear once, in their call).
CHOSEN, DOOMED, SURE, SWEEP = "runs_chosen", "runs_delete", "runs_delete_sure", "runs_sweep"


def _delete_runs() -> None:
    """Button callback (runs before the script): delete the chosen runs, keep a message for the next run."""
    doomed = [int(i) for i in st.session_state.get(DOOMED, [])]
    try:
        gone = store.delete_runs(doomed)
    except StoreError as exc:
        st.session_state["runs_store_error"] = f"**Nothing was deleted.** {exc}."
        return
    skipped = len(doomed) - gone
    st.session_state["runs_deleted_msg"] = (f"Deleted {gone} runs." + (f" {skipped} still active were kept (stop "
                                            "them first)." if skipped else ""))
    for key in (DOOMED, SURE, CHOSEN):
        st.session_state.pop(key, None)


def _delete_sweep() -> None:
    """Button callback: delete the selected sweep and its runs."""
    try:
        store.delete_sweep(int(st.session_state[SWEEP]))
    except StoreError as exc:
        st.session_state["runs_store_error"] = f"**Nothing was deleted.** {exc}."
        return
    st.session_state.pop(SWEEP, None)


if st.session_state.get("runs_store_error"):
    st.error(st.session_state.pop("runs_store_error"))


def history() -> None:
    """Filters, the runs table, overlays, details and delete (every store read may raise StoreError)."""
    # -------------------------------------------------------------------------------------- filters
    c1, c2, c3, c4 = st.columns([2, 1, 2, 1])
    statuses = c1.multiselect("Status", list(STATUSES), key="runs_status", placeholder="any status")
    origin = c2.selectbox("Started from", ["any", "page", "cli", "api"], key="runs_origin")
    text = c3.text_input("Search name, settings or message", key="runs_text", placeholder="e.g. dann or corrupted")
    with_sweeps = c4.checkbox("Sweep and study runs", value=False, key="runs_with_sweeps",
                              help="Include the runs of sweeps and studies (a study shows its own on the Study page).")
    table = store.runs_frame(status=statuses or None, origin=None if origin == "any" else origin, text=text or None,
                             include_sweeps=with_sweeps)
    if table.empty:
        st.info("No runs match. Start one on the **Training** page or with `python -m da_core train`.")
    else:
        st.dataframe(table, hide_index=True, width="stretch", column_config={
            "target_acc": st.column_config.NumberColumn("target acc", format="%.3f"),
            "source_acc": st.column_config.NumberColumn("source acc", format="%.3f"),
            "baseline_target_acc": st.column_config.NumberColumn("baseline target", format="%.3f"),
            "train_loss": st.column_config.NumberColumn("train loss", format="%.4f"),
            "seconds": st.column_config.NumberColumn(format="%.1f"),
            "lr": st.column_config.NumberColumn(format="%.0e"),
            "created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
        })
        st.download_button("Download this table (CSV)", table.to_csv(index=False), file_name="runs.csv",
                           mime="text/csv")

        # -------------------------------------------------------------------------------------- overlay
        st.subheader("Compare runs")
        ids = table["id"].tolist()
        labels = {int(r.id): r.label for r in store.list_runs(include_sweeps=with_sweeps) if r.id in set(ids)}
        default = [i for i in ids if table.loc[table["id"] == i, "status"].iloc[0] != "failed"][:3]
        chosen = st.multiselect("Runs", ids, default=default, key=CHOSEN,
                                format_func=lambda i: labels.get(int(i), f"#{i}"))
        c1, c2 = st.columns([2, 1])
        metric = c1.selectbox("Metric", ["target_acc", "source_acc", "train_loss", "train_acc", "domain_loss", "lr",
                                         "throughput"], key="runs_metric",
                              format_func=lambda m: figures.METRIC_LABELS.get(m, m))
        smoothing = c2.slider("Smoothing", 0.0, 0.95, 0.0, 0.05, key="runs_smooth")
        if chosen:
            frame = store.metrics([int(i) for i in chosen])
            if frame[frame["name"] == metric].empty:
                st.info(f"None of the chosen runs logged {figures.METRIC_LABELS.get(metric, metric)}.")
            else:
                st.plotly_chart(figures.overlay_figure(frame, metric, labels, smoothing), key="runs_overlay",
                                width="stretch")
            st.download_button(f"Download metrics of {len(chosen)} runs (CSV)", frame.to_csv(index=False),
                               file_name="run-metrics.csv", mime="text/csv", key="runs_csv")

            # ---------------------------------------------------------------------------------- details
            detail_id = st.selectbox("Details of run", chosen, key="runs_detail",
                                     format_func=lambda i: labels.get(int(i), f"#{i}"))
            run = store.get_run(int(detail_id))
            if run is not None:
                if run.message:
                    (st.error if run.status in ("failed", "diverged") else st.info)(f"**{run.status}**: {run.message}")
                _history.result_charts(run.details or {}, "runs")
                if (run.final or {}).get("robustness"):
                    with st.expander("Robustness: corruptions and adversarial perturbations"):
                        _history.robustness_section(run.final or {}, "runs")
                if run.id in store.has_films([run.id]) and st.toggle(
                        "Training film: the domains at each evaluation", key="runs_film",
                        help="A map of the held-out samples per evaluation, laid out when you turn this on."):
                    _history.film_section(store, run.id, (run.details or {}).get("classes"), "runs")
                with st.expander("Settings and final metrics (JSON)"):
                    st.json({"config": run.config, "final": run.final}, expanded=False)
                st.download_button("Download settings (JSON)", json.dumps(run.config, indent=2),
                                   file_name=f"run-{run.id}-config.json", mime="application/json", key="runs_cfg",
                                   help="Use it with `python -m da_core train --config FILE` to repeat the run.")
                _report_button.report_button(_report_button.study_of(run), key="runs_report")  # a study's run

        # -------------------------------------------------------------------------------------- delete
        with st.expander("Delete runs"):
            doomed = st.multiselect("Runs to delete", ids, key=DOOMED,
                                    format_func=lambda i: labels.get(int(i), f"#{i}"))
            sure = st.checkbox("Yes, delete them and their metrics", key=SURE)
            st.button("Delete", key="runs_delete_go", disabled=not (doomed and sure) or store.readonly,
                      on_click=_delete_runs, help=READ_ONLY)
    msg = st.session_state.pop("runs_deleted_msg", None)
    if msg:
        st.success(msg)


# ------------------------------------------------------------------------------------------ sweeps
def sweeps_section() -> None:
    """The sweeps: pick one, see its strength and Affinity–Diversity charts, download or delete it."""
    st.subheader("Sweeps")
    sweeps = store.list_sweeps(limit=50)
    if not sweeps:
        st.info("No sweeps yet. Start one on the **Training** page or with `python -m da_core sweep`.")
    else:
        def _sweep_label(sweep_id: int) -> str:
            s = next(x for x in sweeps if x.id == sweep_id)
            strengths = s.config.get("strengths", [])
            return (f"#{s.id} {s.status} · {len(strengths)} strengths × {len(s.config.get('seeds', []))} seeds"
                    + (f" · best s={s.result['best_strength']:g}" if s.result and s.result.get("best_strength")
                       is not None else ""))

        sweep_id = st.selectbox("Sweep", [s.id for s in sweeps], key=SWEEP, format_func=_sweep_label)
        sweep = store.get_sweep(int(sweep_id))
        result = (sweep.result if sweep is not None else None) or {}
        if sweep is not None and sweep.status in ("queued", "running"):
            st.info("This sweep is still running; its charts appear when it ends.")
        elif result.get("summary"):
            c1, c2 = st.columns(2)
            c1.plotly_chart(figures.sweep_strength_figure(result["summary"], result.get("results", [])),
                            key="sweep_strength", width="stretch")
            c2.plotly_chart(figures.affinity_diversity_figure(result["summary"]), key="sweep_plane", width="stretch")
            if any(row.get("adv_acc") is not None for row in result["summary"]):
                st.plotly_chart(figures.sweep_robustness_figure(result["summary"]), key="sweep_robust",
                                width="stretch")
            top = peak(result)
            if top is not None:
                st.caption(f"Target accuracy peaks at strength {top.strength:g} ({top.target_acc:.1%}); at the highest "
                           f"strength it is {top.at_highest:.1%} ({top.change * 100:+.1f} points). Diversity: final "
                           "training loss with augmentation ÷ without (same seed); Affinity: a source-trained model's "
                           "accuracy on augmented ÷ clean held-out source.")
            st.dataframe(result["summary"], width="stretch", hide_index=True)
            st.download_button("Download sweep results (JSON)", json.dumps(result, indent=2),
                               file_name=f"sweep-{sweep_id}.json", mime="application/json", key="sweep_json")
            with st.expander("Pipeline and base settings"):
                st.json(sweep.config if sweep is not None else {}, expanded=False)
        elif sweep is not None:
            st.warning(f"Sweep #{sweep.id} {sweep.status} without results. {sweep.message}")
        if sweep is not None and sweep.status not in ("queued", "running"):
            st.button("Delete this sweep and its runs", key="sweep_delete", on_click=_delete_sweep,
                      disabled=store.readonly, help=READ_ONLY)


try:
    history()
    sweeps_section()
except StoreError as exc:  # the file was damaged or became unreadable while the app ran
    _history.store_error(exc)
