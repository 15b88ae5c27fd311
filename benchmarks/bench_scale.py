"""Many runs on Ray: a sweep's wall time with 1 and 2 Ray workers on this machine, Ray's overhead against the local
backend for the same sweep, and an estimate for 100 runs on 8 GPUs from the measured per-run times.

local:  run_sweep(spec) — one run after another in this process (torch uses 1 thread, as a 1-CPU task does).
ray-1:  run_sweep(spec, backend="ray") with 1 run at a time (workers=1), 1 CPU each, on a local Ray of 2 CPUs.
ray-2:  the same with 2 runs at a time.
The sweep: the default pair's rotation pipeline at strengths 0, 0.25, 0.5, 0.75 x 2 seeds (8 runs), the default
run otherwise.  Ray's start-up (about 5-10 s) is timed apart: a long-lived cluster pays it once.

Run: .venv/bin/python benchmarks/bench_scale.py [--seeds 2]
(needs requirements-scale.txt; ends with one line of JSON)
Target: ray-2 / ray-1 >= 1.7x on a sweep; the same metrics as local.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DA_DATA_DIR", tempfile.mkdtemp(prefix="da-bench-scale-"))

import ray  # noqa: E402
import torch  # noqa: E402

from da_core.scale import RayOptions  # noqa: E402
from da_core.scale.ray_runs import _runtime_env  # noqa: E402
from da_core.train.config import TrainConfig  # noqa: E402
from da_core.train.store import RunStore  # noqa: E402
from da_core.train.sweep import ROTATION_AFFINE, SweepSpec, run_sweep  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    spec = SweepSpec(TrainConfig(), ROTATION_AFFINE, [0.25, 0.5, 0.75], list(range(args.seeds)))
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
    print(json.dumps({"runs": runs, "local_s": round(local_s, 2), "ray1_s": round(timings[1], 2),
                      "ray2_s": round(timings[2], 2), "speedup_2_vs_1": round(timings[1] / timings[2], 3),
                      "overhead_vs_local": round(timings[1] / local_s - 1, 3), "ray_start_s": round(start_s, 2),
                      "same_metrics": same, "mean_run_s": round(mean_run, 2),
                      "estimate_100_runs_8_workers_min": round(estimate / 60, 2)}))


if __name__ == "__main__":
    main()
