"""2-D/3-D maps of embeddings: PCA (instant) and UMAP through the fastest engine this machine has.

``reduce(x, "umap")`` with ``engine="auto"`` tries, in order:

1. **cuml** — RAPIDS cuML on an NVIDIA GPU (only when ``cuml`` imports and CUDA is available).
2. **torchdr** — TorchDR's PyTorch UMAP, on the GPU when there is one, else on the CPU.  Neighbours are exact
   (``backend=None``: one dense n x n distance matrix, about 12 bytes per pair at its peak), so it is used for
   up to :data:`TORCHDR_EXACT_MAX_CPU` points on the CPU (time: ~10 s at 10k on 2 cores) and on a GPU up to what
   its free memory holds, at most :data:`TORCHDR_EXACT_MAX` (46k points: 1.3 s on an H100).
   No JIT compilation.  4k points x 784 on 2 CPU cores: first map in a fresh process ~11-13 s (importing torch
   and torchdr is ~6 s of it), then ~3.6-4 s; on an H100 ~10 s first (CUDA start-up), then 0.85 s.
3. **umap-learn** — the reference implementation (numba).  Its JIT compilation costs 25-45 s in a new process
   on 2 cores; we keep numba's compiled code on disk under ``cache_dir()/numba`` so that cost is paid once per
   machine, and we hand it exact neighbours (:func:`da_core.neighbours.search`: faiss or torch) for up to
   :data:`UMAP_LEARN_EXACT_KNN_MAX` points (umap-learn's own path for fewer than 4,096 points calls a numba
   metric from Python once per pair: about 30 s for 4k points), beyond that its own NN-descent.  4k points on
   2 cores: ~45-50 s first map with an empty numba cache, ~9 s in a fresh process once the cache is warm, then
   ~2 s.

Reproducibility: ``pca`` and ``torchdr`` give the same coordinates for the same seed on the same device
(torchdr runs under a private copy of torch's RNG seeded with ``seed``; global RNG state is left alone).
``umap-learn`` runs its parallel optimiser (``random_state=None``): about 1.8x faster on 2 cores, but each run
differs slightly; ``cuml`` is seeded.  :func:`warm_up` starts a background fit so the first real map is fast.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from da_core import neighbours
from da_core.errors import DAError

log = logging.getLogger(__name__)

ArrayLike = Any  # numpy array or torch tensor of shape (n, d)
Progress = Callable[[float, str], None]  # progress(fraction in [0, 1], message)

METHODS = ("umap", "pca")
ENGINES = ("cuml", "torchdr", "umap-learn")  # the order "auto" tries them in
UMAP_EPOCHS = 200  # umap-learn and cuML epochs (umap-learn's own default for fewer than 10k points is 500)
TORCHDR_ITERS_CPU = 200  # torchdr iterations on the CPU: ~17 ms each for 4k points on 2 cores
TORCHDR_ITERS_GPU = 500  # iterations are cheap on a GPU; more of them tighten the clusters
TORCHDR_EXACT_MAX_CPU = 10_000  # 10k points: ~3.5 s for the distance matrix, ~2.2 GB, ~10 s in all on 2 cores
TORCHDR_EXACT_MAX = 46_000  # torchdr 0.5 with backend=None fails above ~46,340 points (n² > 2³¹: "bincount only
# supports 1-d non-negative integral inputs" in its symmetrisation); 46k took 1.3 s and 24 GiB on an H100
TORCHDR_PAIR_BYTES = 12  # peak bytes per point pair of torchdr's dense kNN (distances, diagonal mask, sum)
UMAP_LEARN_EXACT_KNN_MAX = 8_192  # exact torch kNN for umap-learn up to here (~2.5 s on 2 cores at 784 dims)
SMALL_FIT_POINTS = 1_000  # torchdr fits below this run on one CPU thread (faster, and kind to a shared CPU)
MIN_POINTS_UMAP = 5
WARM_UP_POINTS = 300


class ReduceError(DAError, ValueError):
    """Input unfit for a map: wrong shape, NaN/inf, too few points, unknown method or parameters."""


class EngineUnavailable(DAError):
    """The UMAP engine asked for cannot run here (its package is missing, or it needs a GPU)."""


@dataclass
class MapResult:
    """A map: ``coords`` (n x k float32), the engine that made it, wall seconds and the parameters used."""

    coords: np.ndarray
    engine: str
    seconds: float
    params: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------- engines


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def available_engines() -> dict[str, str | None]:
    """Each UMAP engine -> None when it can run here, else the reason it cannot (shown on the page).

    Cheap: looks packages up without importing them (an engine that is installed but broken is reported
    by :func:`reduce` when it fails to import).
    """
    out: dict[str, str | None] = {}
    if not _has_module("cuml"):
        out["cuml"] = "package 'cuml' is not installed (RAPIDS cuML; needs an NVIDIA GPU)"
    elif not _cuda_available():
        out["cuml"] = "no CUDA GPU available"
    else:
        out["cuml"] = None
    out["torchdr"] = None if _has_module("torchdr") else "package 'torchdr' is not installed (pip install torchdr)"
    out["umap-learn"] = (None if _has_module("umap")
                         else "package 'umap-learn' is not installed (pip install umap-learn)")
    return out


def _resolve_device(device: Any) -> Any:
    """``"auto"``: CUDA when available, else the CPU (torchdr's kernels are not all on MPS); else as given."""
    import torch

    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise EngineUnavailable(f"device {str(device)!r} was asked for but CUDA is not available")
    return dev


def _free_bytes(dev: Any) -> int:
    """Memory free for one dense computation on ``dev`` (GPU: free device memory; CPU: available RAM)."""
    import torch

    if dev.type == "cuda":
        return int(torch.cuda.mem_get_info(dev)[0])
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def torchdr_exact_limit(dev: Any) -> int:
    """Most points torchdr's exact (dense) kNN takes on ``dev``: by time on a CPU, by free memory on a GPU,
    and never more than :data:`TORCHDR_EXACT_MAX` (torchdr 0.5 fails beyond, see there)."""
    by_memory = int(math.sqrt(0.5 * _free_bytes(dev) / TORCHDR_PAIR_BYTES))
    limit = min(TORCHDR_EXACT_MAX, by_memory)
    return limit if dev.type == "cuda" else min(TORCHDR_EXACT_MAX_CPU, limit)


# ------------------------------------------------------------------------------------------- input


def _as_tensor(x: ArrayLike) -> Any:
    """x as a float32 2-D torch tensor (kept on its device), checked for shape and finiteness."""
    import torch

    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise ReduceError(f"points must be an n x d array: {exc}") from None
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise ReduceError(f"points must be numeric, got dtype {arr.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if t.ndim != 2:
        raise ReduceError(f"points must be a 2-D array (n points x d features), got shape {tuple(t.shape)}")
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ReduceError(f"points are empty (shape {tuple(t.shape)})")
    t = t.to(torch.float32).contiguous()
    if not bool(torch.isfinite(t).all()):
        raise ReduceError("points contain NaN or infinite values")
    return t


def _check_params(method: str, n_components: int, n_neighbors: int, min_dist: float, engine: str) -> None:
    if method not in METHODS:
        raise ReduceError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if n_components not in (2, 3):
        raise ReduceError(f"n_components must be 2 or 3, got {n_components!r}")
    if engine != "auto" and engine not in ENGINES:
        raise ReduceError(f"unknown engine {engine!r}; choose 'auto' or one of {', '.join(ENGINES)}")
    if method == "umap":
        if not isinstance(n_neighbors, (int, np.integer)) or n_neighbors < 2:
            raise ReduceError(f"n_neighbors must be an integer >= 2, got {n_neighbors!r}")
        if not 0.0 <= float(min_dist) <= 1.0:
            raise ReduceError(f"min_dist must lie in [0, 1], got {min_dist!r}")


# --------------------------------------------------------------------------------------------- PCA


def _pca(t: Any, k: int, seed: int) -> Any:
    """Top-k principal-component scores of t (a float32 tensor on any device), deterministic signs.

    d <= 128: eigen-decomposition of the d x d covariance (exact).  Larger d: a randomized range finder with
    power iterations (~20 ms for 4k x 784 instead of ~0.3 s for the covariance route; the top components agree
    to float precision), driven by a private generator seeded with ``seed`` (no global RNG touched).
    """
    import torch

    n, d = t.shape
    xc = t - t.mean(dim=0, keepdim=True)
    k_eff = min(k, d, n)
    if d <= 128 or n <= k_eff + 10:
        cov = (xc.T @ xc).double()
        _, vecs = torch.linalg.eigh(cov)  # ascending eigenvalues
        comps = vecs[:, -k_eff:].flip(1).to(torch.float32)
    else:
        gen = torch.Generator(device=t.device).manual_seed(int(seed))
        q = xc.T @ (xc @ torch.randn(d, k_eff + 10, generator=gen, device=t.device))
        for _ in range(3):  # power iterations sharpen the top of the spectrum
            q, _ = torch.linalg.qr(q)
            q = xc.T @ (xc @ q)
        q, _ = torch.linalg.qr(q)
        _, _, vh = torch.linalg.svd(xc @ q, full_matrices=False)
        comps = q @ vh.T[:, :k_eff]
    # svd_flip: make the largest-magnitude loading of each component positive
    idx = comps.abs().argmax(dim=0)
    signs = torch.sign(comps[idx, torch.arange(k_eff, device=comps.device)])
    signs[signs == 0] = 1
    scores = xc @ (comps * signs)
    if k_eff < k:  # fewer features/points than components: pad with zeros
        scores = torch.cat([scores, scores.new_zeros(n, k - k_eff)], dim=1)
    return scores


# --------------------------------------------------------------------------------------------- numba


_NUMBA_LOCK = threading.Lock()
_NUMBA_READY = False


def numba_cache_dir() -> str:
    """Where numba keeps compiled code: ``NUMBA_CACHE_DIR`` if the user set one, else ``cache_dir()/numba``
    (a folder in the system's temporary directory when the cache cannot be used: it is only an optimisation)."""
    import tempfile

    from da_core.config import cache_subdir

    if os.environ.get("NUMBA_CACHE_DIR"):
        return os.environ["NUMBA_CACHE_DIR"]
    folder = cache_subdir("numba")
    return str(folder) if folder is not None else os.path.join(tempfile.gettempdir(), "da-studio-numba")


_UMAP_LEARN_FITTED = False  # a umap-learn fit finished in this process: its JIT code is loaded
_UMAP_LEARN_COMPILING = False  # the background warm-up is compiling umap-learn right now


def umap_learn_compiled() -> bool:
    """True when umap-learn runs without a long compile: it already ran in this process, or numba's disk
    cache holds its compiled code (and no warm-up is compiling it at this moment)."""
    if _UMAP_LEARN_FITTED:
        return True
    if _UMAP_LEARN_COMPILING:
        return False
    folder = numba_cache_dir()
    if not os.path.isdir(folder):
        return False
    return any(entry.startswith("umap") and any(f.endswith(".nbi") for f in os.listdir(os.path.join(folder, entry)))
               for entry in os.listdir(folder) if os.path.isdir(os.path.join(folder, entry)))


def _prepare_umap_learn() -> Any:
    """Import umap-learn with numba's on-disk cache enabled for it and pynndescent; returns the umap module.

    NUMBA_CACHE_DIR must be set before numba is imported (numba reads it once); if numba is already loaded
    we also set its config so dispatchers created from now on use our folder.  Then every numba dispatcher
    in umap's and pynndescent's modules gets ``enable_caching()``: their lazily compiled functions are
    written to disk on first use and loaded from there by later processes (failures are tolerated: closures
    and functions with dynamic globals cannot be cached).
    """
    global _NUMBA_READY
    with _NUMBA_LOCK:
        if _NUMBA_READY:
            return sys.modules["umap"]
        path = numba_cache_dir()
        os.environ.setdefault("NUMBA_CACHE_DIR", path)
        if "numba" in sys.modules:
            with contextlib.suppress(Exception):
                sys.modules["numba"].core.config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]
        warnings.filterwarnings("ignore", message=r".*[Cc]annot cache compiled function")
        warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]")
        warnings.filterwarnings("ignore", message=r".*n_jobs value .* overridden")
        try:
            import umap  # noqa: F401  (imports numba, pynndescent)
            import umap.umap_  # noqa: F401
            from numba.core.registry import CPUDispatcher
        except Exception as exc:  # ImportError, or a numba/llvmlite failure at import
            raise EngineUnavailable(f"umap-learn cannot be imported: {exc} (pip install umap-learn)") from exc
        enabled = failed = 0
        for name, mod in list(sys.modules.items()):
            if mod is None or not (name.startswith("umap.") or name.startswith("pynndescent")):
                continue
            for value in list(vars(mod).values()):
                if isinstance(value, CPUDispatcher):
                    try:
                        value.enable_caching()
                        enabled += 1
                    except Exception:  # noqa: BLE001 - some dispatchers refuse; they just compile as usual
                        failed += 1
        log.debug("numba caching enabled for %d umap/pynndescent functions (%d refused) in %s",
                  enabled, failed, os.environ["NUMBA_CACHE_DIR"])
        _NUMBA_READY = True
        return sys.modules["umap"]


# --------------------------------------------------------------------------------------------- torchdr


_TORCHDR_CLASS: Any = None


def _torchdr_class() -> Any:
    """torchdr.UMAP with a progress hook (``_progress``) called every 10 iterations."""
    global _TORCHDR_CLASS
    if _TORCHDR_CLASS is None:
        warnings.filterwarnings("ignore", message=r"\s*=+\s*FAISS Error", category=ImportWarning)
        try:
            import torchdr
        except Exception as exc:
            raise EngineUnavailable(f"torchdr cannot be imported: {exc} (pip install torchdr)") from exc

        class _ProgressUMAP(torchdr.UMAP):
            _progress: Progress | None = None

            def on_training_step_end(self) -> Any:
                out = super().on_training_step_end()
                cb = self._progress
                if cb is not None:
                    step = int(self.n_iter_) + 1
                    if step % 10 == 0 or step == self.max_iter:
                        cb(0.15 + 0.85 * step / self.max_iter, f"UMAP (torchdr): iteration {step}/{self.max_iter}")
                return out

        _TORCHDR_CLASS = _ProgressUMAP
    return _TORCHDR_CLASS


@contextlib.contextmanager
def _private_rng(seed: int, dev: Any) -> Iterator[None]:
    """Run with torch's global RNG (CPU and ``dev``) seeded with ``seed``, restoring it afterwards."""
    import torch

    devices = [dev.index if dev.index is not None else torch.cuda.current_device()] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield


@contextlib.contextmanager
def _cpu_threads(n: int | None) -> Iterator[None]:
    """Run with torch limited to ``n`` CPU threads (None: unchanged), restoring the count afterwards.

    Small fits are a few thousand sub-millisecond ops; a second thread does not pay for its start-up, and
    when the cores are shared each parallel op can wait a whole scheduler slice for its partner thread.
    """
    import torch

    before = torch.get_num_threads()
    if n is None or n >= before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _fit_torchdr(t: Any, n_components: int, n_neighbors: int, min_dist: float, seed: int, dev: Any,
                 progress: Progress | None) -> tuple[np.ndarray, dict[str, Any]]:
    cls = _torchdr_class()
    t = t.to(dev)
    n = t.shape[0]
    limit = torchdr_exact_limit(dev)
    needed = TORCHDR_PAIR_BYTES * n * n
    if n > TORCHDR_EXACT_MAX or (n > limit and needed > 0.8 * _free_bytes(dev)):
        raise ReduceError(f"{n} points are too many for torchdr's exact neighbours on {dev.type} (about "
                          f"{needed / 2**30:.1f} GiB; at most {TORCHDR_EXACT_MAX} points); "
                          "use engine='umap-learn' or 'auto' for this many points")
    iters = TORCHDR_ITERS_GPU if dev.type == "cuda" else TORCHDR_ITERS_CPU
    # Duplicate rows are mapped once and share a position (as torchdr does itself); done here so our
    # PCA initialisation has one row per fitted point.
    uniq, inverse = _unique_rows(t)
    if len(uniq) < MIN_POINTS_UMAP:
        raise ReduceError(f"UMAP needs at least {MIN_POINTS_UMAP} distinct points, got {len(uniq)}")
    init = _pca(uniq, n_components, seed)  # ~0.05 s; torchdr's own PCA init is a full SVD (0.5-4 s on 2 cores)
    model = cls(n_neighbors=min(n_neighbors, len(uniq) - 1), n_components=n_components, min_dist=float(min_dist),
                max_iter=iters, device=str(dev), backend=None, init=init, random_state=None, verbose=False,
                process_duplicates=False)
    model._progress = progress
    if progress:
        progress(0.05, "UMAP (torchdr): exact neighbours and affinities")
    with _private_rng(seed, dev), _cpu_threads(1 if dev.type == "cpu" and len(uniq) < SMALL_FIT_POINTS else None):
        emb = model.fit_transform(uniq)
    emb = emb.detach()
    if inverse is not None:
        emb = emb[inverse]
    coords = emb.to("cpu").numpy().astype(np.float32, copy=False)
    return coords, {"device": str(dev), "max_iter": iters, "knn": "exact", "init": "pca", "deterministic": True}


def _unique_rows(t: Any) -> tuple[Any, Any]:
    """(unique rows, inverse index) when t has duplicate rows, else (t, None) keeping the original order."""
    import torch

    uniq, inverse = torch.unique(t, dim=0, return_inverse=True)
    if len(uniq) == len(t):
        return t, None
    return uniq, inverse


# ------------------------------------------------------------------------------------------ umap-learn


def _fit_umap_learn(t: Any, n_components: int, n_neighbors: int, min_dist: float, seed: int,
                    progress: Progress | None) -> tuple[np.ndarray, dict[str, Any]]:
    if progress:
        progress(0.02, "UMAP (umap-learn): loading (first use compiles; cached on disk afterwards)")
    umap = _prepare_umap_learn()
    t = t.cpu()
    n = t.shape[0]
    kwargs: dict[str, Any] = {}
    knn = "nn-descent"
    if n <= UMAP_LEARN_EXACT_KNN_MAX:
        if progress:
            progress(0.1, "UMAP (umap-learn): exact neighbours")
        kwargs["precomputed_knn"] = neighbours.search(t, k=n_neighbors)
        knn = "exact"
    if progress:
        progress(0.3, "UMAP (umap-learn): optimising the layout")
    # random_state=None keeps umap-learn's parallel optimiser (seeding forces one thread: ~1.8x slower here).
    model = umap.UMAP(n_neighbors=n_neighbors, n_components=n_components, min_dist=float(min_dist),
                      n_epochs=UMAP_EPOCHS, random_state=None, verbose=False, **kwargs)
    coords = np.asarray(model.fit_transform(t.numpy()), dtype=np.float32)
    global _UMAP_LEARN_FITTED
    _UMAP_LEARN_FITTED = True
    return coords, {"device": "cpu", "n_epochs": UMAP_EPOCHS, "knn": knn, "init": "spectral", "deterministic": False}


# --------------------------------------------------------------------------------------------- cuML


def _fit_cuml(t: Any, n_components: int, n_neighbors: int, min_dist: float, seed: int,
              progress: Progress | None) -> tuple[np.ndarray, dict[str, Any]]:
    try:
        from cuml.manifold import UMAP as CuUMAP
    except Exception as exc:
        raise EngineUnavailable(f"cuml cannot be imported: {exc}") from exc
    if progress:
        progress(0.1, "UMAP (cuML) on the GPU")
    model = CuUMAP(n_neighbors=n_neighbors, n_components=n_components, min_dist=float(min_dist),
                   n_epochs=UMAP_EPOCHS, random_state=int(seed), output_type="numpy")
    coords = np.asarray(model.fit_transform(t.cpu().numpy()), dtype=np.float32)
    return coords, {"device": "cuda", "n_epochs": UMAP_EPOCHS, "knn": "cuml", "deterministic": True}


# ------------------------------------------------------------------------------------------ selection


def _plan(engine: str, device: Any, n: int) -> tuple[list[tuple[str, Any]], dict[str, str]]:
    """The engines to try, in order, each with its device; and why the others were skipped."""
    import torch

    if engine != "auto":
        why = available_engines()[engine]
        if why is not None:
            raise EngineUnavailable(f"UMAP engine {engine!r} is unavailable: {why}")
        if engine == "cuml" and str(device) != "auto" and torch.device(device).type != "cuda":
            raise EngineUnavailable("UMAP engine 'cuml' runs only on a CUDA GPU, but device="
                                    f"{str(device)!r} was asked for")
        dev = _resolve_device(device) if engine == "torchdr" else torch.device("cpu")
        return [(engine, dev)], {}
    reasons = {e: why for e, why in available_engines().items() if why is not None}
    dev = _resolve_device(device)
    plan: list[tuple[str, Any]] = []
    if "cuml" not in reasons:
        if dev.type == "cuda":
            plan.append(("cuml", dev))
        else:
            reasons["cuml"] = f"device {dev.type} asked for"
    if dev.type != "cuda" and "umap-learn" not in reasons and umap_learn_compiled():
        # On a CPU umap-learn is the faster engine once its JIT code exists (~2 s warm for 4k points on
        # 2 cores, against ~3.6 s for torchdr); before that its first compile costs ~50 s, so torchdr leads.
        plan.append(("umap-learn", torch.device("cpu")))
    if "torchdr" not in reasons:
        limit = torchdr_exact_limit(dev)
        if n <= limit:
            plan.append(("torchdr", dev))
        else:
            reasons["torchdr"] = (f"{n} points exceed the {limit} its exact neighbours handle on {dev.type} "
                                  "(time and memory grow with n²)")
    if "umap-learn" not in reasons and ("umap-learn", torch.device("cpu")) not in plan:
        plan.append(("umap-learn", torch.device("cpu")))
    if not plan:
        raise EngineUnavailable("no UMAP engine can run here: " + "; ".join(f"{e}: {w}" for e, w in reasons.items())
                                + ". Install one: pip install torchdr (or umap-learn)")
    return plan, reasons


_FIT_LOCK = threading.Lock()  # one fit at a time: the CPU is shared, and torchdr seeds torch's global RNG


def reduce(x: ArrayLike, method: str = "umap", n_components: int = 2, n_neighbors: int = 15,
           min_dist: float = 0.1, seed: int = 0, engine: str = "auto", device: Any = "auto",
           progress: Progress | None = None) -> MapResult:
    """Map the n x d points ``x`` (numpy array or torch tensor) to ``n_components`` (2 or 3) dimensions.

    method: ``"pca"`` (instant, deterministic) or ``"umap"``.  engine (UMAP only): ``"auto"`` (cuML on a GPU,
    else torchdr, else umap-learn; see the module docstring) or one of :data:`ENGINES` to force it — an
    engine that cannot run raises :class:`EngineUnavailable`.  device: ``"auto"``, ``"cpu"``, ``"cuda"``...
    (torchdr; cuML needs CUDA; umap-learn is CPU only).  progress(fraction, message) is called as work goes.
    n_neighbors is capped at n - 1.  Bad input raises :class:`ReduceError`.
    """
    start = time.perf_counter()
    _check_params(method, n_components, n_neighbors, min_dist, engine)
    t = _as_tensor(x)
    n, d = t.shape
    params: dict[str, Any] = {"method": method, "n_components": n_components, "seed": int(seed),
                              "n_points": int(n), "n_features": int(d)}
    if method == "pca":
        import torch

        dev = _resolve_device(device) if str(device) != "auto" else t.device
        with torch.no_grad():
            coords = _pca(t.to(dev), n_components, seed).cpu().numpy().astype(np.float32, copy=False)
        params.update(device=str(dev), deterministic=True)
        if progress:
            progress(1.0, "PCA done")
        return MapResult(coords, "pca", time.perf_counter() - start, params)

    if n < MIN_POINTS_UMAP:
        raise ReduceError(f"UMAP needs at least {MIN_POINTS_UMAP} points, got {n}; use method='pca'")
    k = int(min(n_neighbors, n - 1))
    params.update(n_neighbors=k, min_dist=float(min_dist))
    plan, skipped = _plan(engine, device, n)
    errors: dict[str, str] = {}
    with _FIT_LOCK:
        for name, dev in plan:
            try:
                if name == "torchdr":
                    coords, extra = _fit_torchdr(t, n_components, k, min_dist, seed, dev, progress)
                elif name == "umap-learn":
                    coords, extra = _fit_umap_learn(t, n_components, k, min_dist, seed, progress)
                else:
                    coords, extra = _fit_cuml(t, n_components, k, min_dist, seed, progress)
            except EngineUnavailable as exc:
                if engine != "auto":
                    raise
                errors[name] = str(exc)
                log.warning("UMAP engine %s unavailable, trying the next one: %s", name, exc)
                continue
            params.update(extra)
            passed_over = {e: w for e, w in {**skipped, **errors}.items() if ENGINES.index(e) < ENGINES.index(name)}
            if passed_over:
                params["skipped"] = passed_over  # engines "auto" would have preferred, and why they were not used
            if progress:
                progress(1.0, f"UMAP ({name}) done")
            return MapResult(coords, name, time.perf_counter() - start, params)
    why = {**skipped, **errors}
    raise EngineUnavailable("no UMAP engine could run: " + "; ".join(f"{e}: {w}" for e, w in why.items()))


# ------------------------------------------------------------------------------------------ many points

FIT_MAX_POINTS = 30_000  # a larger map is fitted on a seeded subsample of this many points, the rest placed
PLACE_NEIGHBOURS = 10


def place(fitted: ArrayLike, coords: np.ndarray, new: ArrayLike, k: int = PLACE_NEIGHBOURS) -> np.ndarray:
    """Map positions for ``new`` points from a fitted map: each goes to the inverse-distance-weighted mean of the
    map positions of its ``k`` nearest ``fitted`` points in the embedding (exact neighbours,
    :func:`da_core.neighbours.search`) — where UMAP's own ``transform`` starts before optimising."""
    idx, dist = neighbours.search(fitted, new, k=k)
    weights = 1.0 / np.maximum(dist, 1e-6)
    weights /= weights.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkd->nd", weights, np.asarray(coords)[idx]).astype(np.float32)


def reduce_many(x: ArrayLike, method: str = "umap", strata: np.ndarray | None = None,
                fit_max: int | None = None, seed: int = 0, progress: Progress | None = None,
                **kwargs: Any) -> MapResult:
    """:func:`reduce` for any number of points: up to ``fit_max`` the map is fitted on all of them; beyond, on a
    seeded subsample of ``fit_max`` (default :data:`FIT_MAX_POINTS`) keeping each stratum's share (e.g. each
    domain's), and every other point is placed by :func:`place`.  ``params`` then says how many were ``fitted``
    and how many ``placed``."""
    t = _as_tensor(x)
    n = t.shape[0]
    fit_max = FIT_MAX_POINTS if fit_max is None else int(fit_max)
    if n <= fit_max or method == "pca":  # PCA is linear and instant: always on every point
        return reduce(t, method, seed=seed, progress=progress, **kwargs)
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    groups = np.zeros(n, dtype=np.int64) if strata is None else np.unique(np.asarray(strata), return_inverse=True)[1]
    fit_rows = np.sort(np.concatenate([
        rng.choice(members, size=max(1, round(fit_max * len(members) / n)), replace=False)
        for members in (np.flatnonzero(groups == g) for g in np.unique(groups))]))
    report = progress or (lambda _f, _m: None)
    fitted = reduce(t[fit_rows], method, seed=seed, progress=lambda f, m: report(0.85 * f, m), **kwargs)
    report(0.86, f"placing the other {n - len(fit_rows):,} points by their nearest fitted neighbours")
    rest = np.setdiff1d(np.arange(n), fit_rows, assume_unique=True)
    coords = np.empty((n, fitted.coords.shape[1]), dtype=np.float32)
    coords[fit_rows] = fitted.coords
    points = t.cpu().numpy()
    coords[rest] = place(points[fit_rows], fitted.coords, points[rest])
    report(1.0, "map done")
    params = {**fitted.params, "fitted": int(len(fit_rows)), "placed": int(len(rest)),
              "placement": f"inverse-distance mean of the {PLACE_NEIGHBOURS} nearest fitted points"}
    return MapResult(coords, fitted.engine, time.perf_counter() - start, params)


# ------------------------------------------------------------------------------------------- warm-up


_WARM_LOCK = threading.Lock()
_WARM_THREAD: threading.Thread | None = None
warm_up_error: BaseException | None = None  # set when the background warm-up failed (for diagnostics)


def _warm_up_body(engine: str) -> None:
    global warm_up_error
    try:
        rng = np.random.default_rng(0)
        centers = rng.normal(size=(3, 16)).astype(np.float32) * 4
        pts = centers[rng.integers(0, 3, WARM_UP_POINTS)] + rng.normal(size=(WARM_UP_POINTS, 16)).astype(np.float32)
        res = reduce(pts, "umap", engine=engine)
        log.info("UMAP warm-up (%s) took %.1f s", res.engine, res.seconds)
        _warm_umap_learn_on_cpu(engine, pts)
    except BaseException as exc:  # noqa: BLE001 - a failed warm-up must never take the app down
        warm_up_error = exc
        log.warning("UMAP warm-up failed: %s", exc)


def _warm_umap_learn_on_cpu(engine: str, pts: np.ndarray) -> None:
    """On a CPU-only machine also compile umap-learn (kept in numba's disk cache), outside the fit lock so
    user maps go on meanwhile with torchdr; once compiled, "auto" prefers umap-learn on the CPU."""
    global _UMAP_LEARN_COMPILING
    if engine != "auto" or _cuda_available() or available_engines().get("umap-learn") or _UMAP_LEARN_FITTED:
        return
    import torch

    _UMAP_LEARN_COMPILING = True
    try:
        start = time.perf_counter()
        _fit_umap_learn(torch.from_numpy(pts), 2, 15, 0.1, 0, None)
        log.info("umap-learn compiled/loaded in %.1f s", time.perf_counter() - start)
    finally:
        _UMAP_LEARN_COMPILING = False


def warm_up(engine: str = "auto") -> threading.Thread:
    """Start (once per process) a daemon thread that fits a tiny UMAP, so the first real map is fast.

    It imports the engine and compiles/warms its kernels (umap-learn's JIT code goes to the disk cache).
    Later calls return the same thread; ``thread.join()`` waits for it.  Errors are logged, never raised.
    """
    global _WARM_THREAD
    with _WARM_LOCK:
        if _WARM_THREAD is None:
            _WARM_THREAD = threading.Thread(target=_warm_up_body, args=(engine,), name="umap-warm-up", daemon=True)
            _WARM_THREAD.start()
        return _WARM_THREAD


# -------------------------------------------------------------------------------------------- quality


def knn_label_accuracy(coords: ArrayLike, labels: ArrayLike, k: int = 5) -> float:
    """Leave-one-out k-NN label accuracy in the map: how often a point's k nearest map neighbours (majority
    vote, ties to the smallest label) share its label.  A quality measure for comparing maps/engines."""
    from sklearn.neighbors import NearestNeighbors

    pts = np.asarray(coords.detach().cpu() if hasattr(coords, "detach") else coords, dtype=np.float64)
    lab = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels).reshape(-1)
    if pts.ndim != 2 or len(pts) != len(lab):
        raise ReduceError(f"coords must be n x k and labels n long, got {pts.shape} and {lab.shape}")
    n = len(pts)
    if n < 2:
        raise ReduceError("k-NN accuracy needs at least 2 points")
    k = int(min(k, n - 1))
    if k < 1:
        raise ReduceError(f"k must be >= 1, got {k}")
    classes, codes = np.unique(lab, return_inverse=True)
    nbrs = NearestNeighbors(n_neighbors=k + 1).fit(pts).kneighbors(pts, return_distance=False)
    # drop each point itself (it may not come first among duplicates); else drop the farthest extra neighbour
    is_self = nbrs == np.arange(n)[:, None]
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), k)
    keep = np.ones_like(nbrs, dtype=bool)
    keep[np.arange(n), drop] = False
    nbrs = nbrs[keep].reshape(n, k)
    votes = np.zeros((n, len(classes)), dtype=np.int64)
    np.add.at(votes, (np.repeat(np.arange(n), k), codes[nbrs].ravel()), 1)
    return float((votes.argmax(axis=1) == codes).mean())
