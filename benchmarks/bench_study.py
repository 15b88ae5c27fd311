"""A comparison study's overhead over its runs: the study's wall time against the sum of its runs' own times
(each run's ``seconds``: model set-up, training and evaluation), and against a bare loop that trains the very
same configs back to back with ``Trainer(config).run()`` (no run store, no analysis), measured in the same
process.  Target: the study's overhead ≤ 5% of its runs' time.

The study's one-off set-up (source pools, the selection; the sweet spot when no strength is given) is reported
on its own line: it does not grow with the number of runs.  Default: the default pair, the five default arms, 2
seeds, the default budget, strength given (as on the Study page with a fixed strength).  A temporary run
history is used.  Ends with one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=None, help="override the default budget")
    parser.add_argument("--strength", type=float, default=0.2,
                        help="augmentation strength (negative: measure the lab's sweet spot in the set-up)")
    args = parser.parse_args()
    os.environ["DA_DATA_DIR"] = tempfile.mkdtemp(prefix="bench-study-")

    from da_core.study import StudySpec, run_study
    from da_core.train.config import TrainConfig
    from da_core.train.data import load_cached
    from da_core.train.store import RunStore
    from da_core.train.trainer import Trainer

    base = TrainConfig() if args.epochs is None else TrainConfig(epochs=args.epochs)
    load_cached(base.source), load_cached(base.target)  # both paths start from loaded datasets
    Trainer(base.replace(max_steps=2)).run()  # warm up torch and the backbone for both paths alike
    store = RunStore(Path(os.environ["DA_DATA_DIR"]) / "runs.sqlite")
    spec = StudySpec(base, seeds=list(range(args.seeds)), strength=None if args.strength < 0 else args.strength)

    t = time.perf_counter()
    result = run_study(spec, store)
    wall = time.perf_counter() - t
    setup = result.setup.seconds if result.setup else 0.0
    runs = result.run_seconds()
    configs = [TrainConfig.from_dict(r.config) for r in sorted(store.list_runs(sweep_id=result.study_id),
                                                              key=lambda r: r.id)]
    t = time.perf_counter()
    for config in configs:
        Trainer(config).run()
    bare = time.perf_counter() - t

    loop = wall - setup
    overhead = (loop - runs) / runs
    print(f"study #{result.study_id}: {len(configs)} runs ({len(spec.arms)} arms x {len(spec.seeds)} seeds), "
          f"status {result.status}")
    print(f"{'what':<46}{'seconds':>10}")
    print(f"{'study wall time':<46}{wall:>10.2f}")
    print(f"{'  of which the one-off set-up (pools, selection)':<46}{setup:>10.2f}")
    print(f"{'sum of the runs own times':<46}{runs:>10.2f}")
    print(f"{'bare loop over the same configs':<46}{bare:>10.2f}")
    print(f"overhead over the runs, set-up excluded: {overhead:+.1%} (target <= 5%); with the set-up: "
          f"{(wall - runs) / runs:+.1%}")
    print(f"study runs / bare loop: {loop / bare:.3f}x")
    print(json.dumps({"runs": len(configs), "wall_s": round(wall, 3), "setup_s": round(setup, 3),
                      "run_seconds": round(runs, 3), "bare_loop_s": round(bare, 3),
                      "overhead_vs_runs": round(overhead, 4), "overhead_with_setup": round((wall - runs) / runs, 4),
                      "ratio_vs_bare": round(loop / bare, 4)}))


if __name__ == "__main__":
    main()
