"""Augmentation lab: build a pipeline from the op registry, see what one strength knob means, preview it on
the source beside the target, and measure where more augmentation starts to hurt."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages import _augment_ops, _ui

_ui.init_state()
st.title("Augmentation lab")
_ui.pair_caption()
st.write(
    "Build an augmentation pipeline, turn **one strength knob** s from 0 (nothing) to 1 (the widest ranges "
    "practitioners use) and see what it means concretely, on source samples next to the target. Then "
    "measure where *more* starts to hurt: the model's accuracy on augmented data (Affinity), how many "
    "predictions flip, and how close the augmented source comes to the target."
)
source, target, alignment = _ui.load_pair()
if source.modality == "text":
    from pages import _augment_text

    _augment_text.lab(source, target)
    st.stop()

from da_core.augment import Context, Pipeline, default_pipeline, editor, get_op  # noqa: E402  (after the pair)
from da_core.augment.preview import (  # noqa: E402
    contact_sheet,
    mark_strength,
    mixed_columns,
    sheet_png,
    strengths_with,
)
from da_core.errors import DAError  # noqa: E402

P = editor.PREFIX
# Keys read or set outside their widget's call: the op list (not a widget), the op chooser, the two imports, the
# import's message.
OP_NAMES, ADD, UPLOAD, PASTE, MESSAGE = (f"{P}_{name}" for name in ("ops", "add", "upload", "paste", "import_msg"))
CONTEXT = Context.of(source)  # ops fit their values to this image size (elastic's σ on small images)
memory = _ui.memory()
if OP_NAMES not in memory and OP_NAMES not in st.session_state:  # first visit: the default pipeline
    for k, v in editor.widget_state(default_pipeline())[0].items():
        memory.setdefault(k, v)


def _restore(text: str | bytes) -> None:
    """Callback: load pipeline JSON into every widget, or keep the error to show it."""
    try:
        pipeline = Pipeline.from_json(text)
    except DAError as exc:
        st.session_state[MESSAGE] = ("error", f"**Cannot restore the pipeline.** {exc}")
        return
    state, notes = editor.widget_state(pipeline)
    for k, v in state.items():
        _ui.keep(k, v)
    st.session_state[MESSAGE] = ("success", f"Restored a pipeline of {len(state[OP_NAMES])} ops at "
                                           f"s = {pipeline.strength:.2f}, seed {pipeline.seed}." +
                                           "".join(f" Note: {n}." for n in notes))


def _restore_upload() -> None:
    upload = st.session_state.get(UPLOAD)
    if upload is not None:
        _restore(upload.getvalue())


def _move(name: str, step: int) -> None:
    """Callback: move an op up (-1) or down (+1), or remove it (0)."""
    _ui.keep(OP_NAMES, editor.move_op(st.session_state[OP_NAMES], name, step))


def _add() -> None:
    """Callback: append the chosen op with its declared values, then clear the chooser."""
    name = st.session_state.get(ADD)
    if name:
        for k, v in editor.default_state(name).items():
            _ui.keep(k, v)
        _ui.keep(OP_NAMES, [*st.session_state[OP_NAMES], name])
    st.session_state[ADD] = None


# ------------------------------------------------------------------------------------------ editor
edit_col, preview_col = st.columns([1, 2], gap="large")
with edit_col:
    st.subheader("Pipeline")
    _ui.remember(OP_NAMES, [])  # the ordered op names (not a widget: the op panels below show them)
    names = list(st.session_state[OP_NAMES])
    st.selectbox("Add an op", editor.addable_ops(names), index=None, key=ADD, on_change=_add,
                 format_func=lambda n: f"{get_op(n).label} · {get_op(n).group}", placeholder="Choose an op to add…",
                 help="Ops run top to bottom in the order of the panels below; reorder them with the arrows. "
                      "At most one batch op (MixUp or CutMix).")
    seed = int(_ui.widget(st.number_input, "Seed", f"{P}_seed", 0, min_value=0, max_value=2**31 - 1, step=1,
                          help="The same seed gives the same pictures and the same numbers."))
    if not names:
        st.caption("No ops yet: add one above, or import a pipeline below.")
    for i in range(len(names)):
        _augment_ops.op_editor(i, names, P, _move, expanded=len(names) <= 2)
    with st.expander("Import a pipeline (JSON)", expanded=False):
        st.file_uploader("Pipeline JSON", type=["json"], key=UPLOAD, on_change=_restore_upload,
                         help="A file downloaded from this page or written by hand; restores every widget.")
        pasted = st.text_area("…or paste it here", key=PASTE, height=100,
                              placeholder='{"ops": [{"name": "rotation"}], "strength": 0.5, "seed": 0}')
        st.button("Restore", key=f"{P}_paste_restore", on_click=lambda: _restore(st.session_state[PASTE]),
                  disabled=not pasted.strip())
    message = st.session_state.pop(MESSAGE, None)
    if message:
        getattr(st, message[0])(message[1])

state = editor.state_of(memory, st.session_state)  # the strength slider (in the preview) may not have run yet
state.setdefault(f"{P}_strength", default_pipeline().strength)
try:
    pipeline = editor.pipeline_from_state(state)
except DAError as exc:
    st.error(f"**The pipeline is not valid.** {exc}")
    st.stop()


# ------------------------------------------------------------------------------------------ preview
@st.fragment
def preview(pipeline: Pipeline) -> None:
    """Strength, what it means, the contact sheet and the export: a change here reruns only this part."""
    s = float(_ui.widget(st.slider, "Strength s", f"{P}_strength", pipeline.strength, min_value=0.0, max_value=1.0,
                         step=0.01, help="One knob for the whole pipeline: 0 is the identity, 1 the widest ranges. "
                                         "Ranges grow with s² so the useful low end gets more of the slider."))
    pipe = Pipeline(pipeline.ops, s, pipeline.seed)
    st.info(f"**At s = {s:.2f}:** {pipe.describe(s, CONTEXT)}")
    if not pipe.ops:
        return
    st.dataframe(pd.DataFrame(editor.concrete_rows(pipe, s, CONTEXT)), hide_index=True, width="stretch",
                 column_order=["op", "strength", "p", "means"],
                 column_config={"op": st.column_config.TextColumn(width="medium"),
                                "strength": st.column_config.TextColumn("s", width="small",
                                                                        help="(own): the op's own strength"),
                                "p": st.column_config.NumberColumn(format="%.2f", width="small"),
                                "means": st.column_config.TextColumn("means at this strength", width="large")})

    c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
    mode = _ui.widget(c1.segmented_control, "Columns", f"{P}_mode", "strengths", options=["strengths", "draws"],
                      format_func=lambda m: {"strengths": "Strengths 0 → 1", "draws": f"5 draws at s = {s:.2f}"}[m],
                      help="Strengths: the same random draw at growing s, yours framed. Draws: five different "
                           "random draws at your s.") or "strengths"
    diff = _ui.widget(c2.toggle, "Difference", f"{P}_diff", False,
                      help="Show |augmented − original| per pixel: bright means changed (the target column stays as "
                           "is).")
    d1, d2, d3 = st.columns([4, 2, 3], vertical_alignment="bottom")
    pick = _ui.widget(d1.segmented_control, "Samples", f"{P}_pick", "drawn", options=["drawn", "by index"],
                      format_func=lambda p: {"drawn": "Seeded draw", "by index": "By index"}[p],
                      help="Seeded draw: source samples spread over the classes, drawn with the seed.") or "drawn"
    n_rows = int(_ui.widget(d2.number_input, "Rows", f"{P}_rows", 8, min_value=1, max_value=16, step=1,
                            disabled=pick == "by index"))
    indices = None
    if pick == "by index":
        text = _ui.widget(d3.text_input, f"Source indices (0–{len(source) - 1})", f"{P}_indices", "0, 1, 2, 3",
                          help="Comma-separated, ranges allowed: 3, 17, 40-42 (at most 16 rows)")
        try:
            indices = editor.parse_indices(text, len(source))[:16]
        except DAError as exc:
            st.error(str(exc))
            return
    rows = editor.pick_rows(source, target, n_rows, pipe.seed, indices)
    try:
        sheet = contact_sheet(pipe, rows.images, strengths=strengths_with(s), mode=mode, labels=rows.labels,
                              num_classes=len(source.classes))
    except DAError as exc:
        st.error(str(exc))
        return
    mine = mark_strength(sheet, s) if mode == "strengths" else None
    png = sheet_png(sheet, rows.target_images, diff=diff, highlight=mine)
    st.image(png, output_format="PNG",
             caption=f"Rows: source samples {', '.join(f'#{i}' for i in rows.index)} (classes "
                     f"{', '.join(source.classes[c] for c in rows.labels.tolist())}). Right: a target sample of the "
                     f"same class. {'Blue frame: your strength. ' if mine is not None else ''}"
                     f"{'Pixel difference to the original. ' if diff else ''}"
                     f"Augmented in {sheet.seconds * 1000:.0f} ms.")
    if any(soft is not None for soft in sheet.soft_labels):
        st.markdown("**Batch view.** MixUp/CutMix mix each image with the row above it (row 0 with the last); "
                    "λ is the weight of the row's own image and the soft label is what the model learns from.")
        st.caption(" · ".join(f"{c}: λ = {lam:.2f}" for c, lam in zip(sheet.columns, sheet.lambdas)
                              if lam is not None))
        table = pd.DataFrame(sheet.mix_table(source.classes))
        mixed = mixed_columns(sheet)
        if len(table) and mixed:
            default = sheet.columns[mine] if mine is not None and sheet.columns[mine] in mixed else mixed[0]
            if st.session_state.get(f"{P}_mix_column") not in mixed:
                st.session_state[f"{P}_mix_column"] = default
            column = st.segmented_control("Soft labels of column", mixed, key=f"{P}_mix_column") or default
            shown = table[table["column"] == column].drop(columns=["column"]).set_index("row")
            st.dataframe(shown, width="stretch", column_config={"lambda": st.column_config.NumberColumn(
                "λ", format="%.2f", help="weight of the row's own image")})

    st.markdown("**Export** (at the strength and seed shown)")
    e1, e2, e3 = st.columns(3)
    e1.download_button("Pipeline JSON", pipe.to_json(), file_name="pipeline.json", mime="application/json",
                       icon=":material/download:", width="stretch", help="Upload it under *Import* to restore.")
    code = pipe.to_python(s, CONTEXT)
    e2.download_button("Python", code, file_name="augmentation.py", mime="text/x-python", icon=":material/code:",
                       width="stretch", help="Runnable code that builds the same pipeline with torchvision v2.")
    e3.download_button("Contact sheet", png, file_name="contact-sheet.png", mime="image/png",
                       icon=":material/image:", width="stretch")
    with st.expander("Show the Python", expanded=False):
        st.code(code, language="python")


with preview_col:
    st.subheader("Preview")
    preview(pipeline)

# ------------------------------------------------------------------------------------ over-augmentation
from pages import _augment_measures  # noqa: E402

_augment_measures.section(pipeline, source, target)
