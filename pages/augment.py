"""Augmentation lab: build a pipeline from the op registry, see what one strength knob means, preview it on
the source beside the target, and measure where more augmentation starts to hurt."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from pages import _ui

_ui.init_state()
st.title("Augmentation lab")
_ui.pair_caption()
st.write(
    "Build an augmentation pipeline, turn **one strength knob** s from 0 (nothing) to 1 (the widest ranges "
    "practitioners use) and see what it means concretely, on source samples next to the target. Then "
    "measure where *more* starts to hurt: the model's accuracy on augmented data (Affinity), how many "
    "predictions flip, and how close the augmented source comes to the target."
)
pair = _ui.load_pair()
if pair is None:
    st.stop()
source, target, alignment = pair

from da_core.augment import Context, Pipeline, default_pipeline, editor, get_op  # noqa: E402  (after the pair)
from da_core.augment.preview import DEFAULT_STRENGTHS, contact_sheet, sheet_png  # noqa: E402
from da_core.errors import DAError  # noqa: E402

P = editor.PREFIX
CONTEXT = Context.of(source)  # ops fit their values to this image size (elastic's σ on small images)
memory = st.session_state["_widget_memory"]
if f"{P}_ops" not in memory and f"{P}_ops" not in st.session_state:  # first visit: the default pipeline
    for k, v in editor.widget_state(default_pipeline())[0].items():
        memory.setdefault(k, v)


def _keep(key: str, value: Any) -> None:
    """Set a widget's value from a callback (before the widgets run) and remember it across pages."""
    st.session_state[key] = value
    memory[key] = value


def _restore(text: str | bytes) -> None:
    """Callback: load pipeline JSON into every widget, or keep the error to show it."""
    try:
        pipeline = Pipeline.from_json(text)
    except DAError as exc:
        st.session_state[f"{P}_import_msg"] = ("error", f"**Cannot restore the pipeline.** {exc}")
        return
    state, notes = editor.widget_state(pipeline)
    for k, v in state.items():
        _keep(k, v)
    st.session_state[f"{P}_import_msg"] = ("success", f"Restored a pipeline of {len(state[f'{P}_ops'])} ops at "
                                           f"s = {pipeline.strength:.2f}, seed {pipeline.seed}." +
                                           "".join(f" Note: {n}." for n in notes))


def _restore_upload() -> None:
    upload = st.session_state.get(f"{P}_upload")
    if upload is not None:
        _restore(upload.getvalue())


def _move(name: str, step: int) -> None:
    """Callback: move an op up (-1) or down (+1), or remove it (0)."""
    ops = list(st.session_state[f"{P}_ops"])
    i = ops.index(name)
    j = i + step
    if step == 0:
        ops.pop(i)
    elif 0 <= j < len(ops):
        ops[i], ops[j] = ops[j], ops[i]
    _keep(f"{P}_ops", ops)


def _add() -> None:
    """Callback: append the chosen op with its declared values, then clear the chooser."""
    name = st.session_state.get(f"{P}_add")
    if name:
        for k, v in editor.default_state(name).items():
            _keep(k, v)
        _keep(f"{P}_ops", [*st.session_state[f"{P}_ops"], name])
    st.session_state[f"{P}_add"] = None


def _widget(kind: str, label: str, key: str, default: Any, container: Any = st, **kwargs: Any) -> Any:
    """A widget whose value survives page switches (see ``_ui.remember``)."""
    _ui.remember(key, default)
    value = getattr(container, kind)(label, key=key, **kwargs)
    _ui.store(key)
    return value


# ------------------------------------------------------------------------------------------ editor
edit_col, preview_col = st.columns([1, 2], gap="large")
with edit_col:
    st.subheader("Pipeline")
    _ui.remember(f"{P}_ops", [])  # the ordered op names (not a widget: the op panels below show them)
    names = list(st.session_state[f"{P}_ops"])
    st.selectbox("Add an op", editor.addable_ops(names), index=None, key=f"{P}_add", on_change=_add,
                 format_func=lambda n: f"{get_op(n).label} · {get_op(n).group}", placeholder="Choose an op to add…",
                 help="Ops run top to bottom in the order of the panels below; reorder them with the arrows. "
                      "At most one batch op (MixUp or CutMix).")
    seed = int(_widget("number_input", "Seed", f"{P}_seed", 0, min_value=0, max_value=2**31 - 1, step=1,
                       help="The same seed gives the same pictures and the same numbers."))
    if not names:
        st.caption("No ops yet: add one above, or import a pipeline below.")
    for i, name in enumerate(names):
        spec = get_op(name)
        with st.expander(f"{i + 1}. {spec.label}", expanded=len(names) <= 2):
            st.caption(f"{spec.summary} · `{name}`")
            defaults = editor.default_state(name)
            for f in editor.op_fields(name):
                key = f"{P}_{name}_{f.name}"
                lo, hi, step = (int(f.lo), int(f.hi), 1) if f.integer else (f.lo, f.hi, f.step)
                _widget("slider", f.label, key, defaults[key], min_value=lo, max_value=hi, step=step,
                        format=f.number_format(), help=f.help)
            own = _widget("toggle", "Own strength (instead of s)", f"{P}_{name}_own", False,
                          help="Use the strength below for this op instead of the master s.")
            _widget("slider", "Own strength", f"{P}_{name}_strength", editor.DEFAULT_OWN_STRENGTH, min_value=0.0,
                    max_value=1.0, step=0.01, disabled=not own, label_visibility="collapsed")
            b1, b2, b3 = st.columns(3)
            b1.button("", key=f"{P}_{name}_up", on_click=_move, args=(name, -1), disabled=i == 0,
                      icon=":material/arrow_upward:", width="stretch", help="Run earlier")
            b2.button("", key=f"{P}_{name}_down", on_click=_move, args=(name, 1), disabled=i == len(names) - 1,
                      icon=":material/arrow_downward:", width="stretch", help="Run later")
            b3.button("", key=f"{P}_{name}_remove", on_click=_move, args=(name, 0), icon=":material/delete:",
                      width="stretch", help="Remove this op")
    with st.expander("Import a pipeline (JSON)", expanded=False):
        st.file_uploader("Pipeline JSON", type=["json"], key=f"{P}_upload", on_change=_restore_upload,
                         help="A file downloaded from this page or written by hand; restores every widget.")
        pasted = st.text_area("…or paste it here", key=f"{P}_paste", height=100,
                              placeholder='{"ops": [{"name": "rotation"}], "strength": 0.5, "seed": 0}')
        st.button("Restore", key=f"{P}_paste_restore", on_click=lambda: _restore(st.session_state[f"{P}_paste"]),
                  disabled=not pasted.strip())
    message = st.session_state.pop(f"{P}_import_msg", None)
    if message:
        getattr(st, message[0])(message[1])

state = {k: v for k, v in st.session_state.items() if isinstance(k, str) and k.startswith(P + "_")}
state.setdefault(f"{P}_strength", memory.get(f"{P}_strength", default_pipeline().strength))
try:
    pipeline = editor.pipeline_from_state(state)
except DAError as exc:
    st.error(f"**The pipeline is not valid.** {exc}")
    st.stop()


# ------------------------------------------------------------------------------------------ preview
@st.fragment
def preview(pipeline: Pipeline) -> None:
    """Strength, what it means, the contact sheet and the export: a change here reruns only this part."""
    s = float(_widget("slider", "Strength s", f"{P}_strength", pipeline.strength, min_value=0.0, max_value=1.0,
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
    mode = _widget("segmented_control", "Columns", f"{P}_mode", "strengths", c1, options=["strengths", "draws"],
                   format_func=lambda m: {"strengths": "Strengths 0 → 1", "draws": f"5 draws at s = {s:.2f}"}[m],
                   help="Strengths: the same random draw at growing s, yours framed. Draws: five different "
                        "random draws at your s.") or "strengths"
    diff = _widget("toggle", "Difference", f"{P}_diff", False, c2,
                   help="Show |augmented − original| per pixel: bright means changed (the target column stays as is).")
    d1, d2, d3 = st.columns([4, 2, 3], vertical_alignment="bottom")
    pick = _widget("segmented_control", "Samples", f"{P}_pick", "drawn", d1, options=["drawn", "by index"],
                   format_func=lambda p: {"drawn": "Seeded draw", "by index": "By index"}[p],
                   help="Seeded draw: source samples spread over the classes, drawn with the seed.") or "drawn"
    n_rows = int(_widget("number_input", "Rows", f"{P}_rows", 8, d2, min_value=1, max_value=16, step=1,
                         disabled=pick == "by index"))
    indices = None
    if pick == "by index":
        text = _widget("text_input", f"Source indices (0–{len(source) - 1})", f"{P}_indices", "0, 1, 2, 3", d3,
                       help="Comma-separated, ranges allowed: 3, 17, 40-42 (at most 16 rows)")
        try:
            indices = editor.parse_indices(text, len(source))[:16]
        except DAError as exc:
            st.error(str(exc))
            return
    rows = editor.pick_rows(source, target, n_rows, pipe.seed, indices)
    strengths = sorted({*DEFAULT_STRENGTHS, round(s, 2)})
    try:
        sheet = contact_sheet(pipe, rows.images, strengths=strengths, mode=mode, labels=rows.labels,
                              num_classes=len(source.classes))
    except DAError as exc:
        st.error(str(exc))
        return
    mine = None
    if mode == "strengths":
        mine = min(range(len(sheet.strengths)), key=lambda j: abs(sheet.strengths[j] - s))
        sheet.columns[mine] = f"s = {s:.2f}"
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
        mixed = [c for c, soft in zip(sheet.columns, sheet.soft_labels) if soft is not None]
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
st.divider()
st.subheader("Over-augmentation, measured")
st.write(
    "For each strength, held-out source samples are augmented and embedded. **Affinity** is the source model's "
    "accuracy on them divided by its accuracy on clean data (1 = the augmentation keeps what the model relies "
    "on); the **label-flip rate** is the share of predictions that change; the **gap to target** is MMD² between "
    "augmented source and target embeddings (lower = the source looks more like the target). The **sweet spot** "
    "is the strength with the smallest gap whose affinity stays above your threshold. No training needed."
)
from da_core import viz  # noqa: E402
from da_core.augment.measure import measure_over_augmentation, self_test  # noqa: E402
from da_core.embed import list_embedders  # noqa: E402

GRIDS = {  # s² mapping: most of what matters happens below s = 0.5, so the default grid is finer there
    "8 points, fine below 0.5": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0),
    "5 points: 0, 0.25, …, 1": DEFAULT_STRENGTHS,
    "11 points: 0, 0.1, …, 1": tuple(i / 10 for i in range(11)),
}
embedders = [info.id for info, why in list_embedders() if why is None and not info.id.startswith("hf")]
m1, m2, m3, m4 = st.columns([2, 2, 2, 1], vertical_alignment="bottom")
embedder = _widget("selectbox", "Embedder", f"{P}_embedder", "digits-cnn", m1, options=embedders,
                   help="The source model is a linear probe on these embeddings, fitted on clean source data.")
grid_name = _widget("selectbox", "Strengths", f"{P}_grid", next(iter(GRIDS)), m2, options=list(GRIDS))
max_samples = int(_widget("number_input", "Max samples per domain", f"{P}_max", 1000, m3, min_value=50,
                          max_value=20000, step=250, help="Half the source trains the probe, half is augmented."))
auto = _widget("toggle", "Auto", f"{P}_auto", False, m4, help="Re-measure whenever the pipeline changes.")
grid = GRIDS[grid_name]
key = editor.measure_key(pipeline, source.fingerprint, target.fingerprint, grid, embedder, max_samples)
cached = _ui.is_cached("augment-measure", key)
if not cached:
    st.button("Measure over-augmentation", key=f"{P}_measure", type="primary", icon=":material/monitoring:",
              disabled=not pipeline.ops, on_click=_keep, args=(f"{P}_measure_req", key))
clicked = st.session_state.get(f"{P}_measure_req") == key  # a callback, so the request survives any rerun
if not pipeline.ops:
    st.info("Add an op to the pipeline to measure it.")
elif clicked or auto or cached:
    try:
        report = _ui.memo("augment-measure", key,
                          lambda p: measure_over_augmentation(pipeline, source, target, strengths=grid,
                                                              embedder=embedder, max_samples=max_samples,
                                                              seed=pipeline.seed, progress=p),
                          f"Computing over-augmentation measures ({len(grid)} strengths, {embedder})")
    except DAError as exc:
        st.error(str(exc))
        report = None
    if report is not None:
        def _use_strength(value: float) -> None:
            _keep(f"{P}_strength", value)
            st.session_state[f"{P}_rerun_app"] = True

        @st.fragment
        def measures(report: Any) -> None:
            """Threshold and chart: moving the threshold re-picks the sweet spot without recomputing."""
            if st.session_state.pop(f"{P}_rerun_app", False):
                st.rerun(scope="app")  # the preview (another fragment) must show the new strength
            chart, words = st.columns([3, 2], gap="large")
            with words:
                threshold = float(_widget("slider", "Affinity threshold", f"{P}_threshold", 0.9, min_value=0.5,
                                          max_value=1.0, step=0.01,
                                          help="How much of its clean accuracy the model must keep on augmented "
                                               "data. Moving it re-picks the sweet spot without re-measuring."))
            rep = report.with_threshold(threshold)
            chart.plotly_chart(viz.over_augmentation_figure(rep, threshold, rep.sweet_spot), width="stretch",
                               key=f"{P}_measure_chart")
            with words:
                if rep.sweet_spot == 0:
                    st.warning(f"**Sweet spot: s = 0 (no augmentation).** {rep.explanation}")
                elif rep.sweet_spot is not None:
                    st.success(f"**Sweet spot: s = {rep.sweet_spot:.2f}.** {rep.explanation}")
                    st.button(f"Use s = {rep.sweet_spot:.2f} in the preview", key=f"{P}_use_spot",
                              on_click=_use_strength, args=(float(rep.sweet_spot),))
                else:
                    st.warning(f"**No sweet spot.** {rep.explanation}")
                st.caption(f"Clean source accuracy {rep.clean_accuracy:.3f}; clean gap MMD² {rep.clean_gap:.3g} "
                           f"(noise floor {rep.gap_baseline:.2g}); {rep.n_train} probe / {rep.n_held_out} "
                           f"held-out / {rep.n_target} target samples; {rep.embedder} on {rep.device}; "
                           f"{rep.seconds.get('total', 0):.1f} s.")
                for note in rep.notes:
                    st.caption(note)
            table = pd.DataFrame([r.to_dict() for r in rep.results])
            with st.expander("Numbers", expanded=False):
                st.dataframe(table, hide_index=True, width="stretch")
            st.download_button("Measures (JSON)", json.dumps(rep.to_dict(), indent=2),
                               file_name="over-augmentation.json", mime="application/json",
                               icon=":material/download:")

        measures(report)
else:
    st.info("Press **Measure over-augmentation** (about 5–10 s at 1000 samples on a laptop CPU), or turn on "
            "**Auto**. Results are cached per pipeline, pair and settings.")

st.subheader("Self-test per op")
st.caption("Each op alone on 64 source samples: its effect (mean embedding distance to the original, in units of the "
           "typical distance between two samples) against s. An op that changes nothing or whose effect falls "
           "as s grows gets a warning.")
test_key = editor.measure_key(pipeline, source.fingerprint, grid, embedder, "self-test")
test_cached = _ui.is_cached("augment-selftest", test_key)
if not test_cached:
    st.button("Run the self-test", key=f"{P}_selftest", icon=":material/rule:", disabled=not pipeline.ops,
              on_click=_keep, args=(f"{P}_selftest_req", test_key))
if test_cached or (pipeline.ops and st.session_state.get(f"{P}_selftest_req") == test_key):

    sample = source.capped(64, pipeline.seed)
    tests = _ui.memo("augment-selftest", test_key,
                     lambda p: self_test(pipeline, sample.images, strengths=grid, seed=pipeline.seed,
                                         embedder=embedder, progress=p, labels=sample.labels,
                                         num_classes=len(source.classes)),
                     f"Computing the self-test of {len(pipeline.ops)} ops")
    t1, t2 = st.columns([3, 2], gap="large")
    t1.plotly_chart(viz.self_test_figure(tests), width="stretch", key=f"{P}_selftest_chart")
    with t2:
        warnings = [w for t in tests for w in t.warnings]
        for w in warnings:
            st.warning(w)
        if not warnings:
            st.success(f"All {len(tests)} ops change the images and grow with s.")
