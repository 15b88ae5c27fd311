"""Per-op over-augmentation curves on the default text pair: each text op alone (EDA's four, AEDA, character
noise) measured as the Augmentation lab measures it — affinity and label-flip rate under a probe fitted on clean
source embeddings, MMD² of the augmented source to the target, the sweet spot — at s = 0, 0.25, 0.45, 0.7, 1.

Run: .venv/bin/python benchmarks/text_aug_curves.py [--embedder minilm] [--max-samples 400]
(prints a table per op and ends with one line of JSON)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from da_core.augment import OpConfig, Pipeline  # noqa: E402
from da_core.augment.measure import measure_over_augmentation  # noqa: E402
from da_core.augment.text_ops import synonym_source, text_op_names  # noqa: E402
from da_core.config import DEFAULT_TEXT_SOURCE, DEFAULT_TEXT_TARGET  # noqa: E402
from da_core.data import load_dataset  # noqa: E402

GRID = (0.0, 0.25, 0.45, 0.7, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", default="minilm")
    parser.add_argument("--max-samples", type=int, default=400, help="texts per domain (the lab's default: 400)")
    args = parser.parse_args()
    src, tgt = load_dataset(DEFAULT_TEXT_SOURCE), load_dataset(DEFAULT_TEXT_TARGET)
    print(f"{DEFAULT_TEXT_SOURCE} ({len(src)} texts) -> {DEFAULT_TEXT_TARGET} ({len(tgt)}); embedder "
          f"{args.embedder}; max_samples {args.max_samples}; synonyms: {synonym_source()}")
    out = {}
    for name in text_op_names():
        t = time.perf_counter()
        r = measure_over_augmentation(Pipeline([OpConfig(name)], 0.5, 0), src, tgt, strengths=GRID,
                                      embedder=args.embedder, max_samples=args.max_samples, seed=0)
        print(f"\n{name}: clean accuracy {r.clean_accuracy:.3f}, {time.perf_counter() - t:.1f} s, sweet spot "
              f"{r.sweet_spot}")
        print(f"{'s':>5} {'affinity':>9} {'flips':>7} {'MMD²':>8}  what s means")
        for x in r.results:
            print(f"{x.strength:>5.2f} {x.affinity:>9.3f} {x.label_flip_rate:>7.3f} {x.gap_to_target:>8.4f}  "
                  f"{x.description}")
        out[name] = {"sweet_spot": r.sweet_spot, "clean_accuracy": r.clean_accuracy,
                     "curve": [{"s": x.strength, "affinity": x.affinity, "flip_rate": x.label_flip_rate,
                                "mmd2": x.gap_to_target} for x in r.results]}
    print(json.dumps({"embedder": args.embedder, "max_samples": args.max_samples, "ops": out}))


if __name__ == "__main__":
    main()
