"""Selection: weigh every source sample by how target-like it is, keep the top fraction, see what that does to the
gap, and hand the selection to the Training page.  The work happens in ``da_core.select``."""

from __future__ import annotations

import streamlit as st

from pages import _select_results, _ui

_ui.init_state()
st.title("Selection")
_ui.pair_caption()
st.write(
    "Not every source sample helps with the target. A selector gives each source sample a **weight**, higher for "
    "samples that look more like the target; keeping the top fraction (or training on the weights) should bring "
    "the source closer to the target. Whether it does is measured below against random subsets of the same size."
)
source, target, alignment = _ui.load_pair()
if not alignment.identical:
    st.info(f"Using the {len(alignment.shared)} classes both domains share.")

from da_core.embed import list_embedders  # noqa: E402  (after the pair: errors first)
from da_core.errors import DAError  # noqa: E402
from da_core.select import DEFAULT_FRACTION, DEFAULT_METHOD, select_source, selectors, view  # noqa: E402
from da_core.warmup import GAP_DEFAULTS  # noqa: E402

# ------------------------------------------------------------------------------------------ controls
registry = selectors(source.modality)  # dsir reads texts: listed for text pairs only
if st.session_state.get("sel_method", DEFAULT_METHOD) not in registry:
    _ui.keep("sel_method", DEFAULT_METHOD)
c1, c2 = st.columns([1, 2], vertical_alignment="bottom")
method = _ui.widget(c1.selectbox, "Method", "sel_method", DEFAULT_METHOD, options=list(registry),
                    format_func=lambda m: registry[m].label,
                    help="\n\n".join(f"**{s.label}**: {s.summary}" for s in registry.values()))
selector = registry[method]
c2.caption(selector.summary + (" Its weights are importance weights: a run may train on them as they are."
                               if selector.importance else ""))
columns = st.columns(3)
params = {p.name: _ui.param_widget(p, f"sel_{method}_{p.name}", columns[i % 3]) for i, p in enumerate(selector.params)}

ids = [info.id for info, why in list_embedders(source.modality) if why is None]  # this modality's usable ones
if not ids:
    st.warning(f"No embedder for {source.modality} data is available here; the Gap map page says why.")
    st.stop()
remembered = _ui.memory()  # start from the Gap map's settings: then its map of the same samples is reused
first = next((e for e in (remembered.get("gap_embedder"), GAP_DEFAULTS["embedder"]) if e in ids), ids[0])
if st.session_state.get("sel_embedder", first) not in ids:
    _ui.keep("sel_embedder", first)
c1, c2, c3, c4 = st.columns([2, 1, 1, 2])
embedder = _ui.widget(c1.selectbox, "Embedder", "sel_embedder", first, options=ids,
                      help="The vectors the selector compares; the Gap map's choice by default.")
max_samples = int(_ui.widget(c2.number_input, "Max samples per domain", "sel_max",
                             remembered.get("gap_max") or GAP_DEFAULTS["max_samples"], min_value=200,
                             max_value=20000, step=200,
                             help="A seeded, class-stratified subset of each domain is weighed."))
seed = int(_ui.widget(c3.number_input, "Seed", "sel_seed", remembered.get("gap_seed") or GAP_DEFAULTS["seed"],
                      min_value=0, max_value=10_000))
percent = _ui.widget(c4.slider, "Keep the top (% of the source)", "sel_fraction", int(100 * DEFAULT_FRACTION),
                     min_value=5, max_value=100, step=5,
                     help="Moving it re-selects from the same weights at once; nothing is weighed again.")
fraction = percent / 100

# ------------------------------------------------------------------------------------------ compute
try:
    values = selector.resolve(params)
except DAError as exc:
    st.error(str(exc))
    st.stop()
key = view.selection_key(source, target, method, values, embedder, max_samples, seed)
clicked = st.button("Compute selection", type="primary", key="sel_compute",
                    disabled=_ui.is_cached("selection", key),
                    help="Embeds both domains (cached), weighs the source and measures the gap curve.")
if not (clicked or _ui.is_cached("selection", key)):
    st.info("Press **Compute selection** to weigh the source with these settings. The gap curve measures MMD² with "
            "a bootstrap at eleven fractions, which takes a little while on a large pair.")
    st.stop()
try:
    result = _ui.memo("selection", key,
                      lambda p: select_source(source, target, method, values, fraction, embedder, max_samples, seed,
                                              progress=p),
                      f"Computing the selection ({selector.label}, {embedder})")
except DAError as exc:
    st.error(str(exc))
    st.stop()
result = view.at_fraction(result, fraction)

# ------------------------------------------------------------------------------------------ results
_select_results.headline(result)
_select_results.map_and_weights(result, source, target, max_samples, seed)
_select_results.curve_and_balance(result)
_select_results.galleries(result)
_select_results.export(result)
