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


def robustness_section(final: dict[str, Any], prefix: str) -> bool:
    """A finished run's robustness (mean corruption accuracy, the adversarial curve and ε at half accuracy, the
    corruption grid), charts keyed ``{prefix}_adv`` and ``{prefix}_corrupt``; False, drawing nothing, without it."""
    from da_core.train import figures

    rob = final.get("robustness")
    if not rob:
        return False
    m1, m2, m3 = st.columns(3)
    if rob.get("corruption_acc") is not None:
        m1.metric("Mean corruption accuracy", f"{rob['corruption_acc']:.1%}",
                  f"{(rob['corruption_acc'] - rob['clean_acc']) * 100:+.1f} points vs clean", delta_color="off")
    if rob.get("adv_acc") is not None:
        m2.metric("Adversarial accuracy (mean over ε)", f"{rob['adv_acc']:.1%}")
    half = rob.get("eps_half")
    curve = rob.get("adv_curve") or []
    if curve:
        m3.metric("ε at half accuracy", f"{half:.3g}" if half is not None else f"> {curve[-1]['eps']:g}")
    c1, c2 = st.columns(2)
    if curve:
        c1.plotly_chart(figures.adversarial_curve_figure(rob), key=f"{prefix}_adv", width="stretch")
    if rob.get("corruption_by_kind"):
        c2.plotly_chart(figures.corruption_figure(rob), key=f"{prefix}_corrupt", width="stretch")
    st.caption(f"Measured after training on {rob['samples']} held-out target samples (clean accuracy "
               f"{rob['clean_acc']:.1%} on them) in {rob['seconds']:.1f} s; ε in {rob.get('eps_units')}.")
    return True


@st.cache_data(show_spinner="Laying out the training film (a map per evaluation)…", max_entries=16)
def _film_layout(data: bytes) -> Any:
    from da_core.train.film import Film, film_frames

    return film_frames(Film.from_bytes(data))


def film_section(store: Any, run_id: int, classes: list[str] | None, prefix: str) -> bool:
    """A run's training film (the held-out features at each evaluation on aligned maps, with a slider and play
    button), keyed ``{prefix}_film``; False, drawing nothing, when the run kept none."""
    from da_core.train.film import Film, describe, film_figure, film_story, target_accuracy

    data = store.film(run_id)
    if not data:
        return False
    film = Film.from_bytes(data)
    accuracy = target_accuracy(store.metrics([run_id], ["target_acc"]))
    st.plotly_chart(film_figure(film, _film_layout(data), classes, accuracy), key=f"{prefix}_film", width="stretch")
    st.caption(f"{film_story(film, accuracy)} {describe(film)}")
    return True
