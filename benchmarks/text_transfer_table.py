"""The 4 × 4 transfer table of the text built-ins: accuracy of a linear probe on frozen sentence embeddings,
trained on each genre and tested on each genre (the text counterpart of the classic cross-domain sentiment tables).

Every genre is split once, stratified and seeded, into 80 % training and 20 % held-out texts; the probe
(``da_core.probe.fit_linear_probe``, standardised logistic regression) is fitted on a row's training part and
scored on every column's held-out part, so the diagonal is in-domain accuracy on held-out texts and each column is
scored on the same texts.  The last row gives each test set's majority-class rate (what always answering the
commoner class scores).  Embeddings go through ``da_core.embed.embed`` and its disk cache.

Run: .venv/bin/python benchmarks/text_transfer_table.py [--embedder minilm] [--n N]   (ends with one line of JSON)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from da_core.data import load_dataset  # noqa: E402
from da_core.data.vader import BUILTINS  # noqa: E402
from da_core.embed import embed, get_embedder  # noqa: E402
from da_core.probe import fit_linear_probe  # noqa: E402

SHORT = {"reviews-products": "products", "reviews-movies": "movies", "editorials-news": "editorials",
         "tweets": "tweets"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--embedder", default="minilm")
    parser.add_argument("--n", type=int, default=None, help="texts per genre (all when unset)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    t0 = time.perf_counter()
    data = {}
    emb = get_embedder(args.embedder)
    if emb.fits_on_data:  # tfidf: one vocabulary for all four genres
        datasets = [load_dataset(f"builtin:{name}" + (f"?n={args.n}" if args.n else "")) for name in BUILTINS]
        emb.fit(datasets)
    for name in BUILTINS:
        ds = load_dataset(f"builtin:{name}?seed={args.seed}" + (f"&n={args.n}" if args.n else ""))
        x = embed(ds, emb, progress=None).vectors
        train, held = ds.split(0.2, seed=args.seed)
        pos = {u: i for i, u in enumerate(ds.uids)}
        tr = np.array([pos[u] for u in train.uids])
        te = np.array([pos[u] for u in held.uids])
        data[SHORT[name]] = (x[tr], train.labels.numpy(), x[te], held.labels.numpy(), ds.classes)
        print(f"{SHORT[name]}: {len(ds)} texts ({', '.join(f'{k} {v}' for k, v in ds.counts.items())})",
              file=sys.stderr)
    names = list(data)
    acc = np.zeros((len(names), len(names)))
    for i, a in enumerate(names):
        xa, ya, _, _, classes = data[a]
        probe = fit_linear_probe(xa, ya, len(classes))
        for j, b in enumerate(names):
            _, _, xb, yb, _ = data[b]
            acc[i, j] = float((probe.predict(xb) == yb).mean())
    majority = [float(max(np.mean(data[b][3] == 0), np.mean(data[b][3] == 1))) for b in names]

    print(f"\nLinear probe on frozen {args.embedder} embeddings: rows train, columns test (held-out 20 %)\n")
    print("| train ↓ / test → | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for i, a in enumerate(names):
        cells = [f"**{acc[i, j]:.3f}**" if i == j else f"{acc[i, j]:.3f}" for j in range(len(names))]
        print(f"| {a} | " + " | ".join(cells) + " |")
    print("| *majority class* | " + " | ".join(f"*{m:.3f}*" for m in majority) + " |")
    drop = {f"{a}->{b}": round(acc[j, j] - acc[i, j], 3) for i, a in enumerate(names) for j, b in enumerate(names)
            if i != j}
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    print(json.dumps({"embedder": args.embedder, "genres": names, "accuracy": np.round(acc, 4).tolist(),
                      "majority": [round(m, 4) for m in majority], "transfer_loss": drop,
                      "seconds": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main()
