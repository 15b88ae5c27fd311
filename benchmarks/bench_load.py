"""Time to load the default pair (printed -> handwritten digits), cold and cached.

cold:   a fresh DA_CACHE_DIR, so both built-ins are generated (fonts rendered, UCI digits resized).
cached: the same specs again in a new process-equivalent path (disk cache hit, npz read + checks).
bare:   the floor for a cached load, measured in the same run: np.load of the same cache files and
        torch.from_numpy, nothing else.  The ratio cached / bare is what our loader adds.

Run: .venv/bin/python benchmarks/bench_load.py   (ends with one line of JSON)
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _timing import best_of  # noqa: E402  (benchmarks/, beside this script)

os.environ["DA_CACHE_DIR"] = tempfile.mkdtemp(prefix="da-bench-load-")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from da_core import config  # noqa: E402
from da_core.data import DEFAULT_SOURCE, DEFAULT_TARGET, load_dataset  # noqa: E402


def main() -> None:
    import PIL.Image  # noqa: F401
    import sklearn.datasets  # noqa: F401  (imports are not what we measure)

    t = time.perf_counter()
    pair = [load_dataset(DEFAULT_SOURCE), load_dataset(DEFAULT_TARGET)]
    cold = time.perf_counter() - t

    cached = best_of(lambda: [load_dataset(DEFAULT_SOURCE), load_dataset(DEFAULT_TARGET)])
    files = sorted((config.cache_dir() / "datasets").glob("*.npz"))

    def bare() -> None:
        for f in files:
            with np.load(f) as z:
                torch.from_numpy(z["images"]), torch.from_numpy(z["labels"])

    bare_s = best_of(bare)
    n = sum(len(d) for d in pair)
    print(f"{'what':<10}{'seconds':>10}  notes")
    print(f"{'cold':<10}{cold:>10.3f}  generate {n} samples ({len(pair[0])} printed + {len(pair[1])} handwritten)")
    print(f"{'cached':<10}{cached:>10.3f}  disk cache hit, best of 5")
    print(f"{'bare':<10}{bare_s:>10.3f}  np.load + torch.from_numpy of the same files, best of 5")
    print(f"cached / bare = {cached / bare_s:.2f}x; cold / cached = {cold / cached:.0f}x")
    print(json.dumps({"cold_s": round(cold, 3), "cached_s": round(cached, 4), "bare_s": round(bare_s, 4),
                      "ratio_vs_bare": round(cached / bare_s, 2), "samples": n}))


if __name__ == "__main__":
    main()
