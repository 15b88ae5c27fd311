"""Training: short fine-tuning runs in the background, with live charts, Stop, and the result against the
source-only baseline.  The work happens in ``da_core.train`` on a worker thread; this page only starts jobs
and draws what they report."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pandas as pd
import streamlit as st

from da_core.errors import DAError
from da_core.train.config import TrainConfig
from pages import _ui

_ui.init_state()
st.title("Training")
_ui.pair_caption()
st.write(
    "Fine-tune the digits CNN (pretrained here on the source) on the source plus a few labelled target samples, "
    "optionally with augmentation and adversarial adaptation (DANN), and watch source and target accuracy "
    "while it trains. Runs go on in the background: switch pages freely; every run lands in the **Runs** history."
)

SESSION = st.session_state.setdefault("_train_session", uuid.uuid4().hex)
manager = _ui.job_manager()  # after the title (the page shows at once); a broken history stops here
DEFAULTS = TrainConfig()
AUG_CHOICES = ("none", "augmentation lab's pipeline", "rotation + translate + shear", "pipeline JSON")


def _w(key: str, default: Any) -> str:
    """Restore a widget's value after a page switch; returns the key."""
    _ui.remember(key, default)
    return key


def _keep(*keys: str) -> None:
    for key in keys:
        _ui.store(key)


def lab_pipeline() -> dict[str, Any] | None:
    """The pipeline the Augmentation lab's widgets hold in this session (None when the lab was not opened)."""
    try:
        from da_core.augment import editor
    except ImportError:
        return None
    memory = st.session_state.get("_widget_memory", {})
    prefix = editor.PREFIX + "_"
    state = {k: v for k, v in memory.items() if isinstance(k, str) and k.startswith(prefix)}
    state.update({k: v for k, v in st.session_state.items() if isinstance(k, str) and k.startswith(prefix)})
    if f"{editor.PREFIX}_ops" not in state:
        return None
    try:
        return editor.pipeline_from_state(state).to_dict()
    except (DAError, ValueError, TypeError):
        return None


def source_choice(upload: Any) -> dict[str, Any]:
    """``source_subset`` or ``source_weights`` from an uploaded selection CSV (rows mapped to the source by uid)."""
    if upload is None:
        return {}
    from da_core.train.config import read_selection

    selection = read_selection(upload.getvalue(), _ui.load(st.session_state["source_spec"], "source"))
    for note in selection.notes:
        st.toast(f"Selection: {note}")
    return selection.config


def _pipeline_choice(choice: str, text: str = "") -> dict[str, Any] | None:
    from da_core.train.sweep import ROTATION_AFFINE

    if choice == AUG_CHOICES[1]:
        pipeline = lab_pipeline()
        if pipeline is None:
            raise DAError("the Augmentation lab has no pipeline in this session yet; open it first, or pick another "
                          "augmentation")
        return pipeline
    if choice == AUG_CHOICES[2]:
        return ROTATION_AFFINE
    if choice == AUG_CHOICES[3]:
        try:
            return json.loads(text or "null")
        except json.JSONDecodeError as exc:
            raise DAError(f"pipeline JSON: {exc}") from None
    return None


def _config_from_widgets(with_augmentation: bool = True) -> TrainConfig:
    """The training config the form's widgets describe (read from the session state)."""
    s = st.session_state
    pipeline = _pipeline_choice(s["tr_aug"], s.get("tr_pipe_json", "")) if with_augmentation else None
    return TrainConfig.from_dict({
        "source": s["source_spec"], "target": s["target_spec"], "mode": s["tr_mode"], "optimizer": s["tr_opt"],
        "schedule": s["tr_sched"], "device": s["tr_device"], "lr": float(s["tr_lr"]),
        "backbone_lr_scale": float(s["tr_bbscale"]), "weight_decay": float(s["tr_wd"]),
        "label_smoothing": float(s["tr_ls"]), "epochs": int(s["tr_epochs"]),
        "max_steps": int(s["tr_max_steps"]) or None,
        "batch_size": int(s["tr_batch"]), "seed": int(s["tr_seed"]), "target_labels_per_class": int(s["tr_k"]),
        "target_share": float(s["tr_share"]), "dann": bool(s["tr_dann"]), "dann_weight": float(s["tr_dann_w"]),
        "pipeline": pipeline, "strength": float(s["tr_strength"]) if pipeline else None,
        **source_choice(s.get("tr_selection")),
    })


def _start_run() -> None:
    """Form callback (runs before the script, so a rerun cannot lose the click): queue the run."""
    try:
        job = manager.submit(_config_from_widgets(), SESSION, origin="page")
    except DAError as exc:
        st.session_state["train_error"] = f"**Cannot start the run.** {exc}"
        return
    st.session_state["train_job"] = job.id
    st.session_state.pop("train_error", None)


# ------------------------------------------------------------------------------------------ the form
with st.expander("Run settings", expanded=not manager.jobs(session=SESSION)):
    with st.form("train_form", border=False):
        c1, c2, c3, c4 = st.columns(4)
        c1.selectbox("Mode", ["full", "linear"], key=_w("tr_mode", DEFAULTS.mode),
                     format_func=lambda m: {"full": "full fine-tune", "linear": "linear probe"}[m],
                     help="Full: train everything, the backbone at a lower learning rate. Linear probe: train only "
                          "the head on frozen features.")
        c2.selectbox("Optimizer", ["adamw", "sgd"], key=_w("tr_opt", DEFAULTS.optimizer),
                     format_func=lambda o: {"adamw": "AdamW", "sgd": "SGD + momentum"}[o])
        c3.selectbox("Schedule", ["cosine", "step", "constant"], key=_w("tr_sched", DEFAULTS.schedule))
        c4.selectbox("Device", ["auto", "cpu", "cuda", "mps"], key=_w("tr_device", DEFAULTS.device),
                     help="auto: CUDA, then Apple MPS, then the CPU.")
        c1, c2, c3, c4 = st.columns(4)
        c1.number_input("Learning rate", 1e-6, 10.0, key=_w("tr_lr", DEFAULTS.lr), format="%.0e", step=1e-4,
                        help="Of the head; the backbone uses learning rate × backbone scale.")
        c2.number_input("Backbone LR scale", 0.0, 10.0, key=_w("tr_bbscale", DEFAULTS.backbone_lr_scale), step=0.05,
                        help="Full fine-tune only.")
        c3.number_input("Weight decay", 0.0, 1.0, key=_w("tr_wd", DEFAULTS.weight_decay), format="%.0e", step=1e-4)
        c4.number_input("Label smoothing", 0.0, 0.5, key=_w("tr_ls", DEFAULTS.label_smoothing), step=0.05)
        c1, c2, c3, c4 = st.columns(4)
        c1.number_input("Epochs", 1, 1000, key=_w("tr_epochs", DEFAULTS.epochs))
        c2.number_input("Max steps (0 = by epochs)", 0, 1_000_000, key=_w("tr_max_steps", 0),
                        help="When set, training stops after this many batches.")
        c3.number_input("Batch size", 2, 4096, key=_w("tr_batch", DEFAULTS.batch_size))
        c4.number_input("Seed", 0, 1_000_000, key=_w("tr_seed", DEFAULTS.seed))
        c1, c2, c3, c4 = st.columns(4)
        c1.number_input("Labelled target per class", 0, 1000, key=_w("tr_k", DEFAULTS.target_labels_per_class),
                        help="0 = unsupervised adaptation (target labels only for evaluation).")
        c2.slider("Target share of a batch", 0.0, 0.9, key=_w("tr_share", DEFAULTS.target_share),
                  help="Expected share of each batch drawn from the labelled target samples.")
        c3.checkbox("DANN (adversarial)", key=_w("tr_dann", DEFAULTS.dann),
                    help="A domain discriminator behind a gradient-reversal layer pushes the features to look alike "
                         "on both domains (full fine-tune only).")
        c4.number_input("DANN weight", 0.0, 10.0, key=_w("tr_dann_w", DEFAULTS.dann_weight), step=0.1)
        c1, c2, c3 = st.columns([2, 1, 2])
        c1.selectbox("Augmentation of training batches", AUG_CHOICES, key=_w("tr_aug", AUG_CHOICES[0]),
                     help="Applied on the fly to every labelled batch, on the training device.")
        c2.slider("Strength", 0.0, 1.0, key=_w("tr_strength", 0.35), step=0.05)
        c3.text_area("Pipeline JSON (for 'pipeline JSON')", key=_w("tr_pipe_json", ""), height=68)
        st.file_uploader("Source selection (optional: the Gap map's CSV, by `uid`, or a CSV with an `index` column; "
                         "a `weight` column makes importance weights)", type=["csv"], key="tr_selection")
        st.form_submit_button("Start run", type="primary", key="train_submit", on_click=_start_run)
    _keep("tr_mode", "tr_opt", "tr_sched", "tr_device", "tr_lr", "tr_bbscale", "tr_wd", "tr_ls", "tr_epochs",
          "tr_max_steps", "tr_batch", "tr_seed", "tr_k", "tr_share", "tr_dann", "tr_dann_w", "tr_aug", "tr_strength",
          "tr_pipe_json")
if st.session_state.get("train_error"):
    st.error(st.session_state["train_error"])


# ------------------------------------------------------------------------------------------ live view
def _current_job() -> Any:
    job = manager.get(st.session_state.get("train_job", ""))
    if job is None or job.session != SESSION:
        mine = [j for j in manager.jobs(session=SESSION) if j.kind == "train"]
        job = mine[0] if mine else None
    return job


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
        label = {"running": "running", "finished": "finished", "stopped": "stopped", "diverged": "diverged",
                 "failed": "failed", "queued": "queued"}.get(status, status)
        st.progress(min(max(snap["progress"], 0.0), 1.0),
                    text=f"Run #{snap['run_id']}: {label}" + (f" on {snap['info'].get('device')}"
                                                               if snap["info"].get("device") else ""))
    with head[1]:
        if not current.done:
            st.button("Stop", key="train_stop", on_click=current.stop, disabled=snap["stopping"], type="secondary",
                      help="Ends the run within one batch; its metrics are kept.", width="stretch")
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
    from da_core.train import figures

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
        if "confusion" in details:
            c1, c2 = st.columns(2)
            c1.plotly_chart(figures.confusion_figure(details["confusion"], details["classes"]), key="res_confusion",
                            width="stretch")
            c2.plotly_chart(figures.per_class_change_figure(details["per_class"], details["baseline_per_class"],
                                                            details["classes"]), key="res_per_class",
                            width="stretch")
            st.caption("Source-only baseline: the backbone with its source-trained head, before fine-tuning, on the "
                       "same held-out target samples.")
    st.page_link("pages/runs.py", label="All runs, overlays and downloads: Runs", icon=":material/history:")

# ------------------------------------------------------------------------------------------ sweep
def _start_sweep() -> None:
    """Form callback: queue a sweep of the run settings over strengths x seeds (x learning rates)."""
    from da_core.train.sweep import SweepSpec

    s = st.session_state
    try:
        pipeline = _pipeline_choice(s["sw_aug"])
        try:
            strengths = [float(v) for v in s["sw_strengths"].replace(";", ",").split(",") if v.strip()]
            lrs = [float(v) for v in s["sw_lrs"].split(",") if v.strip()] or None
        except ValueError:
            raise DAError("strengths and learning rates must be comma-separated numbers") from None
        spec = SweepSpec(_config_from_widgets(with_augmentation=False), pipeline, strengths,
                         list(range(int(s["sw_seeds"]))), lrs)
        job = manager.submit_sweep(spec, SESSION, origin="page")
    except DAError as exc:
        s["sweep_error"] = f"**Cannot start the sweep.** {exc}"
        return
    s["sweep_job"] = job.id
    s.pop("sweep_error", None)


with st.expander("Sweep augmentation strength × seeds", expanded=False):
    st.write("Train with the settings above at several augmentation strengths and seeds: target accuracy against "
             "strength shows where augmentation stops helping. Strength 0 is always included (the reference for "
             "Diversity). The charts appear on the **Runs** page.")
    with st.form("sweep_form", border=False):
        c1, c2, c3 = st.columns(3)
        c1.selectbox("Pipeline", AUG_CHOICES[1:3], key=_w("sw_aug", AUG_CHOICES[2]))
        c2.text_input("Strengths", key=_w("sw_strengths", "0, 0.25, 0.5, 0.75, 1"))
        c3.number_input("Seeds", 1, 10, key=_w("sw_seeds", 2))
        st.text_input("Learning rates (optional, comma-separated)", key=_w("sw_lrs", ""))
        st.form_submit_button("Start sweep", key="sweep_submit", on_click=_start_sweep)
    _keep("sw_aug", "sw_strengths", "sw_seeds", "sw_lrs")
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
