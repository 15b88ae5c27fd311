"""Fine-tuning MiniLM on the default text pair: a step of our trainer vs a bare PyTorch loop over the same model
and batches, in full and with LoRA; LoRA's step time and peak memory against full fine-tuning; and the default
text run's wall time.

ours:  da_core.train.Trainer with the text defaults (config_for("text")), ``--steps`` steps: its training-loop
       time (evaluations excluded; batch collation from pre-tokenized pools, callbacks, stop and NaN checks
       included).
bare:  the same encoder freshly loaded with transformers (LoRA: peft's adapters on query and value), a linear head,
       the same optimiser groups and cosine schedule, the very batches our trainer draws (the same seeded
       sampler), each tokenized with padding to its longest text, mean pooling, cross-entropy, backward, step.
memory: in a fresh process per mode, the peak resident memory (CUDA: peak allocated) of ``--memory-steps`` bare
       steps above the loaded model: activations, gradients and optimiser state.
default run: Trainer(config_for("text", pair)).run() end to end (model load, tokenizing, baseline, 100 steps,
       evaluations).

Run: .venv/bin/python benchmarks/bench_train_text.py [--steps 20] [--repeats 3] [--no-default]
Targets: ours/bare <= 1.15 for full and LoRA; the default text run <= 2 min on 2 CPU cores.  Ends with one line
of JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DA_DATA_DIR", tempfile.mkdtemp(prefix="da-bench-train-text-"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from da_core.config import DEFAULT_TEXT_SOURCE, DEFAULT_TEXT_TARGET  # noqa: E402
from da_core.embed.device import describe_device, pick_device  # noqa: E402
from da_core.embed.text import minilm_folder  # noqa: E402
from da_core.train.config import TrainConfig, config_for  # noqa: E402
from da_core.train.data import DataPlan  # noqa: E402
from da_core.train.trainer import Trainer, prepare_data  # noqa: E402

PAIR = {"source": DEFAULT_TEXT_SOURCE, "target": DEFAULT_TEXT_TARGET}


def bare_model(mode: str, device: torch.device) -> tuple[torch.nn.Module, torch.nn.Linear, list[dict]]:
    """A fresh MiniLM (with LoRA adapters in ``lora`` mode), a head, and the optimiser groups our trainer uses."""
    from transformers import AutoModel

    config = config_for("text", {**PAIR, "mode": mode})
    model = AutoModel.from_pretrained(str(minilm_folder()), local_files_only=True).to(device).train()
    head = torch.nn.Linear(384, 2).to(device)
    if mode == "lora":
        from peft import LoraConfig, inject_adapter_in_model

        model = inject_adapter_in_model(LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha,
                                                   target_modules=["query", "value"]), model)
        for name, p in model.named_parameters():
            p.requires_grad_("lora_" in name)
        groups = [{"params": list(head.parameters()), "lr": config.lr},
                  {"params": [p for p in model.parameters() if p.requires_grad], "lr": config.lr}]
    else:
        groups = [{"params": list(head.parameters()), "lr": config.lr},
                  {"params": list(model.parameters()), "lr": config.lr * config.backbone_lr_scale}]
    return model, head, groups


def batches(config: TrainConfig, data: object, device: torch.device,
            steps: int) -> list[tuple[list[str], torch.Tensor]]:
    """The texts and labels of the first ``steps`` batches our trainer draws (its seeded sampler, unchanged)."""
    plan = DataPlan(data, config, torch.device("cpu"), lambda texts, max_length=128: torch.zeros(len(texts), 1))
    idx = plan.epoch_batches(torch.Generator().manual_seed(config.seed))[:steps]
    return [([plan.pool_texts[i] for i in b.tolist()], plan.pool_y[b].to(device)) for b in idx]


def bare_steps(mode: str, data: object, device: torch.device, steps: int, built: tuple | None = None) -> float:
    """``steps`` steps of a plain loop (on ``built``, a :func:`bare_model`, when given); returns seconds."""
    from transformers import AutoTokenizer

    config = config_for("text", {**PAIR, "mode": mode})
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_folder()), local_files_only=True)
    model, head, groups = built or bare_model(mode, device)
    opt = torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
    total = config.max_steps
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5 * (1 + math.cos(math.pi * min(t, total) / total)))
    work = batches(config, data, device, steps)
    _sync(device)
    start = time.perf_counter()
    for texts, labels in work:
        tok = tokenizer(texts, padding=True, truncation=True, max_length=config.max_length, return_tensors="pt")
        tok = {k: v.to(device) for k, v in tok.items()}
        states = model(**tok).last_hidden_state
        mask = tok["attention_mask"].unsqueeze(-1).to(states.dtype)
        pooled = F.normalize((states * mask).sum(1) / mask.sum(1).clamp_min(1e-9), dim=1)
        loss = F.cross_entropy(head(pooled), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    _sync(device)
    return time.perf_counter() - start


def ours_steps(mode: str, data: object, steps: int) -> float:
    """``steps`` steps of our trainer in ``mode``; returns its training-loop seconds."""
    config = config_for("text", {**PAIR, "mode": mode, "max_steps": steps, "evals_per_epoch": 1,
                                 "eval_samples": 10})
    return float(Trainer(config, data).run().final["train_seconds"])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _rss() -> int:
    """This process's resident memory now, in bytes (Linux; elsewhere the peak so far)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child_memory(mode: str, steps: int) -> None:
    """(In a fresh process) peak memory of ``steps`` bare steps above the loaded model, printed as JSON: CUDA's
    peak allocated, or on the CPU the highest resident memory sampled every 2 ms while training."""
    import threading

    device = pick_device("auto")
    data = prepare_data(config_for("text", {**PAIR, "mode": mode}))
    built = bare_model(mode, device)
    peak = {"rss": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak["rss"] = max(peak["rss"], _rss())
            time.sleep(0.002)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        before = _rss()
        threading.Thread(target=sample, daemon=True).start()
    seconds = bare_steps(mode, data, device, steps, built)
    done.set()
    used = (torch.cuda.max_memory_allocated() if device.type == "cuda" else max(peak["rss"], _rss())) - before
    print(json.dumps({"mode": mode, "peak_mb": round(max(used, 0) / 2**20, 1), "seconds": round(seconds, 3)}))


def memory(mode: str, steps: int) -> dict | None:
    proc = subprocess.run([sys.executable, __file__, "--child", mode, "--memory-steps", str(steps)], cwd=ROOT,
                          capture_output=True, text=True, env=os.environ.copy(), check=False)
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-steps", type=int, default=10)
    parser.add_argument("--no-default", action="store_true", help="skip the default run end to end")
    parser.add_argument("--child", choices=("full", "lora"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_memory(args.child, args.memory_steps)
        return

    device = pick_device("auto")
    data = prepare_data(config_for("text", PAIR))
    rows = {}
    for mode in ("full", "lora"):
        bare_steps(mode, data, device, 2)  # warm-up (allocator, kernels)
        ours_steps(mode, data, 2)
        bare_t, ours_t = [], []
        for _ in range(args.repeats):  # interleaved, so machine noise hits both
            bare_t.append(bare_steps(mode, data, device, args.steps))
            ours_t.append(ours_steps(mode, data, args.steps))
        rows[mode] = {"bare_step_s": min(bare_t) / args.steps, "ours_step_s": min(ours_t) / args.steps,
                      "median_pair_ratio": sorted(o / b for o, b in zip(ours_t, bare_t))[len(ours_t) // 2]}
        rows[mode]["ratio"] = rows[mode]["ours_step_s"] / rows[mode]["bare_step_s"]
        rows[mode]["memory"] = memory(mode, args.memory_steps)

    default = None
    if not args.no_default:
        t = time.perf_counter()
        result = Trainer(config_for("text", PAIR)).run()
        default = {"seconds": round(time.perf_counter() - t, 1), "train_s": result.final["train_seconds"],
                   "eval_s": result.final["eval_seconds"], "steps": result.final["steps"],
                   "target_acc": round(result.final["target_acc"], 4),
                   "baseline_target_acc": round(result.final["baseline_target_acc"], 4),
                   "trainable": result.final["trainable_params"], "total": result.final["total_params"]}

    print(f"device: {describe_device(device)}; default text pair {PAIR['source']} -> {PAIR['target']}; "
          f"{args.steps} steps of {config_for('text', PAIR).batch_size}, best of {args.repeats}")
    print(f"{'mode':<6}{'bare s/step':>12}{'ours s/step':>12}{'ours/bare':>10}{'median':>8}{'peak MB':>9}")
    for mode, r in rows.items():
        mem = r["memory"]["peak_mb"] if r["memory"] else float("nan")
        print(f"{mode:<6}{r['bare_step_s']:>12.3f}{r['ours_step_s']:>12.3f}{r['ratio']:>10.3f}"
              f"{r['median_pair_ratio']:>8.3f}{mem:>9.0f}")
    lora_vs_full = rows["lora"]["ours_step_s"] / rows["full"]["ours_step_s"]
    mem_ratio = None
    if rows["full"]["memory"] and rows["lora"]["memory"] and rows["full"]["memory"]["peak_mb"]:
        mem_ratio = rows["lora"]["memory"]["peak_mb"] / rows["full"]["memory"]["peak_mb"]
    print(f"LoRA vs full: step time {lora_vs_full:.2f}x" + (f", peak training memory {mem_ratio:.2f}x"
                                                           if mem_ratio is not None else ""))
    print("target: ours/bare <= 1.15")
    if default:
        print(f"default text run: {default['seconds']:.1f} s end to end (target <= 120 s; train "
              f"{default['train_s']:.1f} s, eval {default['eval_s']:.1f} s, {default['steps']} steps), target accuracy "
              f"{default['baseline_target_acc']:.3f} -> {default['target_acc']:.3f}")
    print(json.dumps({"device": describe_device(device), "steps": args.steps,
                      **{f"{m}_{k}": (round(v, 4) if isinstance(v, float) else v) for m, r in rows.items()
                         for k, v in r.items()},
                      "lora_vs_full_step": round(lora_vs_full, 3),
                      "lora_vs_full_memory": None if mem_ratio is None else round(mem_ratio, 3),
                      "default_run": default}))


if __name__ == "__main__":
    main()
