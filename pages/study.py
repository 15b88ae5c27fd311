"""Study: does selecting source data, augmenting, both, or DANN close the gap more on this pair — arms × seeds at
equal budget, paired seed by seed, with a recommendation from the numbers and (optionally) the map of when each
wins.  The work happens in ``da_core.study`` on a background worker; this page lays out the form and draws what
the study reports."""

from __future__ import annotations

import uuid

import streamlit as st

from da_core.errors import DAError
from pages import _history, _study_results, _train_form, _ui

_ui.init_state()
st.title("Study")
_ui.pair_caption()
st.write(
    "Compare the approaches on **your** pair: every arm trains the same number of steps, is scored on the same "
    "held-out target samples, and runs with the same seeds, so each arm is compared with source only seed by "
    "seed. The recommendation is written from the measured numbers; with the grid on, the map shows which arm "
    "wins with few or many labelled target samples, and with all or a fifth of the source."
)
source, target, alignment = _ui.load_pair()
TEXT = source.modality == "text"

from da_core.augment import editor  # noqa: E402  (after the pair: errors first)
from da_core.study import ARMS, estimate_seconds  # noqa: E402
from da_core.study import form as study_form  # noqa: E402
from da_core.train.config import AUGMENT_ON, EPS_WORDS  # noqa: E402
from da_core.train.form import backend_choice  # noqa: E402

F = study_form.STUDY_FORM
SESSION = st.session_state.setdefault("_study_session", uuid.uuid4().hex)
manager = _history.job_manager()
for field in F.values():
    _ui.remember(field.key, field.default)
selection = study_form.selection_from_state(_ui.memory(), st.session_state, modality=source.modality)
lab = editor.pipeline_in(_ui.memory(), st.session_state, **({"prefix": editor.TEXT_PREFIX} if TEXT else {}))

# ------------------------------------------------------------------------------------------ the form
with st.expander("Study settings", expanded=not manager.jobs(session=SESSION)):
    c1, c2 = st.columns([3, 1])
    c1.multiselect("Arms", list(ARMS), key=F["arms"].key, format_func=lambda a: ARMS[a].label,
                   help="\n\n".join(f"**{a.label}**: {a.summary}" for a in ARMS.values())
                   + "\n\nSource only always runs: every other arm is compared with it.")
    c2.text_input("Name", key=F["name"].key, placeholder="optional")
    c1, c2, c3 = st.columns(3)
    c1.number_input("Seeds", 1, 20, key=F["seeds"].key, help="Every arm runs with each seed (0, 1, …).")
    if TEXT:
        c2.number_input("Steps per run (the budget)", 1, 100_000, key=F["steps"].key,
                        help="Every arm trains this many batches (MiniLM fine-tuned in full: about 1 s a step on 2 "
                             "CPU cores).")
    else:
        c2.number_input("Epochs (the budget)", 1, 100, key=F["epochs"].key,
                        help="Every arm trains this many passes' worth of steps over the whole source split.")
    c3.number_input("Labelled target per class", 0, 1000, key=F["k"].key)
    st.caption(f"**Selection:** {selection.describe()}. Change it on the Selection page.")
    c1, c2, c3, c4 = st.columns(4)
    c1.selectbox("Pipeline", [study_form.DEFAULT_PIPELINE, study_form.LAB_PIPELINE], key=F["pipeline"].key,
                 help="The augmenting arms' pipeline: the lab's default, or the one you built in the lab.")
    c2.radio("Strength", [study_form.SWEET_SPOT, study_form.FIXED], key=F["strength_mode"].key,
             help="The sweet spot is measured when the study starts, as the lab measures it (5–10 s).")
    c3.number_input("Fixed strength", 0.0, 1.0, key=F["strength"].key, step=0.05,
                    disabled=st.session_state.get(F["strength_mode"].key) == study_form.SWEET_SPOT)
    c4.selectbox("Augment", AUGMENT_ON, key=F["augment_on"].key,
                 format_func=lambda w: {"both": "source + labelled target", "source": "the source only",
                                        "target": "the labelled target only"}[w])
    if "adversarial" in (st.session_state.get(F["arms"].key) or []):
        st.slider("Adversarial arm's strength", 0.05, 1.0, key=F["adv_strength"].key, step=0.05,
                  help="Its ε = strength × " + EPS_WORDS.get(source.modality, EPS_WORDS["image"]) + ".")
    st.toggle("The map: run every arm over a grid", key=F["grid"].key,
              help="Labelled target samples per class × share of the source pool; each cell runs every arm.")
    if st.session_state.get(F["grid"].key):
        c1, c2, c3 = st.columns(3)
        c1.text_input("Labelled target per class (k)", key=F["ks"].key)
        c2.text_input("Source shares", key=F["shares"].key, help="1 = all of the source; 0.2 = a random fifth.")
        c3.number_input("Seeds per cell", 1, 10, key=F["grid_seeds"].key)
        st.caption(f"To keep the map short the grid runs fewer seeds than a single study and evaluates once per "
                   f"epoch ({study_form.GRID_EVALS}); runs already finished are kept when it is stopped and resumed.")
    _train_form.backend_widgets(F)
    try:
        spec = study_form.study_spec(study_form.form_values(st.session_state), st.session_state["source_spec"],
                                     st.session_state["target_spec"], selection, lab.to_dict() if lab else None,
                                     source.modality)
    except DAError as exc:
        spec = None
        st.error(f"**These settings cannot make a study.** {exc}")
    if spec is not None:
        seconds, basis = estimate_seconds(spec, manager.store, len(source))
        cells = len(spec.cells())
        st.info(f"**{spec.run_count()} runs** ({len(spec.arms)} arms × {len(spec.seeds)} seeds"
                + (f" × {cells} cells" if spec.is_grid else "") + "). "
                + (f"About **{seconds / 60:.1f} min**, {basis}." if seconds else f"No estimate yet: {basis}."),
                icon=":material/timer:")


def _start() -> None:
    """Button callback (before the script reruns): queue the study."""
    try:
        backend, ray = backend_choice(study_form.form_values(st.session_state))
        job = manager.submit_study(spec, SESSION, origin="page", backend=backend, ray=ray)
    except DAError as exc:
        st.session_state["study_error"] = f"**Cannot start the study.** {exc}"
        return
    st.session_state["study_job"] = job.id
    st.session_state["study_open"] = job.sweep_id
    st.session_state.pop("study_error", None)


st.button("Start study", type="primary", key="study_start", on_click=_start, disabled=spec is None,
          icon=":material/science:")
if st.session_state.get("study_error"):
    st.error(st.session_state["study_error"])


# ------------------------------------------------------------------------------------------ live view
def _current() -> object:
    return manager.current(st.session_state.get("study_job"), SESSION, "study")


job = _current()


@st.fragment(run_every=2.0 if job is not None and not job.done else None)
def live_view() -> None:
    """Progress per arm and the results so far, redrawn every two seconds while the study runs."""
    current = _current()
    if current is None:
        return
    snap = current.snapshot()
    result = snap["result"] or {}
    st.subheader(f"Study #{snap['sweep_id']}: {snap['status']}")
    if not current.done:
        c1, c2 = st.columns([5, 1])
        where = f" (queued: {snap['queue_position']} ahead)" if snap["status"] == "queued" else ""
        c1.progress(min(max(snap["progress"], 0.0), 1.0), text=f"{snap['message'] or 'starting…'}{where}")
        c2.button("Stop", key="study_stop", on_click=current.stop, disabled=snap["stopping"], width="stretch",
                  help="Ends the current run within one batch; finished runs are kept, and Resume goes on.")
        _study_results.arm_progress(result)
        if result.get("arms"):
            _study_results.headline(result, key="live")
    elif snap["status"] == "failed":
        st.error(f"**The study failed.** {snap['message']}")
    else:
        st.caption("Its results are under **Saved studies** below" + (f" ({snap['message']})." if snap["message"]
                                                                       else "."))
    if current.done and st.session_state.get("_study_shown") != current.id:
        st.session_state["_study_shown"] = current.id
        st.rerun(scope="app")


live_view()

# ------------------------------------------------------------------------------------------ saved studies
st.divider()
_study_results.saved_studies(manager, SESSION)
