"""Fine-tuning epoch time of our trainer vs a bare PyTorch loop on the same data and model, and the default
run's wall time.

ours:  da_core.train.Trainer with the default config for one epoch: its training-loop time (evaluations
       excluded; callbacks, metric payloads, stop checks, NaN checks, weighted sampling included).
bare:  the same backbone copy + head, the same optimiser groups, schedule, sampled batches and preprocessing,
       in a plain loop: forward, loss, backward, step (no callbacks, no .item()).
default run: Trainer(TrainConfig()).run() end to end in this process (data from the disk cache, model copy,
       source-only baseline, two epochs, evaluations), and ``python -m da_core train --json`` in a fresh process.

Run: .venv/bin/python benchmarks/bench_train.py [--repeats 5] [--no-cli]   (ends with one line of JSON)
Targets: ours/bare <= 1.15; default run <= 15 s on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DA_DATA_DIR", tempfile.mkdtemp(prefix="da-bench-train-"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from da_core.embed.device import describe_device, pick_device  # noqa: E402
from da_core.models import digits_input, load_digits_cnn  # noqa: E402
from da_core.train.config import TrainConfig  # noqa: E402
from da_core.train.trainer import Trainer, prepare_data  # noqa: E402


def bare_epoch(config: TrainConfig, data: object, device: torch.device) -> float:
    """One epoch of a plain loop over the same batches as the trainer draws; returns seconds."""
    base, _ = load_digits_cnn()
    backbone = copy.deepcopy(base.features).to(device).train()
    head = copy.deepcopy(base.head).to(device)
    opt = torch.optim.AdamW([{"params": head.parameters(), "lr": config.lr},
                             {"params": backbone.parameters(), "lr": config.lr * config.backbone_lr_scale}],
                            weight_decay=config.weight_decay)
    src_x, src_y = data.source_train.images.to(device), data.source_train.labels.to(device)
    lab_x, lab_y = data.target_labelled.images.to(device), data.target_labelled.labels.to(device)
    x_all, y_all = torch.cat([src_x, lab_x]), torch.cat([src_y, lab_y])
    n_src, n_lab = len(src_x), len(lab_x)
    steps = math.ceil(n_src / config.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5 * (1 + math.cos(math.pi * min(t, steps) / steps)))
    gen = torch.Generator().manual_seed(config.seed)
    probs = torch.cat([torch.full((n_src,), (1 - config.target_share) / n_src, dtype=torch.float64),
                       torch.full((n_lab,), config.target_share / n_lab, dtype=torch.float64)])
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    drawn = torch.multinomial(probs, steps * config.batch_size, replacement=True, generator=gen)
    for idx in drawn.split(config.batch_size):
        idx = idx.to(device)
        loss = F.cross_entropy(head(backbone(digits_input(x_all[idx]))), y_all[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def ours_epoch(config: TrainConfig, data: object) -> float:
    """One epoch of our trainer; returns its training-loop seconds (evaluations excluded)."""
    result = Trainer(config.replace(epochs=1), data).run()
    return float(result.final["train_seconds"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-cli", action="store_true", help="skip the fresh-process command-line run")
    args = parser.parse_args()

    config = TrainConfig()
    device = pick_device(config.device)
    t = time.perf_counter()
    data = prepare_data(config)
    load_digits_cnn()
    setup_s = time.perf_counter() - t
    bare_epoch(config, data, device)  # warm-up (allocator, kernels)
    ours_epoch(config, data)
    bare_t, ours_t = [], []
    for _ in range(args.repeats):  # interleave so machine noise hits both
        bare_t.append(bare_epoch(config, data, device))
        ours_t.append(ours_epoch(config, data))
    bare_s, ours_s = min(bare_t), min(ours_t)  # the least disturbed epoch of each
    median_ratio = statistics.median(o / b for o, b in zip(ours_t, bare_t))

    t = time.perf_counter()
    result = Trainer(config).run()
    default_s = time.perf_counter() - t
    cli_s = None
    if not args.no_cli:
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "da_core", "train", "--json"], cwd=ROOT, capture_output=True,
                              text=True, env=os.environ.copy(), check=False)
        cli_s = time.perf_counter() - t
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            cli_s = None

    steps = math.ceil(len(data.source_train) / config.batch_size)
    samples = steps * config.batch_size
    print(f"device: {describe_device(device)}; {len(data.source_train)} source train + "
          f"{len(data.target_labelled)} labelled target; one epoch = {steps} steps of {config.batch_size}")
    print(f"{'':<34}{'seconds':>9}{'samples/s':>11}")
    print(f"{'bare PyTorch loop, 1 epoch':<34}{bare_s:>9.3f}{samples / bare_s:>11.0f}")
    print(f"{'our trainer, 1 epoch':<34}{ours_s:>9.3f}{samples / ours_s:>11.0f}")
    print(f"{'ratio ours / bare':<34}{ours_s / bare_s:>9.3f}   (target <= 1.15; median of paired ratios "
          f"{median_ratio:.3f})")
    print(f"{'default run in process':<34}{default_s:>9.2f}   (target <= 15 s; train "
          f"{result.final['train_seconds']:.2f} s, eval {result.final['eval_seconds']:.2f} s)")
    if cli_s is not None:
        print(f"{'default run, fresh CLI process':<34}{cli_s:>9.2f}   (imports and data loading included)")
    final = result.final
    print(f"default run: target accuracy {final['baseline_target_acc']:.3f} -> {final['target_acc']:.3f}, "
          f"source {final['source_acc']:.3f}; data + model set-up {setup_s:.2f} s")
    print(json.dumps({"ratio_vs_bare": round(ours_s / bare_s, 3), "median_pair_ratio": round(median_ratio, 3),
                      "ours_s": round(ours_s, 3),
                      "bare_s": round(bare_s, 3), "default_run_s": round(default_s, 2),
                      "default_run_cli_s": None if cli_s is None else round(cli_s, 2),
                      "default_target_acc": round(result.final["target_acc"], 4),
                      "baseline_target_acc": round(result.final["baseline_target_acc"], 4),
                      "device": describe_device(device)}))


if __name__ == "__main__":
    main()
