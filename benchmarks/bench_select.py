"""Selection weights for 20,000 × 128 source against 20,000 target embeddings: each selector, against the bare
scikit-learn computation it wraps, measured in the same process.

density-ratio vs a bare cross-fitted logistic regression (``cross_val_predict`` of StandardScaler +
LogisticRegression on the same folds); knn-similarity vs scikit-learn's brute-force cosine ``NearestNeighbors``;
the others timed alone.  Targets: density-ratio ≤ 1.2× its bare fit and ≤ 3 s on 2 cores.  Ends with one line
of JSON.  Synthetic embeddings (two shifted Gaussian mixtures with groups), seeded.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402
from _timing import best_of  # noqa: E402  (benchmarks/, beside this script)

from da_core.select import get_selector, selectors  # noqa: E402
from da_core.select.selectors import SelectorInput  # noqa: E402


def _data(n: int, d: int, seed: int = 0) -> SelectorInput:
    rng = np.random.default_rng(seed)
    ys = rng.integers(0, 10, n)
    centres = rng.normal(size=(10, d)) * 2
    groups = rng.integers(0, 20, n)
    xs = centres[ys] + rng.normal(size=(n, d)) + (groups[:, None] % 4) * 0.3
    yt = rng.integers(0, 10, n)
    xt = centres[yt] + rng.normal(size=(n, d)) + 0.6
    meta = pd.DataFrame({"group": groups.astype(str)})
    return SelectorInput(xs.astype(np.float32), xt.astype(np.float32), ys, yt, meta, 10, seed)


def _bare_density_ratio(inputs: SelectorInput, folds: int) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    z = np.concatenate([inputs.xs, inputs.xt])
    d = np.r_[np.zeros(len(inputs.xs), dtype=int), np.ones(len(inputs.xt), dtype=int)]
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=inputs.seed)
    cross_val_predict(make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)), z, d, cv=cv,
                      method="decision_function")


def _bare_knn(inputs: SelectorInput, k: int) -> None:
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute").fit(inputs.xt)
    dist, _ = nn.kneighbors(inputs.xs)
    (1 - dist).mean(1)



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--dims", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    inputs = _data(args.n, args.dims)
    bare = {"density-ratio": lambda: _bare_density_ratio(inputs, get_selector("density-ratio").resolve({})["folds"]),
            "knn-similarity": lambda: _bare_knn(inputs, get_selector("knn-similarity").resolve({})["k"])}
    params = {"group": {"column": "group"}}
    rows = {}
    for name, selector in selectors("image").items():  # synthetic embeddings: not dsir, which reads texts
        values = selector.resolve(params.get(name))
        ours = best_of(lambda: selector.fn(inputs, values), args.repeats)  # noqa: B023
        base = best_of(bare[name], args.repeats) if name in bare else None
        rows[name] = {"ours_s": round(ours, 3), "bare_s": None if base is None else round(base, 3),
                      "ratio_vs_bare": None if base is None else round(ours / base, 3)}
    print(f"{args.n} x {args.dims} source vs {args.n} target embeddings; best of {args.repeats}")
    print(f"{'selector':<18}{'ours s':>9}{'bare s':>9}{'ratio':>8}  bare baseline")
    what = {"density-ratio": "cross_val_predict(StandardScaler + LogisticRegression)",
            "knn-similarity": "NearestNeighbors(metric='cosine', brute).kneighbors"}
    for name, r in rows.items():
        b = "-" if r["bare_s"] is None else f"{r['bare_s']:.3f}"
        ratio = "-" if r["ratio_vs_bare"] is None else f"{r['ratio_vs_bare']:.2f}"
        print(f"{name:<18}{r['ours_s']:>9.3f}{b:>9}{ratio:>8}  {what.get(name, 'none (timed alone)')}")
    dr = rows["density-ratio"]
    print(f"density-ratio: {dr['ours_s']:.2f} s (target <= 3 s), {dr['ratio_vs_bare']:.2f}x its bare fit "
          "(target <= 1.2)")
    print(json.dumps({"n": args.n, "dims": args.dims, "selectors": rows}))


if __name__ == "__main__":
    main()
