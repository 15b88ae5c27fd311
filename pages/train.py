"""Training: short fine-tuning runs in the background, with live charts, Stop, and the result against the
source-only baseline.  The work happens in ``da_core.train`` on a worker thread; this page only starts jobs
and draws what they report."""

from __future__ import annotations

import uuid
from typing import Any

import pandas as pd
import streamlit as st

from da_core.errors import DAError
from da_core.train import form
from da_core.train.form import parameters_line
from pages import _history, _train_form, _ui
from pages._train_form import MODE_LABELS

_ui.init_state()
st.title("Training")
_ui.pair_caption()
MODALITY = _train_form.pair_modality()
MODEL = ("the digits CNN (pretrained here on the source)" if MODALITY == "image" else
         "the MiniLM sentence encoder (a linear head on it frozen, all of it, or LoRA adapters)")
st.write(
    f"Fine-tune {MODEL} on the source plus a few labelled target samples, optionally with augmentation and "
    "adversarial adaptation (DANN), and watch source and target accuracy while it trains. Runs go on in the "
    "background: switch pages freely; every run lands in the **Runs** history."
)

SESSION = st.session_state.setdefault("_train_session", uuid.uuid4().hex)
manager = _history.job_manager()  # after the title (the page shows at once); a broken history stops here


def _start_run() -> None:
    """Form callback (runs before the script, so a rerun cannot lose the click): queue the run."""
    try:
        job = manager.submit(_train_form.run_config(), SESSION, origin="page")
    except DAError as exc:
        st.session_state["train_error"] = f"**Cannot start the run.** {exc}"
        return
    st.session_state["train_job"] = job.id
    st.session_state.pop("train_error", None)


# ------------------------------------------------------------------------------------------ the form
_train_form.selection_notice()
with st.expander("Run settings", expanded=not manager.jobs(session=SESSION)):
    _train_form.run_form(_start_run, MODALITY)
if st.session_state.get("train_error"):
    st.error(st.session_state["train_error"])


# ------------------------------------------------------------------------------------------ live view
def _current_job() -> Any:
    return manager.current(st.session_state.get("train_job"), SESSION, "train")


job = _current_job()
running = job is not None and not job.done


@st.fragment(run_every=1.0 if running else None)
def live_view() -> None:
    """Redraws the progress bar and the live charts every second while the run is active."""
    from da_core.train import figures

    current = _current_job()
    if current is None:
        st.info("No run yet in this session: set the options above and press **Start run**.")
        return
    snap = current.snapshot()
    status = snap["status"]
    head = st.columns([4, 1])
    with head[0]:
        if status == "queued":
            ahead = snap["queue_position"]
            st.warning(f"**Queued**: {ahead} run{'s' if ahead > 1 else ''} ahead of it hold{'' if ahead > 1 else 's'} "
                       "the compute slot (one run computes at a time); it starts when "
                       f"{'they end' if ahead > 1 else 'that one ends'}." if ahead else "**Queued**: starting…")
        st.progress(min(max(snap["progress"], 0.0), 1.0),
                    text=f"Run #{snap['run_id']}: {status}" + (f" on {snap['info'].get('device')}"
                                                               if snap["info"].get("device") else ""))
    with head[1]:
        if not current.done:
            st.button("Stop", key="train_stop", on_click=current.stop, disabled=snap["stopping"], type="secondary",
                      help="Ends the run within one batch; its metrics are kept.", width="stretch")
    trained = parameters_line(snap["info"].get("parameters"))
    if trained:
        st.caption(f":material/tune: {MODE_LABELS.get(snap['info'].get('mode'), '')}: {trained}.")
    for note in [*(snap["info"].get("conversions") or []), *(snap["info"].get("notes") or [])]:
        st.caption(f":material/info: {note}")  # what the run converted (image shapes) or adjusted (batch size)
    if status == "diverged":
        st.error(f"**The run diverged.** {snap['message']} The metrics up to then are kept.")
    elif status == "failed":
        st.error(f"**The run failed.** {snap['message']}")
    frame = current.metrics(snap["run_id"]) if snap["run_id"] is not None else pd.DataFrame()
    if len(frame):
        figs = figures.live_figures(frame)
        c1, c2, c3 = st.columns(3)
        c1.plotly_chart(figs["loss"], key="live_loss", width="stretch")
        c2.plotly_chart(figs["accuracy"], key="live_acc", width="stretch")
        c3.plotly_chart(figs["lr"], key="live_lr", width="stretch")
    if current.done and st.session_state.get("_train_shown") != current.id:
        st.session_state["_train_shown"] = current.id
        st.rerun(scope="app")  # stop the timer and draw the results below


st.subheader("Current run")
live_view()

# ------------------------------------------------------------------------------------------ results
if job is not None and job.done:
    snap = job.snapshot()
    final, details = snap["final"] or {}, snap["details"] or {}
    if snap["status"] in ("finished", "stopped") and final.get("target_acc") is not None:
        st.subheader("Result")
        if snap["status"] == "stopped":
            st.caption(f"Stopped early: {snap['message']}.")
        m1, m2, m3, m4 = st.columns(4)
        m1.metric("Target accuracy", f"{final['target_acc']:.1%}",
                  f"{(final['target_acc'] - final['baseline_target_acc']) * 100:+.1f} points vs source-only")
        m2.metric("Source accuracy", f"{final['source_acc']:.1%}",
                  f"{(final['source_acc'] - final['baseline_source_acc']) * 100:+.1f} points")
        m3.metric("Final training loss", f"{final['train_loss']:.3f}" if final.get("train_loss") is not None else "—")
        m4.metric("Time", f"{final['seconds']:.1f} s",
                  f"{final['samples_per_s']:.0f} samples/s" if final.get("samples_per_s") else None,
                  delta_color="off", delta_arrow="off")
        if parameters_line(details.get("parameters")):
            st.caption(f":material/tune: {parameters_line(details['parameters'])}.")
        from da_core.train.validators import validator_rows  # torch: only once a run has finished

        rows = validator_rows(final)
        if rows:
            with st.expander("Validators: how the run looks without target labels", expanded=False):
                st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
                st.caption("Scored at every evaluation on the held-out source and target (target labels only for "
                           "the oracle). *Would pick*: the evaluation where each validator is best, and the target "
                           "accuracy it really had there.")
        if _history.result_charts(details, "res"):
            st.caption("Source-only baseline: the backbone with its source-trained head, before fine-tuning, on the "
                       "same held-out target samples.")
        with st.expander("Robustness: corruptions and adversarial perturbations", expanded=False):
            if not _history.robustness_section(final, "res"):
                st.caption("Not measured for this run (it did not finish, or robustness was switched off).")
    st.page_link("pages/runs.py", label="All runs, overlays and downloads: Runs", icon=":material/history:")

# ------------------------------------------------------------------------------------------ sweep
def _start_sweep() -> None:
    """Form callback: queue a sweep of the run settings over strengths x seeds (x learning rates)."""
    s = st.session_state
    try:
        backend, ray = form.backend_choice(form.form_values(form.sweep_form(MODALITY), s))
        job = manager.submit_sweep(_train_form.sweep_spec(), SESSION, origin="page", backend=backend, ray=ray)
    except DAError as exc:
        s["sweep_error"] = f"**Cannot start the sweep.** {exc}"
        return
    s["sweep_job"] = job.id
    s.pop("sweep_error", None)


with st.expander("Sweep augmentation strength × seeds", expanded=False):
    st.write("Train with the settings above at several augmentation strengths and seeds: target accuracy against "
             "strength shows where augmentation stops helping. Strength 0 is always included (the reference for "
             "Diversity). The charts appear on the **Runs** page.")
    _train_form.sweep_form(_start_sweep, MODALITY)
    if st.session_state.get("sweep_error"):
        st.error(st.session_state["sweep_error"])

sweep_job = manager.get(st.session_state.get("sweep_job", ""))


@st.fragment(run_every=2.0 if sweep_job is not None and not sweep_job.done else None)
def sweep_view() -> None:
    """Progress of this session's sweep, redrawn every two seconds while it runs."""
    current = manager.get(st.session_state.get("sweep_job", ""))
    if current is None or current.session != SESSION:
        return
    snap = current.snapshot()
    if not current.done:
        cols = st.columns([4, 1])
        where = f" (queued: {snap['queue_position']} ahead)" if snap["status"] == "queued" else ""
        cols[0].progress(min(snap["progress"], 1.0), text=f"Sweep #{snap['sweep_id']}{where}: {snap['message']}")
        cols[1].button("Stop sweep", key="sweep_stop", on_click=current.stop, width="stretch",
                       disabled=snap["stopping"])
        return
    result = snap["result"] or {}
    best = result.get("best_strength")
    st.success(f"Sweep #{snap['sweep_id']} {snap['status']}" + (f": best strength {best:g}" if best is not None else "")
               + (f" ({snap['message']})" if snap["message"] else "") + ". Its charts are on the Runs page.")
    if st.session_state.get("_sweep_shown") != current.id:
        st.session_state["_sweep_shown"] = current.id
        st.rerun(scope="app")


sweep_view()
