"""Streamlit helpers shared by the pages: the chosen source/target pair, cached loading with progress,
and widgets built from registry metadata.  No numerical work here: that lives in ``da_core``."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import streamlit as st

from da_core.config import DEFAULT_SOURCE, DEFAULT_TARGET
from da_core.data.spec import DatasetSpec, Param

ROLES = ("source", "target")

# ----------------------------------------------------------------------------------- session state


_ROUTED = False


def _route_through_app() -> None:
    """Send a deep link that arrives first after a server start through ``app.py``.

    Streamlit decides per server whether it is an old-style multipage app from the mere presence of a
    ``pages/`` folder, until ``st.navigation`` has run once; a first request for ``/datasets`` would run
    the page file alone (no page config, no navigation).  Clearing that flag and rerunning routes the
    request through ``app.py`` to the same page.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # pragma: no cover - internal module moved
        return
    global _ROUTED
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        if not _ROUTED:  # once per process is enough (AppTest resets the flag before every run)
            _ROUTED = True
            st.rerun()


def init_state() -> None:
    """Make sure the shared pair exists in the session (the defaults load with no clicks)."""
    _route_through_app()
    st.session_state.setdefault("source_spec", DEFAULT_SOURCE)
    st.session_state.setdefault("target_spec", DEFAULT_TARGET)
    st.session_state.setdefault("_widget_memory", {})


def remember(key: str, default: Any) -> None:
    """Restore a widget's value after a page switch (Streamlit drops state of widgets not rendered)."""
    memory = st.session_state["_widget_memory"]
    if key not in st.session_state:
        st.session_state[key] = memory.get(key, default)


def store(key: str) -> None:
    """Keep a widget's current value so :func:`remember` can restore it on another visit."""
    st.session_state["_widget_memory"][key] = st.session_state.get(key)


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


def load_pair() -> tuple[Any, Any, Any] | None:
    """Load the session's source and target with their shared classes and one image shape (see
    :func:`da_core.data.align_pair`); says what was converted; shows errors and returns None on failure."""
    from da_core.data import align_pair, describe_alignment
    from da_core.errors import DAError

    init_state()
    try:
        source = load(st.session_state["source_spec"], "source")
        target = load(st.session_state["target_spec"], "target")
        if source.shape == target.shape and source.classes == target.classes:
            src, tgt, alignment = align_pair(source, target)  # nothing to convert: instant
        else:
            src, tgt, alignment = memo("pair", f"{source.fingerprint}|{target.fingerprint}",
                                       lambda _progress: align_pair(source, target),
                                       "Computing one class set and image shape for both domains")
    except DAError as exc:
        st.error(f"**Cannot load the dataset pair.** {exc}")
        return None
    if alignment.converted:
        st.info(describe_alignment(alignment), icon=":material/aspect_ratio:")
    return src, tgt, alignment


def pair_caption() -> None:
    """One line naming the current pair, for the top of every page."""
    init_state()
    st.caption(f"Source `{st.session_state['source_spec']}` → target `{st.session_state['target_spec']}`")


# ---------------------------------------------------------------------------------------- widgets


def param_widget(p: Param, key: str, container: Any = st) -> Any:
    """A widget for one declared parameter (type, range and choices come from the registry)."""
    remember(key, p.default)
    label = p.name.replace("_", " ")
    if p.choices is not None:
        value = container.selectbox(label, list(p.choices), key=key, help=p.help)
    elif p.kind is bool:
        value = container.checkbox(label, key=key, help=p.help)
    elif p.kind in (int, float) and p.min is not None and p.max is not None and p.kind is int and p.max - p.min <= 10:
        value = container.slider(label, int(p.min), int(p.max), key=key, help=p.help)
    elif p.kind in (int, float):
        kwargs: dict[str, Any] = {"help": p.help, "key": key}
        if p.min is not None:
            kwargs["min_value"] = p.kind(p.min)
        if p.max is not None:
            kwargs["max_value"] = p.kind(p.max)
        if p.kind is int:
            kwargs["step"] = 1
        value = container.number_input(label + ("" if p.default is not None else " (empty = all)"), **kwargs)
    else:
        value = container.text_input(label, key=key, help=p.help)
    store(key)
    return value


KINDS = ("Built-in", "torchvision (local files)", "Folder", "ZIP upload", "Spec string")


def spec_builder(role: str, shared: dict[str, Any]) -> str | None:
    """Widgets that compose a dataset spec for ``role``; ``shared`` options (seed, size) apply to both."""
    from da_core.data import sources
    from da_core.errors import DAError

    current = st.session_state[f"{role}_spec"]
    default_kind = "Built-in" if current.startswith("builtin:") else "Spec string"
    remember(f"{role}_kind", default_kind)
    kind = st.selectbox("Kind", KINDS, key=f"{role}_kind")
    store(f"{role}_kind")
    options: dict[str, Any] = {}
    if kind in ("Built-in", "torchvision (local files)"):
        scheme = "builtin" if kind == "Built-in" else "torchvision"
        entries = {s.name: s for s in sources(scheme)}
        default_name = current.split(":", 1)[1].split("?", 1)[0] if current.startswith(scheme + ":") else None
        remember(f"{role}_{scheme}_name", default_name if default_name in entries else next(iter(entries)))
        described = "\n\n".join(f"**{k}**: {s.summary}" for k, s in entries.items())
        name = st.selectbox("Dataset", list(entries), key=f"{role}_{scheme}_name", help=described)
        store(f"{role}_{scheme}_name")
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
        remember(f"{role}_folder", "")
        path = st.text_input("Folder path (one sub-folder per class)", key=f"{role}_folder",
                             help="Must lie inside DA_DATA_ROOT when that variable is set.")
        store(f"{role}_folder")
        if not path:
            st.info("Enter a folder path to load it.")
            return None
        spec, src_params = DatasetSpec("folder", path, {}), {"n", "seed", "size"}
    elif kind == "ZIP upload":
        upload = st.file_uploader("ZIP of class folders", type=["zip"], key=f"{role}_zip")
        if upload is None:
            st.info("Upload a ZIP with one folder per class (size capped by the server).")
            return None
        try:
            stored = _save_upload(upload.getvalue())
        except DAError as exc:
            st.error(str(exc))
            return None
        spec, src_params = DatasetSpec("zip", stored, {}), {"n", "seed", "size"}
    else:
        remember(f"{role}_spec_text", current)
        text = st.text_input("Spec", key=f"{role}_spec_text",
                             help="e.g. builtin:corrupted-digits?kind=blur&severity=4 or folder:PATH")
        store(f"{role}_spec_text")
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


def _save_upload(data: bytes) -> str:
    """Store an uploaded archive under the cache (size-capped, content-addressed) and return its path."""
    from da_core.data.files import save_upload

    return str(save_upload(data))


# ------------------------------------------------------------------------------------------ run history


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
