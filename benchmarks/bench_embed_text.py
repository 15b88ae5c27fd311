"""MiniLM sentence-embedding throughput of our path vs a bare ``transformers`` ``no_grad`` loop, and the speed-up
of a cached repeat.

ours:   da_core.embed.embed(ds, "minilm", use_cache=False): texts grouped by length (longest first), tokenized per
        batch, mean pooling over the attention mask, L2-normalised, mixed precision on GPUs, float32 vectors.
bare:   the same model, tokenizer and batch size; batches in the dataset's order, each padded to its longest
        text; the same pooling, under torch.no_grad(), each batch's vectors copied to the CPU.
cached: da_core.embed.embed(ds, "minilm") a second time (disk cache hit).

Run: .venv/bin/python benchmarks/bench_embed_text.py [--n 2000]   (ends with one line of JSON)
Targets: ours/bare throughput >= 1.0 (length grouping should make it faster); cached repeat >= 50x faster.
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
_CORPORA = Path(os.environ.get("DA_CACHE_DIR") or Path.home() / ".cache" / "da-studio").expanduser()
os.environ["DA_CACHE_DIR"] = tempfile.mkdtemp(prefix="da-bench-embed-text-")
if (_CORPORA / "text").is_dir():  # the corpora from make setup; the embeddings go to a fresh cache
    os.symlink(_CORPORA / "text", Path(os.environ["DA_CACHE_DIR"]) / "text")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _timing import interleaved  # noqa: E402  (benchmarks/, beside this script)

from da_core.data import load_dataset  # noqa: E402
from da_core.embed import describe_device, embed, get_embedder, pick_device  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000, help="texts to embed (movie reviews and tweets, mixed)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    half = args.n // 2
    a = load_dataset(f"builtin:reviews-movies?n={half}&seed=5")
    b = load_dataset(f"builtin:tweets?n={args.n - half}&seed=5")
    texts = a.texts + b.texts
    order = np.random.default_rng(0).permutation(len(texts))  # lengths mixed, as in a real file
    from da_core.data import Dataset

    ds = Dataset.from_texts([texts[i] for i in order], np.zeros(len(texts), dtype=int).tolist(), ["x"],
                            domain="bench")
    emb = get_embedder("minilm")
    device = pick_device()
    model = emb.load(device)
    tokenizer = emb.tokenizer()
    batch = emb.batch_size(device)
    padded = {"bare": 0, "ours": 0}

    def bare() -> None:
        with torch.no_grad():
            for i in range(0, len(ds), batch):
                enc = tokenizer(ds.texts[i:i + batch], padding=True, truncation=True, max_length=emb.max_length,
                                return_tensors="pt").to(device)
                padded["bare"] += int(enc["input_ids"].numel())
                out = model.inner(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(out.dtype)
                torch.nn.functional.normalize((out * mask).sum(1) / mask.sum(1), dim=1).float().cpu()
        if device.type == "cuda":
            torch.cuda.synchronize()

    def ours() -> None:
        embed(ds, emb, use_cache=False)

    bare()  # warm-up
    ours()
    grouped = [ds.texts[i] for i in emb.order(ds.texts)]
    for i in range(0, len(grouped), batch):
        padded["ours"] += int(tokenizer(grouped[i:i + batch], padding=True, truncation=True,
                                        max_length=emb.max_length, return_tensors="pt")["input_ids"].numel())
    bare_s, ours_s = interleaved(bare, ours, args.repeats)  # in turn, so machine noise hits both
    embed(ds, emb)  # fill the cache
    cached_t = []
    for _ in range(5):
        t = time.perf_counter()
        assert embed(ds, emb).cached
        cached_t.append(time.perf_counter() - t)
    cached_s = min(cached_t)
    bare_tokens = padded["bare"] // (1 + args.repeats)
    ratio = bare_s / ours_s
    print(f"device: {describe_device(device)}   texts: {len(ds)}   batch: {batch}   "
          f"mixed precision: {emb.mixed_precision and device.type != 'cpu'}")
    print(f"tokens computed (padding included): bare {bare_tokens:,}, ours {padded['ours']:,} "
          f"({padded['ours'] / bare_tokens:.0%})")
    print(f"{'path':<8}{'seconds':>10}{'texts/s':>12}")
    print(f"{'bare':<8}{bare_s:>10.3f}{len(ds) / bare_s:>12.0f}")
    print(f"{'ours':<8}{ours_s:>10.3f}{len(ds) / ours_s:>12.0f}")
    print(f"{'cached':<8}{cached_s:>10.4f}{len(ds) / cached_s:>12.0f}")
    print(f"throughput ours/bare = {ratio:.2f} (target >= 1.0); cached speed-up = {ours_s / cached_s:.0f}x "
          "(target >= 50x)")
    print(json.dumps({"device": device.type, "n": len(ds), "batch": batch, "ours_s": round(ours_s, 4),
                      "bare_s": round(bare_s, 4), "ratio_vs_bare": round(ratio, 3),
                      "tokens_bare": bare_tokens, "tokens_ours": padded["ours"], "cached_s": round(cached_s, 5),
                      "cached_speedup": round(ours_s / cached_s, 1)}))


if __name__ == "__main__":
    main()
