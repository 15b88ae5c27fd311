"""Tuning: an Optuna search over the Training page's run settings, judged by a validator instead of target labels,
with the live optimisation history, parallel coordinates, parameter importance and slices, and, when the target
has labels, how far each validator agreed with the truth.  The work happens in ``da_core.tune`` on a background
worker; this page lays out the form and draws what the search reports."""

from __future__ import annotations

import uuid

import pandas as pd
import streamlit as st

from da_core.errors import DAError
from pages import _history, _train_form, _ui

_ui.init_state()
st.title("Tuning")
_ui.pair_caption()
st.write(
    "Search the run settings with Optuna and pick by a **validator**, a score computed without target labels: "
    "source accuracy, IWV and DEV (importance-weighted source accuracy), prediction entropy, information "
    "maximisation (IM) or SND. Every trial is a run in the **Runs** history; a pruner stops poor trials at their "
    "evaluations. When the target has labels, the table at the end says how far each validator could be trusted."
)

from da_core.train.form import backend_choice, form_values  # noqa: E402
from da_core.train.validators import validators  # noqa: E402  (after the title: the page shows at once)
from da_core.tune import PRUNERS, SAMPLERS, TuneSpec, default_space  # noqa: E402
from da_core.tune.form import TUNE_FORM  # noqa: E402
from da_core.tune.runner import CV_VALIDATORS  # noqa: E402

SESSION = st.session_state.setdefault("_tune_session", uuid.uuid4().hex)
manager = _history.job_manager()
try:
    base = _train_form.run_config()
except DAError as exc:
    st.error(f"**The Training page's settings cannot make a run.** {exc}")
    st.stop()
space = default_space(base)
VALIDATORS = validators()

# ------------------------------------------------------------------------------------------ the form
with st.expander("Search settings", expanded=not manager.jobs(session=SESSION)):
    st.caption(f"Around the Training page's run settings ({base.backbone}, {base.mode}; "
               f"{base.max_steps or base.epochs} {'steps' if base.max_steps else 'epochs'} per trial).")
    _ui.remember("tu_options", list(space))
    chosen = st.multiselect("Options to tune", list(space), key="tu_options")
    dims = {}
    for name in chosen:
        dim = space[name]
        c1, c2, c3 = st.columns([2, 2, 1])
        if dim.choices is not None:
            _ui.remember(f"tu_{name}_choices", ", ".join(str(v) for v in dim.choices))
            text = c1.text_input(f"{name}: values", key=f"tu_{name}_choices")
            dims[name] = {"choices": [type(dim.choices[0])(float(v)) for v in text.split(",") if v.strip()]}
            continue
        _ui.remember(f"tu_{name}_low", float(dim.low))
        _ui.remember(f"tu_{name}_high", float(dim.high))
        low = c1.number_input(f"{name}: low", key=f"tu_{name}_low", format="%.2e" if dim.log else "%.3f")
        high = c2.number_input(f"{name}: high", key=f"tu_{name}_high", format="%.2e" if dim.log else "%.3f")
        c3.caption("log axis" if dim.log else "linear axis")
        dims[name] = {"low": low, "high": high, **({"log": True} if dim.log else {})}
    c1, c2, c3, c4, c5 = st.columns(5)
    _ui.remember("tu_validator", "im")
    c1.selectbox("Validator", list(VALIDATORS), key="tu_validator",
                 format_func=lambda v: VALIDATORS[v].label,
                 help="\n\n".join(f"**{v.label}**: {v.summary}" for v in VALIDATORS.values()))
    _ui.remember("tu_sampler", "tpe")
    c2.selectbox("Sampler", SAMPLERS, key="tu_sampler", format_func=lambda s: {"tpe": "TPE", "grid": "grid",
                                                                               "random": "random"}[s])
    _ui.remember("tu_pruner", "median")
    c3.selectbox("Pruner", PRUNERS, key="tu_pruner",
                 format_func=lambda p: {"median": "median", "halving": "successive halving", "none": "none"}[p])
    _ui.remember("tu_trials", 12)
    c4.number_input("Trials", 1, 1000, key="tu_trials")
    _ui.remember("tu_minutes", 0.0)
    c5.number_input("Minutes (0 = no limit)", 0.0, 1440.0, key="tu_minutes", step=1.0)
    _ui.remember("tu_cv", 0)
    cv_ok = st.session_state["tu_validator"] in CV_VALIDATORS
    st.number_input("Cross-validation folds on the source (0 = off)", 0, 20, key="tu_cv", disabled=not cv_ok,
                    help="Source accuracy and IWV read the held-out source: with K folds each trial trains K runs, "
                         "each holding out one fold, and is scored by their mean.")
    if VALIDATORS[st.session_state["tu_validator"]].oracle:
        st.warning("Tuning on target accuracy uses the target's labels: fine as a reference, not as a recipe.")
    for field in TUNE_FORM.values():
        _ui.remember(field.key, field.default)
    _train_form.backend_widgets(TUNE_FORM)  # Ray: the search through Ray Tune (no cross-validation there)
    _ui.store("tu_options", "tu_validator", "tu_sampler", "tu_pruner", "tu_trials", "tu_minutes", "tu_cv",
              *(field.key for field in TUNE_FORM.values()),
              *(f"tu_{n}_{part}" for n in chosen for part in (("choices",) if space[n].choices else ("low", "high"))))


def _start() -> None:
    """Button callback (before the script reruns): queue the search."""
    from da_core.tune import parse_space

    s = st.session_state
    try:
        spec = TuneSpec(base, parse_space(dims) if dims else None, s["tu_validator"], s["tu_sampler"],
                        s["tu_pruner"], int(s["tu_trials"]), float(s["tu_minutes"]) or None,
                        cv_folds=int(s["tu_cv"]) if s["tu_validator"] in CV_VALIDATORS else 0)
        backend, ray = backend_choice(form_values(TUNE_FORM, s))
        job = manager.submit_tune(spec, SESSION, backend=backend, ray=ray)
    except (DAError, ValueError) as exc:
        s["tune_error"] = f"**Cannot start the search.** {exc}"
        return
    s["tune_job"] = job.id
    s.pop("tune_error", None)


st.button("Start search", type="primary", key="tune_start", on_click=_start, icon=":material/tune:")
if st.session_state.get("tune_error"):
    st.error(st.session_state["tune_error"])

job = manager.current(st.session_state.get("tune_job"), SESSION, "tune")


@st.fragment(run_every=2.0 if job is not None and not job.done else None)
def live_view() -> None:
    """Progress, trials and Optuna's figures, redrawn every two seconds while the search runs."""
    from da_core.tune.figures import agreement_rows, search_figures, trial_rows

    current = manager.current(st.session_state.get("tune_job"), SESSION, "tune")
    if current is None:
        return
    snap = current.snapshot()
    result, validator = snap["result"] or {}, current.config["validator"]
    st.subheader(f"Search #{snap['sweep_id']}: {snap['status']}")
    if not current.done:
        c1, c2 = st.columns([4, 1])
        c1.progress(min(max(snap["progress"], 0.0), 1.0), text=snap["message"] or "starting…")
        c2.button("Stop", key="tune_stop", on_click=current.stop, disabled=snap["stopping"], width="stretch",
                  help="Ends the current trial within one batch; the finished ones are kept.")
    rows = trial_rows(result, validator)
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
        figures = search_figures(result["study"])  # rows: at least one trial has reported, with the study
        cols = st.columns(2)
        for col, name in zip(cols, ("history", "importance")):
            if name in figures:
                col.plotly_chart(figures[name], key=f"tune_{name}", width="stretch")
        for name in ("parallel", "slice"):  # one panel per option: they want the page's width
            if name in figures:
                st.plotly_chart(figures[name], key=f"tune_{name}", width="stretch")
    agreement = agreement_rows(result)
    if agreement:
        st.markdown("**How far each validator agreed with the truth** (over the finished trials; the target's "
                    "labels are used here only to judge, never to pick)")
        st.dataframe(pd.DataFrame(agreement), hide_index=True, width="stretch")
    if current.done and st.session_state.get("_tune_shown") != current.id:
        st.session_state["_tune_shown"] = current.id
        st.rerun(scope="app")


live_view()
