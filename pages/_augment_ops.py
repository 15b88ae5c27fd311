"""One op of an augmentation pipeline in the lab's editor (image or text): its knobs as sliders from the op
registry, its own-strength override, and the buttons that move or remove it.  Both labs lay out each op with it."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from pages import _ui


def op_editor(index: int, names: list[str], prefix: str, move: Callable[[str, int], None], expanded: bool) -> None:
    """The expander of the op at ``index`` of ``names`` (widget keys ``{prefix}_{name}_...``); ``move(name, step)``
    runs when it is moved up (-1), down (+1) or removed (0)."""
    from da_core.augment import editor, get_op  # lazily: the pages import it before loading the pair

    name = names[index]
    spec = get_op(name)
    with st.expander(f"{index + 1}. {spec.label}", expanded=expanded):
        st.caption(f"{spec.summary} · `{name}`")
        defaults = editor.default_state(name, prefix)
        for f in editor.op_fields(name):
            key = f"{prefix}_{name}_{f.name}"
            lo, hi, step = (int(f.lo), int(f.hi), 1) if f.integer else (f.lo, f.hi, f.step)
            _ui.widget(st.slider, f.label, key, defaults[key], min_value=lo, max_value=hi, step=step,
                       format=f.number_format(), help=f.help)
        own = _ui.widget(st.toggle, "Own strength (instead of s)", f"{prefix}_{name}_own", False,
                         help="Use the strength below for this op instead of the master s.")
        _ui.widget(st.slider, "Own strength", f"{prefix}_{name}_strength", editor.DEFAULT_OWN_STRENGTH, min_value=0.0,
                   max_value=1.0, step=0.01, disabled=not own, label_visibility="collapsed")
        b1, b2, b3 = st.columns(3)
        b1.button("", key=f"{prefix}_{name}_up", on_click=move, args=(name, -1), disabled=index == 0,
                  icon=":material/arrow_upward:", width="stretch", help="Run earlier")
        b2.button("", key=f"{prefix}_{name}_down", on_click=move, args=(name, 1), disabled=index == len(names) - 1,
                  icon=":material/arrow_downward:", width="stretch", help="Run later")
        b3.button("", key=f"{prefix}_{name}_remove", on_click=move, args=(name, 0), icon=":material/delete:",
                  width="stretch", help="Remove this op")
