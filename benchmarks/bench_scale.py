"""Many runs on Ray: a sweep's wall time with 1 and 2 Ray workers on this machine, Ray's overhead against the local
backend for the same sweep, and an estimate for 100 runs on 8 GPUs from the measured per-run times.

local:  run_sweep(spec) — one run after another in this process (torch uses 1 thread, as a 1-CPU task does).
ray-1:  run_sweep(spec, backend="ray") with 1 run at a time (workers=1), 1 CPU each, on a local Ray of 2 CPUs.
ray-2:  the same with 2 runs at a time.
The sweep: the default pair's rotation pipeline at strengths 0, 0.25, 0.5, 0.75 x 2 seeds (8 runs), the default
run otherwise.  Ray's start-up (about 5-10 s) is timed apart: a long-lived cluster pays it once.

Memory: a generated folder of 100,000 RGB PNGs (10 classes, 40-72 px a side) is loaded at the folder loader's
default size (64 px) and embedded with the default image embedder, in a child process of its own, whose peak
resident memory (ru_maxrss) is compared with its memory once the embedder is loaded ("above the model").  Its
load report's notes say when DA_MAX_MEMORY subsampled it; ``--memory-cap 512M`` shows the cap at work.

Map: the Gap page's path for 100,000 points per domain (128-d vectors in 10 clusters, the target shifted):
UMAP (umap-learn) fitted on 30,000 of the 200,000 points and the rest placed, the 2 x 20,000 points drawn and
the density overview, against the bare baseline of that UMAP fit alone.

Run: .venv/bin/python benchmarks/bench_scale.py [--seeds 2] [--images 100000] [--only sweep|memory|map]
(the sweep needs requirements-scale.txt; ends with one line of JSON)
Targets: ray-2 / ray-1 >= 1.7x on a sweep; the same metrics as local; 100k images under 2 GB above the model.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DA_DATA_DIR", tempfile.mkdtemp(prefix="da-bench-scale-"))

import numpy as np  # noqa: E402

CLASSES = 10


def _write_images(job: tuple[str, int, int]) -> int:
    """Write ``count`` PNGs of class ``label`` into ``folder``: a coloured background and a lighter shape."""
    from PIL import Image, ImageDraw

    folder, label, count = job
    rng = np.random.default_rng(label)
    out = Path(folder) / f"class{label}"
    out.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        side = int(rng.integers(40, 73))
        img = Image.new("RGB", (side, side), tuple(int(v) for v in rng.integers(0, 160, 3)))
        draw = ImageDraw.Draw(img)
        box = sorted(rng.integers(0, side, 2).tolist()), sorted(rng.integers(0, side, 2).tolist())
        shape = draw.ellipse if label % 2 else draw.rectangle
        fill = tuple(int(v) for v in rng.integers(90, 256, 3))
        shape((box[0][0], box[1][0], box[0][1] + 4, box[1][1] + 4), fill=fill)
        img.save(out / f"{i:06d}.png", optimize=False, compress_level=1)
    return count


def generate_folder(folder: Path, images: int) -> float:
    """Write the folder (``images`` in all, 10 classes) with two processes; seconds taken."""
    t = time.perf_counter()
    each = images // CLASSES
    with ProcessPoolExecutor(max_workers=2) as pool:
        list(pool.map(_write_images, [(str(folder), c, each) for c in range(CLASSES)]))
    return time.perf_counter() - t


def memory_child(folder: str) -> None:
    """In a fresh process: load the embedder, then load and embed the folder; print the memory figures as JSON."""
    from da_core.data import load_dataset
    from da_core.embed import default_embedder, embed, get_embedder

    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    emb = get_embedder(default_embedder("image"))
    tiny = load_dataset("builtin:printed-digits?n=64")
    embed(tiny, emb, device="cpu", use_cache=False)  # the model is loaded (and trained once per machine)
    model = rss()
    t = time.perf_counter()
    ds = load_dataset(f"folder:{folder}")
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    result = embed(ds, emb, device="cpu", use_cache=False)
    embed_s = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"images": len(ds), "shape": list(ds.images.shape), "pixels_mb": ds.images.numel() / 1e6,
                      "vectors": list(result.vectors.shape), "model_rss_mb": model / 1e6, "peak_rss_mb": peak / 1e6,
                      "above_model_mb": (peak - model) / 1e6, "load_s": load_s, "embed_s": embed_s,
                      "notes": ds.report.notes}))


def bench_memory(images: int, cap: str | None) -> dict:
    """Generate the folder, measure a child process on it, remove the folder."""
    folder = Path(tempfile.mkdtemp(prefix="da-bench-scale-images-"))
    try:
        gen_s = generate_folder(folder, images)
        env = dict(os.environ)
        if cap:
            env["DA_MAX_MEMORY"] = cap
        out = subprocess.run([sys.executable, __file__, "--memory-child", str(folder)], env=env, check=True,
                             capture_output=True, text=True).stdout
        figures = json.loads(out.strip().splitlines()[-1])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    figures["generate_s"] = gen_s
    print(f"{figures['images']:,} images of {images:,} loaded at {figures['shape'][1:]} "
          f"({figures['pixels_mb']:.0f} MB of pixels) in {figures['load_s']:.1f} s, embedded to "
          f"{figures['vectors']} in {figures['embed_s']:.1f} s (folder written in {gen_s:.0f} s)")
    print(f"  peak {figures['peak_rss_mb']:.0f} MB; with the embedder loaded {figures['model_rss_mb']:.0f} MB; "
          f"above the model {figures['above_model_mb']:.0f} MB (target < 2000 MB)")
    for note in figures["notes"]:
        print(f"  note: {note}")
    return figures


def bench_map(per_domain: int) -> dict:
    """The large-map path of the Gap page on synthetic embeddings, timed part by part."""
    from da_core import viz
    from da_core.gap_workflow import shown_rows
    from da_core.reduce import FIT_MAX_POINTS, reduce, reduce_many

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(CLASSES, 128)).astype(np.float32) * 3
    labels = rng.integers(0, CLASSES, 2 * per_domain)
    x = centres[labels] + rng.normal(size=(2 * per_domain, 128)).astype(np.float32)
    x[per_domain:] += 0.8  # the target's shift
    domains = np.array(["source"] * per_domain + ["target"] * per_domain)
    reduce(x[:9000], "umap", engine="umap-learn")  # compile NN-descent too (numba's disk cache), untimed
    t = time.perf_counter()
    fit_only = reduce(x[rng.choice(len(x), FIT_MAX_POINTS, replace=False)], "umap", engine="umap-learn", seed=0)
    bare_s = time.perf_counter() - t
    t = time.perf_counter()
    result = reduce_many(x, "umap", strata=domains, engine="umap-learn", seed=0)
    map_s = time.perf_counter() - t
    t = time.perf_counter()
    shown = shown_rows(domains)
    viz.embedding_map_figure(result.coords, domains, labels, [str(c) for c in range(CLASSES)], rows=shown)
    viz.density_figure(result.coords, domains)
    figures_s = time.perf_counter() - t
    print(f"map of {2 * per_domain:,} points: UMAP on {result.params['fitted']:,} + {result.params['placed']:,} "
          f"placed {map_s:.1f} s vs the bare fit of {FIT_MAX_POINTS:,} {bare_s:.1f} s "
          f"({map_s / bare_s:.2f}x); {len(shown):,} drawn + density overview built in {figures_s:.1f} s")
    del fit_only
    return {"points": 2 * per_domain, "fitted": result.params["fitted"], "map_s": map_s, "bare_fit_s": bare_s,
            "ratio": map_s / bare_s, "figures_s": figures_s, "shown": len(shown)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--images", type=int, default=100_000, help="images in the generated folder")
    parser.add_argument("--memory-cap", default=None, help="DA_MAX_MEMORY for the memory part (default: unset)")
    parser.add_argument("--only", choices=("sweep", "memory", "map"), default=None)
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    report: dict = {}
    if args.only in (None, "memory"):
        report["memory"] = bench_memory(args.images, args.memory_cap)
    if args.only in (None, "map"):
        report["map"] = bench_map(100_000)
    if args.only in (None, "sweep"):
        report.update(bench_sweep(args.seeds))
    print(json.dumps(report))


def bench_sweep(seeds: int) -> dict:
    """The sweep locally, then on a local Ray one and two runs at a time."""
    import ray
    import torch

    from da_core.scale import RayOptions
    from da_core.scale.ray_runs import _runtime_env
    from da_core.train.config import TrainConfig
    from da_core.train.store import RunStore
    from da_core.train.sweep import ROTATION_AFFINE, SweepSpec, run_sweep

    spec = SweepSpec(TrainConfig(), ROTATION_AFFINE, [0.25, 0.5, 0.75], list(range(seeds)))
    runs = len(spec.validate().grid())
    folder = Path(tempfile.mkdtemp(prefix="da-bench-scale-store-"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    t = time.perf_counter()
    local = run_sweep(spec, RunStore(folder / "local.sqlite"))
    local_s = time.perf_counter() - t
    torch.set_num_threads(threads)
    t = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=_runtime_env(None))
    start_s = time.perf_counter() - t
    timings = {}
    results = {}
    for workers in (1, 2):
        t = time.perf_counter()
        results[workers] = run_sweep(spec, RunStore(folder / f"ray{workers}.sqlite"), backend="ray",
                                     ray=RayOptions(workers=workers, cpus_per_run=1))
        timings[workers] = time.perf_counter() - t
    ray.shutdown()

    def fields(r: object) -> list:
        return [(x["strength"], x["seed"], x["target_acc"], x["train_loss"])
                for x in r.results]  # type: ignore[attr-defined]

    same = fields(local) == fields(results[1]) == fields(results[2])
    store = RunStore(folder / "ray1.sqlite")
    run_seconds = [r.final["seconds"] for r in store.list_runs() if r.final]
    mean_run = sum(run_seconds) / len(run_seconds)
    print(f"sweep of {runs} runs (default pair, rotation pipeline), 2-core CPU:")
    print(f"  {'local (1 thread)':22} {local_s:7.1f} s")
    print(f"  {'ray, 1 at a time':22} {timings[1]:7.1f} s   overhead vs local {timings[1] / local_s - 1:+.1%}")
    print(f"  {'ray, 2 at a time':22} {timings[2]:7.1f} s   speed-up vs 1 at a time {timings[1] / timings[2]:.2f}x "
          "(target >= 1.7x)")
    print(f"  Ray start-up {start_s:.1f} s (once per cluster); metrics identical across the three: {same}")
    estimate = 100 * mean_run / 8
    print(f"estimate: 100 runs of {mean_run:.1f} s on 8 workers (one per GPU, if a GPU run took as long as this "
          f"CPU run): {estimate / 60:.1f} min plus start-up; measured per-run time here, not on a GPU")
    return {"runs": runs, "local_s": round(local_s, 2), "ray1_s": round(timings[1], 2),
                      "ray2_s": round(timings[2], 2), "speedup_2_vs_1": round(timings[1] / timings[2], 3),
                      "overhead_vs_local": round(timings[1] / local_s - 1, 3), "ray_start_s": round(start_s, 2),
                      "same_metrics": same, "mean_run_s": round(mean_run, 2),
                      "estimate_100_runs_8_workers_min": round(estimate / 60, 2)}


if __name__ == "__main__":
    main()
