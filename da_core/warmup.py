"""The one-time work behind a first visit, done before anyone waits for it (``python -m da_core warmup``).

A first visit to the Datasets and Gap map pages on the default pair used to pay for everything at once:
generating both built-ins, pretraining digits-cnn, embedding both domains, the UMAP engine's first call
(umap-learn's numba compilation) and the gap metrics with their permutation test and bootstrap.
:func:`prepare` does that work for one pair, step by step:

1. ``datasets``   load (generate on first use) both domains into ``DA_CACHE_DIR/datasets``;
2. ``model``      load (pretrain on first use) digits-cnn into ``DA_CACHE_DIR/models``;
3. ``embeddings`` embed both domains exactly as the Gap map page asks (digits-cnn, 2,000 per domain, seed 0),
                  so the page's request hits the embedding disk cache;
4. ``map``        the page's default UMAP map, kept on disk under ``DA_CACHE_DIR/maps``; with ``umap="compile"``
                  (set-up) umap-learn is first compiled into numba's disk cache on a CPU, where "auto" then
                  prefers it (a server's warm-up draws with "auto" and leaves the compile to later);
5. ``metrics``    the gap metrics of those embeddings, kept on disk under ``DA_CACHE_DIR/gap`` by the exact
                  inputs (the vectors, labels, seed, test sizes and the metric code itself).

``make run`` runs the command before the server starts (quick when everything is cached); the app runs the
same steps in a background thread (:func:`start_background`) so a server started another way is prepared too.
Progress goes to a record any thread can read (:func:`status`); pages poll it to show "step 2/5" instead of
freezing.  Nothing here imports streamlit, and importing this module is cheap (no torch).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from da_core.config import DEFAULT_SOURCE, DEFAULT_TARGET

log = logging.getLogger(__name__)

STEPS: tuple[tuple[str, str], ...] = (
    ("datasets", "loading the two datasets (generated on first use)"),
    ("model", "loading digits-cnn (pretrained on first use)"),
    ("embeddings", "embedding both domains with digits-cnn"),
    ("map", "drawing the UMAP map (the engine compiles on first use)"),
    ("metrics", "measuring the gap (permutation test, bootstrap intervals)"),
)
STEP_NAMES = tuple(name for name, _ in STEPS)
# What the Gap map page asks for before anyone touches a widget (pages/gap.py); the keys of memo_entries follow it.
GAP_DEFAULTS: dict[str, Any] = {"embedder": "digits-cnn", "max_samples": 2000, "seed": 0}
MAP_DEFAULTS: dict[str, Any] = {"n_components": 2, "n_neighbors": 15, "min_dist": 0.1, "engine": "auto"}
GAP_CACHE_VERSION = "1"
UMAP_MODES = ("compile", "map", "skip")
POLL_S = 2.0  # how often a waiting page reads the progress (each read costs the busy worker some CPU time)
AFTER_DELAY_S = 10.0  # between the preparation and the other warm-ups (umap-learn's compile is CPU-heavy)
Progress = Callable[[float, str], None]


# ----------------------------------------------------------------------------------- progress record


@dataclass(frozen=True)
class Status:
    """A snapshot of the preparation: ``state`` is idle, running, done or failed."""

    state: str = "idle"
    done: frozenset[str] = frozenset()
    step: int = 0  # index into STEPS of the step under way (len(STEPS) when all are done)
    fraction: float = 0.0  # within that step
    message: str = ""
    error: str = ""
    started: float = 0.0
    seconds: float = 0.0

    @property
    def overall(self) -> float:
        """Share of the whole preparation done, in [0, 1]."""
        if self.state == "done":
            return 1.0
        return min(1.0, (len(self.done) + min(max(self.fraction, 0.0), 1.0)) / len(STEPS))

    def ready(self, needs: Iterable[str] = STEP_NAMES) -> bool:
        """Whether a page needing the steps ``needs`` can go ahead: they are done, or nothing is under way."""
        return self.state != "running" or set(needs) <= self.done

    def line(self) -> str:
        """One sentence for a page: "Preparing the default pair: step 2/5, loading digits-cnn … (40%)"."""
        if self.state == "running":
            i = min(self.step, len(STEPS) - 1)
            detail = f": {self.message}" if self.message else ""
            return (f"Preparing the default pair: step {i + 1}/{len(STEPS)}, {STEPS[i][1]}{detail} "
                    f"({self.overall:.0%} in all, {time.time() - self.started:.0f} s so far)")
        if self.state == "done":
            return f"The default pair is prepared (in {self.seconds:.0f} s)."
        if self.state == "failed":
            return f"Preparing the default pair failed: {self.error}. Pages compute what they need themselves."
        return "The default pair has not been prepared in this process."


class Tracker:
    """The thread-safe progress record :func:`prepare` writes and pages read (through :func:`status`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._status = Status()

    def snapshot(self) -> Status:
        with self._lock:
            return self._status

    def _set(self, **changes: Any) -> None:
        with self._lock:
            self._status = dataclasses.replace(self._status, **changes)

    def begin(self) -> None:
        self._set(state="running", done=frozenset(), step=0, fraction=0.0, message="", error="",
                  started=time.time(), seconds=0.0)

    def enter(self, name: str) -> None:
        self._set(step=STEP_NAMES.index(name), fraction=0.0, message="")

    def update(self, fraction: float, message: str) -> None:
        self._set(fraction=float(fraction), message=str(message))

    def complete(self, name: str) -> None:
        with self._lock:
            s = self._status
            self._status = dataclasses.replace(s, done=s.done | {name}, fraction=0.0, message="",
                                               step=min(STEP_NAMES.index(name) + 1, len(STEPS)))

    def succeed(self) -> None:
        self._set(state="done", step=len(STEPS), fraction=0.0, message="",
                  seconds=time.time() - self.snapshot().started)

    def fail(self, error: BaseException) -> None:
        from da_core.errors import DAError

        text = str(error) if isinstance(error, DAError) and str(error) else f"{type(error).__name__}: {error}"
        self._set(state="failed", error=text, seconds=time.time() - self.snapshot().started)


TRACKER = Tracker()


def status() -> Status:
    """The preparation's progress in this process (idle when it never started, e.g. with DA_WARM_UP=0)."""
    return TRACKER.snapshot()


# ----------------------------------------------------------------------------------------- the work


@dataclass
class StepReport:
    """How one step went: seconds, and the cache files it wrote (none: everything came from the cache)."""

    name: str
    seconds: float
    files_written: int
    note: str = ""

    @property
    def cached(self) -> bool:
        return self.files_written == 0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "seconds": round(self.seconds, 3), "files_written": self.files_written,
                "cached": self.cached, "note": self.note}


@dataclass
class Prepared:
    """What :func:`prepare` made, as the pages use it (parts not yet made are None)."""

    source_spec: str
    target_spec: str
    source: Any = None  # the datasets as loaded (what pages/_ui.load caches)
    target: Any = None
    pair: tuple[Any, Any, Any] | None = None  # after class/shape alignment (what the pages compute on)
    embedded: Any = None  # gap_workflow.EmbeddedPair
    map: Any = None  # reduce.MapResult
    analysis: Any = None  # gap_workflow.GapAnalysis
    steps: list[StepReport] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.steps)


def _cache_files() -> set[str]:
    from da_core import config

    root = config.cache_dir()
    out = set()
    for folder, _, files in os.walk(root):
        out.update(os.path.join(folder, f) for f in files if not f.startswith("."))
    return out


def prepare(source: str = DEFAULT_SOURCE, target: str = DEFAULT_TARGET, *, umap: str = "compile",
            progress: Progress | None = None, on_step: Callable[[str, Prepared], None] | None = None,
            tracker: Tracker | None = None, import_torchvision: bool = False) -> Prepared:
    """Do the one-time work for the pair (see the module docstring); idempotent, quick when all is cached.

    ``umap``: "compile" (set-up: compile umap-learn where "auto" will use it, then the default map), "map"
    (the default map with the "auto" engine) or "skip".  ``progress(fraction, message)`` gets the overall
    progress; ``on_step(name, prepared)`` runs after each step, before the step counts as done in the record
    (the app publishes the results to its page caches there).
    ``import_torchvision``: import it in the first step (a server: the pages waiting for that step would
    otherwise import it at the same moment, and two threads importing torchvision at once can see it half
    initialised).  Errors propagate (and mark the record failed).
    """
    if umap not in UMAP_MODES:
        raise ValueError(f"umap must be one of {', '.join(UMAP_MODES)}, got {umap!r}")
    from da_core.data import resolve

    tracker = tracker or TRACKER
    out = Prepared(str(resolve(source)[1]), str(resolve(target)[1]))
    tracker.begin()
    try:
        for i, (name, _label) in enumerate(STEPS):
            tracker.enter(name)

            def report(f: float, m: str, i: int = i, name: str = name) -> None:
                tracker.update(f, m)
                if progress is not None:
                    progress((i + min(max(float(f), 0.0), 1.0)) / len(STEPS), f"{name}: {m}")

            before = _cache_files()
            t = time.perf_counter()
            if name == "datasets" and import_torchvision:
                report(0.0, "importing torchvision")
                import torchvision.models  # noqa: F401
                import torchvision.transforms.v2  # noqa: F401
            note = _STEP_FUNCS[name](out, report, umap)
            written = len(_cache_files() - before)
            out.steps.append(StepReport(name, time.perf_counter() - t, written, note or ""))
            if on_step is not None:
                on_step(name, out)
            tracker.complete(name)
            if progress is not None:
                progress((i + 1) / len(STEPS), f"{name}: ready")
    except BaseException as exc:
        tracker.fail(exc)
        raise
    tracker.succeed()
    return out


def _step_datasets(out: Prepared, report: Progress, umap: str) -> str:
    from da_core.data import align_pair, load_dataset

    out.source = load_dataset(out.source_spec, progress=lambda f, m: report(0.5 * f, f"source: {m}"))
    out.target = load_dataset(out.target_spec, progress=lambda f, m: report(0.5 + 0.5 * f, f"target: {m}"))
    out.pair = align_pair(out.source, out.target)
    return f"{len(out.pair[0])} source + {len(out.pair[1])} target samples"


def _step_model(out: Prepared, report: Progress, umap: str) -> str:
    from da_core.models import load_digits_cnn

    info = load_digits_cnn(progress=report)[1]
    return f"held-out source accuracy {info.source_accuracy:.3f}"


def _step_embeddings(out: Prepared, report: Progress, umap: str) -> str:
    from da_core.gap_workflow import embed_for_gap

    src, tgt, _ = out.pair
    g = GAP_DEFAULTS
    out.embedded = embed_for_gap(src, tgt, g["embedder"], g["max_samples"], g["seed"], progress=report)
    return f"{len(out.embedded.xs)} + {len(out.embedded.xt)} vectors ({out.embedded.device})"


def _step_map(out: Prepared, report: Progress, umap: str) -> str:
    """The page's default map, kept on disk; with "compile", umap-learn's JIT code first (see the module doc)."""
    import numpy as np

    from da_core import reduce

    if umap == "skip":
        return "skipped"
    points = np.concatenate([out.embedded.xs, out.embedded.xt])
    m = MAP_DEFAULTS
    # umap-learn is compiled only where "auto" then prefers it: a CPU machine with it installed
    compile_now = (umap == "compile" and not reduce.available_engines().get("umap-learn")
                   and not reduce._cuda_available() and not reduce.umap_learn_compiled())
    path = _map_cache_path(points)
    if not compile_now and path is not None and path.exists():
        try:
            out.map = _read_map(path)
            report(1.0, "read from the disk cache")
            return f"{out.map.engine} map from the disk cache"
        except Exception:  # noqa: BLE001 - damaged or from another version: draw it again
            log.info("map cache %s unusable; recomputing", path)
    out.map = reduce.reduce(points, "umap", n_components=m["n_components"], n_neighbors=m["n_neighbors"],
                            min_dist=m["min_dist"], seed=GAP_DEFAULTS["seed"],
                            engine="umap-learn" if compile_now else m["engine"], progress=report)
    if path is not None:
        _write_map(path, out.map)
    done = f"{out.map.engine} map in {out.map.seconds:.1f} s"
    return f"umap-learn compiled into {reduce.numba_cache_dir()}; {done}" if compile_now else done


def _step_metrics(out: Prepared, report: Progress, umap: str) -> str:
    out.analysis = cached_measure_gap(out.embedded, GAP_DEFAULTS["seed"], progress=report)
    mmd = out.analysis.metrics.get("mmd2")
    return "" if mmd is None else f"MMD² {mmd.value:.4g} (p = {mmd.p_value:.3g})"


_STEP_FUNCS: dict[str, Callable[[Prepared, Progress, str], str]] = {
    "datasets": _step_datasets, "model": _step_model, "embeddings": _step_embeddings, "map": _step_map,
    "metrics": _step_metrics}


# --------------------------------------------------------------- disk caches: gap metrics, default map


def _digest(parts: Iterable[Any]) -> str:
    """A content key: strings, bytes and numpy arrays (dtype, shape and bytes) in order."""
    import numpy as np

    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        if isinstance(part, np.ndarray):
            a = np.ascontiguousarray(part)
            h.update(f"{a.dtype}{a.shape}".encode())
            h.update(a.tobytes())
        else:
            h.update(part if isinstance(part, bytes) else str(part).encode())
        h.update(b"\x00")
    return h.hexdigest()


def _cache_file(kind: str, key: str, suffix: str) -> Path | None:
    from da_core import config

    folder = config.cache_subdir(kind)
    return None if folder is None else folder / f"{key}{suffix}"


def _gap_cache_path(pair: Any, seed: int, n_permutations: int, n_boot: int) -> Path | None:
    """Where the metrics of these exact inputs are kept (None when the cache folder cannot be used)."""
    here = Path(__file__).resolve().parent
    key = _digest([GAP_CACHE_VERSION, (here / "gap.py").read_bytes(), (here / "gap_workflow.py").read_bytes(),
                   json.dumps([pair.embedder, list(pair.source.classes), seed, n_permutations, n_boot,
                               _cuda_in_use()]),
                   pair.xs, pair.xt, pair.source.labels.numpy(), pair.target.labels.numpy()])
    return _cache_file("gap", key, ".json")


def _map_cache_path(points: Any) -> Path | None:
    """Where the default map of these points is kept."""
    here = Path(__file__).resolve().parent
    key = _digest([GAP_CACHE_VERSION, (here / "reduce.py").read_bytes(),
                   json.dumps([MAP_DEFAULTS, GAP_DEFAULTS["seed"], _cuda_in_use()], sort_keys=True), points])
    return _cache_file("maps", key, ".npz")


def _write_map(path: Path, result: Any) -> None:
    import numpy as np

    from da_core import config

    meta = json.dumps({"engine": result.engine, "seconds": result.seconds, "params": result.params}, default=_plain)
    config.write_cache_file(path, lambda tmp: np.savez(tmp, coords=result.coords, meta=np.array(meta)))


def _read_map(path: Path) -> Any:
    import numpy as np

    from da_core.reduce import MapResult

    with np.load(path, allow_pickle=False) as z:
        coords, meta = z["coords"], json.loads(str(z["meta"]))
    if coords.ndim != 2 or coords.shape[1] != MAP_DEFAULTS["n_components"] or not np.isfinite(coords).all():
        raise ValueError(f"unexpected map in {path}: shape {coords.shape}")
    return MapResult(coords.astype(np.float32, copy=False), meta["engine"], float(meta["seconds"]), meta["params"])


def _cuda_in_use() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _plain(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # numpy scalars and arrays
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def cached_measure_gap(pair: Any, seed: int = 0, n_permutations: int = 200, n_boot: int = 200,
                       progress: Progress | None = None) -> Any:
    """:func:`da_core.gap_workflow.measure_gap`, kept on disk by its exact inputs: a repeat reads the numbers back.

    The file is private JSON (NaN kept as NaN, so a reread analysis equals the computed one); a damaged or
    stale file is recomputed.
    """
    from da_core import config
    from da_core.gap import MetricResult
    from da_core.gap_workflow import GapAnalysis, measure_gap

    path = _gap_cache_path(pair, seed, n_permutations, n_boot)
    if path is not None and path.exists():
        try:
            blob = json.loads(path.read_text())
            metrics = {name: MetricResult(**{**d, "ci": tuple(d["ci"])}) for name, d in blob["metrics"].items()}
            if progress is not None:
                progress(1.0, "read from the disk cache")
            return GapAnalysis(pair.embedder, pair.device, pair.source, pair.target, pair.xs, pair.xt, metrics,
                               blob["per_class"], blob["probe"], blob["seconds"])
        except Exception:  # noqa: BLE001 - damaged or from another version: recompute
            log.info("gap cache %s unusable; recomputing", path)
    analysis = measure_gap(pair, seed, n_permutations, n_boot, progress=progress)
    if path is not None:
        blob = {"metrics": {name: dataclasses.asdict(r) for name, r in analysis.metrics.items()},
                "per_class": analysis.per_class, "probe": analysis.probe, "seconds": analysis.seconds}
        text = json.dumps(blob, default=_plain)
        config.write_cache_file(path, lambda tmp: tmp.write_text(text))
    return analysis


# --------------------------------------------------------------------------------- the app's side


def memo_entries(prepared: Prepared) -> list[tuple[str, str, Any]]:
    """(kind, key, value) for the app's process-wide page cache (``pages/_ui.memo``), built the way the pages
    build their keys: ``pages/_ui.load`` for datasets, ``pages/gap.py`` for embeddings, the analysis and the map.
    Only the parts already made are listed."""
    out: list[tuple[str, str, Any]] = []
    if prepared.source is not None:
        out += [("dataset", prepared.source_spec, prepared.source), ("dataset", prepared.target_spec, prepared.target)]
    if prepared.embedded is None or prepared.pair is None:
        return out
    from da_core.gap_workflow import gap_key, map_key

    src, tgt, _ = prepared.pair
    g, m = GAP_DEFAULTS, MAP_DEFAULTS
    key = gap_key(src, tgt, g["embedder"], g["max_samples"], g["seed"])
    out.append(("embedding", key, prepared.embedded))
    if prepared.analysis is not None:
        out.append(("analysis", key, prepared.analysis))
    if prepared.map is not None:
        out.append(("map", map_key(key, m["n_components"], m["n_neighbors"], m["min_dist"], m["engine"]),
                    prepared.map))
    return out


_BG_LOCK = threading.Lock()
_BG_THREAD: threading.Thread | None = None


def start_background(source: str = DEFAULT_SOURCE, target: str = DEFAULT_TARGET,
                     publish: Callable[[list[tuple[str, str, Any]]], None] | None = None,
                     after: Sequence[Callable[[], Any]] = (), after_delay: float = AFTER_DELAY_S) -> threading.Thread:
    """Once per process: a daemon thread that runs :func:`prepare` (drawing the default map), hands each step's
    :func:`memo_entries` to ``publish`` before the step counts as done, then, ``after_delay`` seconds later (the
    pages that waited draw first, without competing for the CPU), calls each of ``after`` (other warm-ups).
    Later calls return the same thread.  Errors are logged and recorded in :func:`status`."""
    global _BG_THREAD
    with _BG_LOCK:
        if _BG_THREAD is not None:
            return _BG_THREAD

        def body() -> None:
            try:
                prepared = prepare(source, target, umap="map", import_torchvision=True,
                                   on_step=(lambda _name, p: publish(memo_entries(p))) if publish else None)
                log.info("prepared the default pair in %.1f s: %s", prepared.seconds,
                         ", ".join(f"{s.name} {s.seconds:.1f} s" for s in prepared.steps))
            except BaseException as exc:  # noqa: BLE001 - a failed warm-up must never take the app down
                log.warning("preparing the default pair failed: %s", exc)
            if after:
                time.sleep(after_delay)
            for fn in after:
                try:
                    fn()
                except Exception as exc:  # noqa: BLE001
                    log.warning("warm-up %s failed: %s", getattr(fn, "__qualname__", fn), exc)

        _BG_THREAD = threading.Thread(target=body, name="da-warm-up", daemon=True)
        _BG_THREAD.start()
        return _BG_THREAD


# ------------------------------------------------------------------------------------ command line


def _cmd_warmup(args: argparse.Namespace) -> int:
    from da_core import config
    from da_core.cliutil import print_result, stderr_progress

    progress = None if args.json or args.quiet else stderr_progress
    t = time.perf_counter()
    prepared = prepare(args.source, args.target, umap="skip" if args.no_umap else "compile", progress=progress)
    total = time.perf_counter() - t
    data = {"source": prepared.source_spec, "target": prepared.target_spec, "cache_dir": str(config.cache_dir()),
            "seconds": round(total, 3), "steps": [s.to_dict() for s in prepared.steps]}
    lines = [f"{'step':<12}{'seconds':>8}  what"]
    for s in prepared.steps:
        where = "from the cache" if s.cached else f"{s.files_written} cache file{'s' * (s.files_written != 1)} written"
        lines.append(f"{s.name:<12}{s.seconds:>8.1f}  {where}; {s.note}" if s.note else
                     f"{s.name:<12}{s.seconds:>8.1f}  {where}")
    lines.append(f"prepared {prepared.source_spec} -> {prepared.target_spec} in {total:.1f} s "
                 f"(cache: {config.cache_dir()})")
    print_result(data, args.json, "\n".join(lines))
    return 0


def register(sub: Any) -> None:
    """Add the ``warmup`` sub-command."""
    p = sub.add_parser("warmup", help="do the one-time work for a pair now (what `make run` does first)",
                       description="Generate the two datasets, pretrain digits-cnn, embed both domains, compile the "
                                   "UMAP engine and measure the gap, all into DA_CACHE_DIR, so the first page "
                                   "visit does not wait. Quick when everything is cached.")
    p.add_argument("--source", default=DEFAULT_SOURCE, help="source dataset spec")
    p.add_argument("--target", default=DEFAULT_TARGET, help="target dataset spec")
    p.add_argument("--no-umap", action="store_true", help="skip compiling the UMAP engine")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_warmup)
