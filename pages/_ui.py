"""Streamlit helpers shared by the pages: the chosen source/target pair, widgets that keep their values across
pages, cached loading with progress, and widgets built from registry metadata.  No numerical work here: that
lives in ``da_core``.  (The run history's helpers are in ``_history``, the routing patch in ``_routing``.)"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import streamlit as st

from da_core.config import DEFAULT_SOURCE, DEFAULT_TARGET
from da_core.data.spec import DatasetSpec, Param
from pages import _routing

ROLES = ("source", "target")

# ----------------------------------------------------------------------------------- session state


def init_state() -> None:
    """Make sure the shared pair exists in the session (the defaults load with no clicks)."""
    _routing.route_through_app()
    st.session_state.setdefault("source_spec", DEFAULT_SOURCE)
    st.session_state.setdefault("target_spec", DEFAULT_TARGET)
    st.session_state.setdefault("_widget_memory", {})


def remember(key: str, default: Any) -> None:
    """Restore a widget's value after a page switch (Streamlit drops state of widgets not rendered)."""
    if key not in st.session_state:
        st.session_state[key] = memory().get(key, default)


def store(*keys: str) -> None:
    """Keep widgets' current values so :func:`remember` can restore them on another visit."""
    for key in keys:
        memory()[key] = st.session_state.get(key)


def memory() -> dict[str, Any]:
    """The session's remembered widget values, by key (what :func:`remember` restores)."""
    return st.session_state["_widget_memory"]


def keep(key: str, value: Any) -> None:
    """Set a widget's value (from a callback, before the widget runs) and remember it across pages."""
    st.session_state[key] = value
    memory()[key] = value


def widget(make: Callable[..., Any], label: str, key: str, default: Any, **kwargs: Any) -> Any:
    """``make(label, key=key, **kwargs)`` (e.g. ``st.slider`` or ``column.selectbox``) with its value restored
    after a page switch: ``default`` on a first visit (:func:`remember`, :func:`store`)."""
    remember(key, default)
    value = make(label, key=key, **kwargs)
    store(key)
    return value


# --------------------------------------------------------------------------------------- loading


@st.cache_resource(show_spinner=False)
def _memo_store() -> tuple[OrderedDict[tuple[str, str], Any], threading.Lock]:
    """Process-wide LRU of immutable results (datasets, analyses, maps) shared by all sessions."""
    return OrderedDict(), threading.Lock()


MAX_CACHED = {"dataset": 12, "pair": 6, "embedding": 8, "analysis": 8, "map": 24}


def is_cached(kind: str, key: str) -> bool:
    """Whether :func:`memo` holds a result for (kind, key) already (a page can show a quick stand-in if not)."""
    cache, lock = _memo_store()
    with lock:
        return (kind, key) in cache


def publisher() -> Any:
    """A function ``publish([(kind, key, value), ...])`` that puts results into :func:`memo`'s cache from any
    thread.  Call this in the script thread (it reaches Streamlit's resource cache); the function it returns
    never touches streamlit, so background work may call it."""
    cache, lock = _memo_store()

    def publish(entries: list[tuple[str, str, Any]]) -> None:
        with lock:
            for kind, key, value in entries:
                cache[(kind, key)] = value

    return publish


def memo(kind: str, key: str, compute: Any, label: str) -> Any:
    """Return the cached result for (kind, key), or run ``compute(progress)`` under a status box with a
    progress bar.  Used instead of ``st.cache_*`` so long work can report progress while it runs."""
    cache, lock = _memo_store()
    with lock:
        if (kind, key) in cache:
            cache.move_to_end((kind, key))
            return cache[(kind, key)]
    with st.status(label, expanded=True) as status:
        bar = st.progress(0.0, text="starting")
        value = compute(lambda f, m: bar.progress(min(max(float(f), 0.0), 1.0), text=m))
        status.update(label=label.replace("Loading", "Loaded").replace("Computing", "Computed"), state="complete",
                      expanded=False)
    with lock:
        cache[(kind, key)] = value
        while sum(1 for k in cache if k[0] == kind) > MAX_CACHED.get(kind, 8):
            oldest = next(k for k in cache if k[0] == kind)
            del cache[oldest]
    return value


def load(spec: str, role: str) -> Any:
    """Load a dataset by spec with a progress bar; cached so switching pages is instant."""
    from da_core.data import load_dataset, resolve

    spec = str(resolve(spec)[1])  # canonical form: equal datasets share one cache entry
    return memo("dataset", spec, lambda progress: load_dataset(spec, progress=progress), f"Loading {role}: `{spec}`")


def load_pair() -> tuple[Any, Any, Any]:
    """Load the session's source and target with their shared classes and one image shape (see
    :func:`da_core.data.align_pair`); says what was converted; on failure shows the error and stops the page."""
    from da_core.data import align_pair, describe_alignment
    from da_core.errors import DAError

    init_state()
    try:
        source = load(st.session_state["source_spec"], "source")
        target = load(st.session_state["target_spec"], "target")
        same_form = source.modality == target.modality and (source.texts is not None or source.shape == target.shape)
        if same_form and source.classes == target.classes:
            src, tgt, alignment = align_pair(source, target)  # nothing to convert: instant
        else:
            src, tgt, alignment = memo("pair", f"{source.fingerprint}|{target.fingerprint}",
                                       lambda _progress: align_pair(source, target),
                                       "Computing one class set and image shape for both domains")
    except DAError as exc:
        st.error(f"**Cannot load the dataset pair.** {exc}")
        st.stop()
    if alignment.converted:
        st.info(describe_alignment(alignment), icon=":material/aspect_ratio:")
    for note in [f"The {r} was {ds.report.subsampled}." for r, ds in (("source", source), ("target", target))
                 if ds.report.subsampled]:  # DA_MAX_MEMORY: every page that loads the pair says it subsampled
        st.caption(f":material/memory: {note}")
    return src, tgt, alignment


def pair_caption() -> None:
    """One line naming the current pair, for the top of every page."""
    init_state()
    st.caption(f"Source `{st.session_state['source_spec']}` → target `{st.session_state['target_spec']}`")


# ---------------------------------------------------------------------------------------- widgets
def param_widget(p: Param, key: str, container: Any = st) -> Any:
    """A widget for one declared parameter (type, range and choices come from the registry)."""
    label = p.name.replace("_", " ")
    kwargs: dict[str, Any] = {"help": p.help}
    if p.choices is not None:
        return widget(container.selectbox, label, key, p.default, options=list(p.choices), **kwargs)
    if p.kind is bool:
        return widget(container.checkbox, label, key, p.default, **kwargs)
    if p.kind is int and p.min is not None and p.max is not None and p.max - p.min <= 10:
        return widget(container.slider, label, key, p.default, min_value=int(p.min), max_value=int(p.max), **kwargs)
    if p.kind in (int, float):
        if p.min is not None:
            kwargs["min_value"] = p.kind(p.min)
        if p.max is not None:
            kwargs["max_value"] = p.kind(p.max)
        if p.kind is int:
            kwargs["step"] = 1
        return widget(container.number_input, label + ("" if p.default is not None else " (empty = all)"), key,
                      p.default, **kwargs)
    return widget(container.text_input, label, key, p.default, **kwargs)


KINDS = ("Built-in", "torchvision (local files)", "Folder", "ZIP upload", "Text file upload (CSV/JSONL)", "Spec string")


def spec_builder(role: str, shared: dict[str, Any]) -> str | None:
    """Widgets that compose a dataset spec for ``role``; ``shared`` options (seed, size) apply to both."""
    from da_core.data import sources
    from da_core.errors import DAError

    current = st.session_state[f"{role}_spec"]
    default_kind = "Built-in" if current.startswith("builtin:") else "Spec string"
    kind = widget(st.selectbox, "Kind", f"{role}_kind", default_kind, options=KINDS)
    options: dict[str, Any] = {}
    if kind in ("Built-in", "torchvision (local files)"):
        scheme = "builtin" if kind == "Built-in" else "torchvision"
        entries = {s.name: s for s in sources(scheme)}
        default_name = current.split(":", 1)[1].split("?", 1)[0] if current.startswith(scheme + ":") else None
        described = "\n\n".join(f"**{k}**: {s.summary}" for k, s in entries.items())
        name = widget(st.selectbox, "Dataset", f"{role}_{scheme}_name",
                      default_name if default_name in entries else next(iter(entries)), options=list(entries),
                      help=described)
        src = entries[name]
        st.caption(src.summary)
        for p in src.params:
            if p.name in shared:
                continue
            if scheme == "torchvision" and p.name == "download":
                st.caption("Download needs the network; leave it off to read files already under root.")
            options[p.name] = param_widget(p, f"{role}_{scheme}_{name}_{p.name}")
        spec = DatasetSpec(scheme, name, {})
        src_params = {p.name for p in src.params}
    elif kind == "Folder":
        path = widget(st.text_input, "Folder path (one sub-folder per class)", f"{role}_folder", "",
                      help="Must lie inside DA_DATA_ROOT when that variable is set.")
        if not path:
            st.info("Enter a folder path to load it.")
            return None
        spec, src_params = DatasetSpec("folder", path, {}), {"n", "seed", "size"}
    elif kind == "ZIP upload":
        upload = st.file_uploader("ZIP of class folders", type=["zip"], key=f"{role}_zip")
        if upload is None:
            st.info("Upload a ZIP with one folder per class (size capped by the server).")
            return None
        from da_core.data.files import save_upload

        try:
            stored = str(save_upload(upload.getvalue()))  # under the cache: size-capped, content-addressed
        except DAError as exc:
            st.error(str(exc))
            return None
        spec, src_params = DatasetSpec("zip", stored, {}), {"n", "seed", "size"}
    elif kind == KINDS[4]:  # the text upload lays out its own column choices
        from pages._datasets_text import upload_spec
        return upload_spec(role, shared)
    else:
        text = widget(st.text_input, "Spec", f"{role}_spec_text", current,
                      help="e.g. builtin:corrupted-digits?kind=blur&severity=4, folder:PATH or csv:PATH?text=COL")
        try:
            from da_core.data import parse_spec

            return str(parse_spec(text))
        except DAError as exc:
            st.error(str(exc))
            return None
    for key, value in shared.items():
        if key in src_params and value is not None:
            options[key] = value
    return str(spec.with_options(**{k: v for k, v in options.items() if v not in (None, "")}))

