"""Tuning: trials per minute, and how many trials TPE with the median pruner needs to come within one point of the
best result of a grid search over the same space, against the grid's own count.

grid:  Optuna's GridSampler over lr (3 log-spaced values) x batch size (3) x weight decay (3) = 27 trials around
       the default run (2 epochs of the default image pair, 10 labelled target digits per class), no pruning.
tpe:   TPE (seed 0) with the median pruner over the same ranges, up to as many trials; we count the trials
       (pruned ones included) until its best reaches the grid's best minus 0.01.
The objective is the target accuracy (the oracle) here on purpose: the benchmark measures the search, not a
validator (the agreement tables in the README measure those).  Both searches record their trials as runs in a
throw-away DA_DATA_DIR.

Run: .venv/bin/python benchmarks/bench_tune.py [--points 3]   (ends with one line of JSON)
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
os.environ.setdefault("DA_DATA_DIR", tempfile.mkdtemp(prefix="da-bench-tune-"))

from da_core.train.config import TrainConfig  # noqa: E402
from da_core.tune import TuneSpec, parse_space, run_tune  # noqa: E402
from da_core.tune import space as tune_space  # noqa: E402

SPACE = {"lr": {"low": 1e-3, "high": 2e-2, "log": True}, "batch_size": {"choices": [32, 64, 128]},
         "weight_decay": {"low": 1e-6, "high": 1e-2, "log": True}}


def search(sampler: str, pruner: str, trials: int) -> dict:
    spec = TuneSpec(TrainConfig(device="cpu"), parse_space(SPACE), validator="target-acc", sampler=sampler,
                    pruner=pruner, trials=trials, seed=0)
    t = time.perf_counter()
    result = run_tune(spec)
    result["wall_s"] = time.perf_counter() - t
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=3, help="grid points per float range")
    args = parser.parse_args()
    tune_space.GRID_POINTS = args.points
    n_grid = args.points * 3 * args.points

    grid = search("grid", "none", n_grid)
    grid_best = max(t["target_acc"] for t in grid["trials"] if t["state"] == "COMPLETE")
    tpe = search("tpe", "median", n_grid)
    best, needed = -1.0, None
    for i, t in enumerate(tpe["trials"], start=1):
        if t["state"] == "COMPLETE":
            best = max(best, t["target_acc"])
        if needed is None and best >= grid_best - 0.01:
            needed = i
    pruned = sum(t["state"] == "PRUNED" for t in tpe["trials"])

    print(f"space: {json.dumps(SPACE)}; default image run (2 epochs, k = 10), objective target accuracy")
    print(f"{'search':<22}{'trials':>7}{'wall s':>9}{'trials/min':>11}{'best':>8}")
    for name, r in (("grid (no pruning)", grid), ("TPE + median pruner", tpe)):
        done = [t["target_acc"] for t in r["trials"] if t["state"] == "COMPLETE"]
        print(f"{name:<22}{len(r['trials']):>7}{r['wall_s']:>9.1f}{len(r['trials']) / (r['wall_s'] / 60):>11.1f}"
              f"{max(done):>8.3f}")
    print(f"TPE reached the grid's best - 1 point ({grid_best - 0.01:.3f}) after "
          + (f"{needed} trials" if needed else f"none of its {len(tpe['trials'])} trials")
          + f" (the grid needs {n_grid}); {pruned} of its trials were pruned")
    print(json.dumps({"grid_trials": n_grid, "grid_best": round(grid_best, 4), "grid_wall_s": round(grid["wall_s"], 1),
                      "grid_trials_per_min": round(n_grid / (grid["wall_s"] / 60), 2),
                      "tpe_trials_to_within_1pt": needed, "tpe_pruned": pruned,
                      "tpe_wall_s": round(tpe["wall_s"], 1),
                      "tpe_trials_per_min": round(len(tpe["trials"]) / (tpe["wall_s"] / 60), 2)}))


if __name__ == "__main__":
    main()
