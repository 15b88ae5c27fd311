"""What robustness costs: the robustness measure's time against the run it measures, and adversarial training's
step time against clean training.

robustness: the default run (TrainConfig()) in this process; its ``robust_seconds`` (corruptions at severities
       1-5 and the FGSM/PGD curve on the default 100 held-out target samples) against the same run's time without
       it (``seconds - robust_seconds``: data, baseline, training and its evaluations) and against its training
       loop alone (``train_seconds``, evaluations excluded).  The first repeat also fills the corrupted-image cache
       (a sweep's later runs reuse it); its figure is printed apart.
adversarial training: the default run's training loop (evaluations excluded, robustness off) with the clean
       objective (the baseline) and with adversarial training (FGSM, PGD-k) at strength 1, replacing half or all
       of each batch; step time ratio against clean.  A PGD-k example costs k forward-backward passes, so at share
       1 PGD-k should cost about k + 1 times a clean step, FGSM about 2 times.

Run: .venv/bin/python benchmarks/bench_robust.py [--repeats 3] [--steps 40]   (ends with one line of JSON)
Target: the robustness measure <= 25% of the default run's time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DA_DATA_DIR", tempfile.mkdtemp(prefix="da-bench-robust-"))

import torch  # noqa: E402

from da_core.train.config import TrainConfig  # noqa: E402
from da_core.train.trainer import Trainer, prepare_data  # noqa: E402


def robustness_cost(repeats: int) -> dict:
    data = prepare_data(TrainConfig())
    rows = []
    for i in range(repeats + 1):
        final = Trainer(TrainConfig(), data).run().final
        rest = final["seconds"] - final["robust_seconds"]
        rows.append({"robust_s": final["robust_seconds"], "run_s": rest, "train_s": final["train_seconds"],
                     "first": i == 0})
        cold = " (cold corruption cache)" if i == 0 else ""
        print(f"  repeat {i}{cold}: robustness {final['robust_seconds']:.2f} s, run without it {rest:.2f} s, "
              f"training loop {final['train_seconds']:.2f} s", flush=True)
    warm = [r for r in rows if not r["first"]]
    robust = statistics.median(r["robust_s"] for r in warm)
    run = statistics.median(r["run_s"] for r in warm)
    train = statistics.median(r["train_s"] for r in warm)
    return {"robust_s": round(robust, 3), "run_s": round(run, 3), "train_loop_s": round(train, 3),
            "vs_run": round(robust / run, 3), "vs_train_loop": round(robust / train, 3),
            "cold_robust_s": round(rows[0]["robust_s"], 3),
            "cold_vs_run": round(rows[0]["robust_s"] / rows[0]["run_s"], 3)}


def step_time(data: object, steps: int, **changes: object) -> float:
    cfg = TrainConfig(max_steps=steps, robustness=False, **changes)
    final = Trainer(cfg, data).run().final
    return final["train_seconds"] / final["steps"]


def adversarial_cost(steps: int, repeats: int) -> list[dict]:
    data = prepare_data(TrainConfig())
    adv = {"objective": "adversarial", "strength": 1.0}
    settings = [("clean", {}),
                ("FGSM, share 0.5", {**adv, "adv_method": "fgsm"}),
                ("FGSM, share 1", {**adv, "adv_method": "fgsm", "adv_share": 1.0}),
                ("PGD-3, share 0.5", {**adv, "adv_method": "pgd"}),
                ("PGD-3, share 1", {**adv, "adv_method": "pgd", "adv_share": 1.0})]
    times: dict[str, list[float]] = {name: [] for name, _ in settings}
    step_time(data, 5)  # warm-up
    for _ in range(repeats):  # interleaved, so drifts of a noisy machine fall on every setting alike
        for name, changes in settings:
            times[name].append(step_time(data, steps, **changes))
    clean = statistics.median(times["clean"])
    return [{"setting": name, "step_ms": round(statistics.median(times[name]) * 1000, 2),
             "vs_clean": round(statistics.median(times[name]) / clean, 2)} for name, _ in settings]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    torch.set_num_threads(max(1, min(torch.get_num_threads(), os.cpu_count() or 1)))
    print(f"robustness measure vs the default run ({args.repeats} warm repeats, after one cold):")
    cost = robustness_cost(args.repeats)
    print(f"\n{'':32} {'seconds':>8} {'ratio':>7}")
    print(f"{'robustness measure':32} {cost['robust_s']:>8.2f}")
    print(f"{'the run without it':32} {cost['run_s']:>8.2f} {cost['vs_run']:>7.1%}   (target <= 25%)")
    print(f"{'its training loop alone':32} {cost['train_loop_s']:>8.2f} {cost['vs_train_loop']:>7.1%}")
    print(f"{'cold cache (first run)':32} {cost['cold_robust_s']:>8.2f} {cost['cold_vs_run']:>7.1%}")
    print(f"\nadversarial training, {args.steps} steps x {args.repeats} repeats, median step time:")
    adv = adversarial_cost(args.steps, args.repeats)
    for row in adv:
        print(f"  {row['setting']:18} {row['step_ms']:>8.1f} ms  {row['vs_clean']:>5.2f}x clean")
    print(json.dumps({"robustness": cost, "adversarial": adv, "target_vs_run": 0.25,
                      "meets_target": cost["vs_run"] <= 0.25}))


if __name__ == "__main__":
    main()
