"""Augmentation preview latency: one slider change = a contact sheet of 8 samples x 5 strengths.

ours:  da_core.augment.preview.contact_sheet — one batched torchvision v2 call per op per column.
bare:  a per-image loop of the same torchvision v2 transforms (``pipeline.build(s)`` applied to each image
       on its own), measured in the same run.  Targets: ours <= 100 ms at 28 px grey, <= 150 ms at 224 px RGB.

Run: .venv/bin/python benchmarks/bench_preview.py [--device cpu|cuda] [--repeats 7]
(ends with one line of JSON)
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
os.environ.setdefault("DA_CACHE_DIR", tempfile.mkdtemp(prefix="da-bench-preview-"))

import torch  # noqa: E402

from da_core.augment import default_pipeline  # noqa: E402
from da_core.augment.preview import DEFAULT_STRENGTHS, contact_sheet  # noqa: E402
from da_core.data import load_dataset  # noqa: E402


def _best(fn, repeats: int) -> float:
    fn()  # warm-up (first calls allocate)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def measure(spec: str, device: str, repeats: int, without: str = "") -> dict[str, float]:
    """Median seconds of our contact sheet and of the per-image loop for 8 samples of ``spec``."""
    data = load_dataset(spec)
    images = data.images[torch.linspace(0, len(data) - 1, 8).long()].to(device)
    pipe = default_pipeline()
    pipe.ops = [op for op in pipe.ops if op.name != without]
    transforms = [pipe.build(s) for s in DEFAULT_STRENGTHS]

    def ours() -> None:
        contact_sheet(pipe, images)

    def bare() -> None:
        torch.manual_seed(0)
        for t in transforms:
            for img in images:
                t(img)

    return {"ours_s": _best(ours, repeats), "bare_s": _best(bare, repeats)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    cases = {"28px grey": ("builtin:printed-digits?n=200&size=28", 0.100, ""),
             "224px RGB": ("builtin:textured-digits?n=40&size=224", 0.150, ""),
             # torchvision's ElasticTransform builds a full-size displacement field per call: most of the cost
             "224px-noelastic RGB": ("builtin:textured-digits?n=40&size=224", 0.150, "elastic")}
    print(f"pipeline: {default_pipeline().describe()}  (8 samples x 5 strengths, device {args.device}, "
          f"{torch.get_num_threads()} threads)")
    print(f"{'case':<20}{'ours ms':>10}{'per-image ms':>14}{'speed-up':>10}{'target ms':>11}")
    out: dict[str, float] = {}
    for name, (spec, target, without) in cases.items():
        m = measure(spec, args.device, args.repeats, without)
        print(f"{name:<20}{m['ours_s'] * 1000:>10.1f}{m['bare_s'] * 1000:>14.1f}"
              f"{m['bare_s'] / m['ours_s']:>9.1f}x{target * 1000:>11.0f}")
        key = name.split()[0]
        out[f"ours_ms_{key}"] = round(m["ours_s"] * 1000, 1)
        out[f"per_image_ms_{key}"] = round(m["bare_s"] * 1000, 1)
        out[f"speedup_{key}"] = round(m["bare_s"] / m["ours_s"], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
