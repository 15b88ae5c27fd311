"""Embedding throughput of our path vs a bare ``torch.no_grad()`` loop over the same model and batches,
and the speed-up of a cached repeat.

ours:   da_core.embed.embed(ds, "digits-cnn", use_cache=False): pick device, preprocess on the device,
        mixed precision on GPUs, collect float32 vectors.
bare:   for each batch: images -> device -> the same preprocessing -> model -> .cpu(), under no_grad.
cached: da_core.embed.embed(ds, "digits-cnn") a second time (disk cache hit).

Run: .venv/bin/python benchmarks/bench_embed.py [--n 20000]   (ends with one line of JSON)
Targets: ours/bare throughput >= 0.9; cached repeat >= 50x faster than embedding.
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
os.environ.setdefault("DA_CACHE_DIR", tempfile.mkdtemp(prefix="da-bench-embed-"))

import torch  # noqa: E402
from _timing import interleaved  # noqa: E402  (benchmarks/, beside this script)

from da_core.data import load_dataset  # noqa: E402
from da_core.embed import describe_device, embed, get_embedder, pick_device  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=12000, help="printed digits to embed")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mixed-precision", choices=("default", "on", "off"), default="default",
                        help="override the embedder's autocast setting (to measure it)")
    args = parser.parse_args()

    ds = load_dataset(f"builtin:printed-digits?n={args.n}&seed=5")
    emb = get_embedder("digits-cnn")
    if args.mixed_precision != "default":
        emb.mixed_precision = args.mixed_precision == "on"
    device = pick_device()
    model = emb.load(device)
    batch = emb.batch_size(device)

    def bare() -> None:
        with torch.no_grad():
            for i in range(0, len(ds), batch):
                x = emb.preprocess(ds.images[i:i + batch].to(device))
                model(x).float().cpu()
        if device.type == "cuda":
            torch.cuda.synchronize()

    def ours() -> None:
        embed(ds, emb, use_cache=False)

    bare()  # warm-up (kernels, allocator)
    ours()
    bare_s, ours_s = interleaved(bare, ours, args.repeats)  # in turn, so machine noise hits both

    embed(ds, emb)  # fill the cache
    cached_t = []
    for _ in range(5):
        t = time.perf_counter()
        res = embed(ds, emb)
        cached_t.append(time.perf_counter() - t)
        assert res.cached
    cached_s = min(cached_t)

    ratio = bare_s / ours_s
    print(f"device: {describe_device(device)}   samples: {len(ds)}   batch: {batch}   "
          f"mixed precision: {emb.mixed_precision and device.type != 'cpu'}")
    print(f"{'path':<8}{'seconds':>10}{'samples/s':>12}")
    print(f"{'bare':<8}{bare_s:>10.3f}{len(ds) / bare_s:>12.0f}")
    print(f"{'ours':<8}{ours_s:>10.3f}{len(ds) / ours_s:>12.0f}")
    print(f"{'cached':<8}{cached_s:>10.4f}{len(ds) / cached_s:>12.0f}")
    print(f"throughput ours/bare = {ratio:.2f} (target >= 0.9); cached speed-up = {ours_s / cached_s:.0f}x "
          "(target >= 50x)")
    print(json.dumps({"device": device.type, "n": len(ds), "ours_s": round(ours_s, 4), "bare_s": round(bare_s, 4),
                      "ratio_vs_bare": round(ratio, 3), "cached_s": round(cached_s, 5),
                      "cached_speedup": round(ours_s / cached_s, 1)}))


if __name__ == "__main__":
    main()
