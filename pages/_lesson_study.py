"""The Lesson page's step 5: a study of source only, augmented and DANN in the background (reused from the history
when it exists), its figures, and the DANN run's training film."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from da_core import lesson
from pages import _history
from pages._lesson_steps import Context, quick


def compare(ctx: Context, run: bool, manager: Any, session: str) -> lesson.Reveal | None:
    """Step 5: a study of source only, augmented and DANN (two seeds), reused when the history has it; its
    figures, and the DANN run's training film."""
    from da_core.study import figures

    st.toggle("Quick comparison: one seed of one epoch", key=f"lesson_quick_{ctx.modality}",
              help="For a short slot: a few times faster, but one seed cannot tell close arms apart.")
    spec = lesson.study_spec(ctx.modality, ctx.source_spec, ctx.target_spec, quick(ctx))
    done = lesson.finished_study(manager.store, spec)
    if done is None:
        slot = f"lesson_job_{ctx.modality}"
        job = manager.get(st.session_state.get(slot) or "")
        if job is not None and json.loads(json.dumps(job.config)) != json.loads(json.dumps(spec.to_dict())):
            job = None  # the lesson's other study (the quick one, or before the toggle moved)
        if job is not None and job.done:  # it ended without finishing (stopped, failed, interrupted)
            snap = job.snapshot()
            st.warning(f"Study #{snap['sweep_id']} ended {snap['status']}: {snap['message'] or 'no message'}. "
                       "Run and reveal starts it again; the Study page resumes it with its finished runs.")
            st.session_state.pop(slot, None)
            return None
        if job is None and run:
            job = manager.submit_study(spec, session, origin="page")
            st.session_state[slot] = job.id
        if job is None:
            st.caption(f"{spec.run_count()} runs ({len(spec.arms)} arms × {len(spec.seeds)} seeds), in the "
                       "background; the view follows them.")
            return None
        _progress(job)
        return None
    if not run:
        st.caption(f"This study is in the history already (#{done}): its reveal is instant.")
        return None
    result = manager.store.get_sweep(done).result or {}
    arms = result.get("arms") or []
    order = [a["name"] for a in arms]
    left, right = st.columns(2)
    with left:
        ctx.chart(figures.accuracy_figure(arms, order), "compare_acc")
    with right:
        ctx.chart(figures.paired_figure(arms), "compare_paired")
    dann = next((a for a in arms if a["name"] == "dann" and a.get("runs")), None)
    if dann is not None:
        st.markdown("**The DANN run's training film**: the held-out samples of both domains at each evaluation.")
        _history.film_section(manager.store, int(dann["runs"][-1]), list(ctx.source.classes), "lesson")
    st.caption(f"Study #{done} in the history ({len(spec.seeds)} seeds per arm); the Study page shows it in full.")
    return lesson.reveal_compare(result)


@st.fragment(run_every=2.0)
def _progress(job: Any) -> None:
    """The running study's progress, polled every two seconds; the page reruns once when it ends (then the job
    is either the finished study found in the history or an ended one said so above, never followed again)."""
    snap = job.snapshot()
    st.progress(min(max(snap["progress"], 0.0), 1.0),
                text=f"Study #{snap['sweep_id']}: {snap['message'] or 'starting…'}")
    if job.done:
        st.rerun(scope="app")
