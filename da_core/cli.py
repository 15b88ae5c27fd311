"""Command line: the same library the pages use.  Every command has ``--json``.

A user mistake (bad spec, missing file, refused archive) prints one line on stderr and exits 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from da_core.cliutil import (
    check_output_path,
    load_pair,
    number_list,
    positive_int,
    print_result,
    stderr_progress,
    write_output,
)
from da_core.config import DEFAULT_SOURCE, DEFAULT_TARGET
from da_core.errors import DAError, OutputError

__all__ = ["build_parser", "check_output_path", "load_pair", "main", "number_list", "positive_int", "print_result",
           "stderr_progress", "write_output"]

EXIT_USAGE = 2

# Modules that add sub-commands: each defines ``register(sub)`` taking the argparse sub-parsers object.
COMMAND_MODULES: tuple[str, ...] = ("da_core.augment.cli", "da_core.select.cli", "da_core.study.cli",
                                    "da_core.train.cli", "da_core.tune.cli", "da_core.warmup", "da_core.data.vader",
                                    "da_core.report_cli")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line (exit 2) instead of a usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def cmd_datasets(args: argparse.Namespace) -> int:
    """List the built-in datasets and the other spec schemes."""
    from da_core.data import sources

    rows = []
    for src in sources():
        rows.append({
            "spec": src.key if src.scheme in ("builtin", "torchvision") else f"{src.key}:PATH",
            "summary": src.summary,
            "options": {p.name: p.default for p in src.params},
            "builtin": src.scheme == "builtin",
            "modality": src.modality,
        })
    if not args.all:
        rows = [r for r in rows if r["builtin"]]
    lines = [f"{r['spec']:<32} {r['summary']}" for r in rows]
    if not args.all:
        lines.append("(also torchvision:NAME?root=PATH, folder:PATH, zip:PATH, csv:PATH, jsonl:PATH, hfdisk:PATH; "
                     "--all lists them)")
    print_result(rows, args.json, "\n".join(lines))
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    """Load a dataset and print counts per class, shape and what was skipped."""
    from da_core.data import load_dataset

    ds = load_dataset(args.spec)
    info = ds.summary()
    if args.json:
        print_result(info, True, "")
        return 0
    if info["modality"] == "text":
        shape = (f"  samples: {info['n']} texts   words per text: mean {info['words_mean']}, median "
                 f"{info['words_median']}, {info['words_min']}–{info['words_max']}")
    else:
        shape = (f"  samples: {info['n']}   shape: {'x'.join(map(str, info['shape']))}   "
                 f"mean/std: {info['mean']}/{info['std']}")
    lines = [
        f"{info['name']}  ({info['modality']})",
        shape,
        f"  fingerprint: {info['fingerprint']}",
        "  counts: " + ", ".join(f"{k}={v}" for k, v in info["counts"].items()),
    ]
    if info["skipped"]:
        lines.append(f"  skipped {len(info['skipped'])} {'rows' if info['modality'] == 'text' else 'files'}:")
        lines += [f"    {s['path']}: {s['reason']}" for s in info["skipped"][:50]]
    if info["ignored"]:
        lines.append(f"  ignored {info['ignored']} non-image files")
    lines += [f"  note: {note}" for note in info["notes"]]
    print("\n".join(lines))
    return 0


def cmd_gap(args: argparse.Namespace) -> int:
    """Embed both domains and print the gap metrics (with baselines, intervals and the MMD² p-value).

    ``--save-embeddings`` and ``--umap`` are checked before the work starts; if writing them still fails (a disk
    that fills), the metrics are printed first and then the error (exit 2).
    """

    import numpy as np

    from da_core.gap_workflow import analyse_gap, embeddings_npz, fmt_acc, map_hover_texts

    for flag, path in (("--save-embeddings", args.save_embeddings), ("--umap", args.umap)):
        if path:
            check_output_path(path, flag)
    from da_core.embed import default_embedder

    source, target, alignment = load_pair(args.source, args.target)
    progress = None if args.json else stderr_progress
    embedder = args.embedder or default_embedder(source.modality)
    result = analyse_gap(source, target, embedder, args.max_samples, args.seed,
                         n_permutations=args.permutations, progress=progress)
    problems: list[str] = []  # outputs that could not be written: reported after the metrics
    if args.save_embeddings:
        try:
            write_output(args.save_embeddings, embeddings_npz(result), "--save-embeddings")
        except DAError as exc:
            problems.append(str(exc))
    if args.umap:
        try:
            from da_core import viz
            from da_core.reduce import reduce

            points = np.concatenate([result.xs, result.xt])
            domains = np.array(["source"] * len(result.xs) + ["target"] * len(result.xt))
            labels = np.concatenate([result.source.labels.numpy(), result.target.labels.numpy()])
            mapped = reduce(points, "umap", seed=args.seed)
            fig = viz.embedding_map_figure(mapped.coords, domains, labels, result.source.classes,
                                           title=f"UMAP ({mapped.engine}) of {args.source} vs {args.target}",
                                           hover_texts=map_hover_texts(result))
            write_output(args.umap, fig.to_html(include_plotlyjs=True).encode(), "--umap")
        except DAError as exc:
            problems.append(str(exc))
    data = {**result.to_dict(), "alignment": alignment.to_dict()}
    if args.json:
        print_result(data, True, "")
        return _unwritten(problems)
    lines = [f"embedder {data['embedder']} on {data['device']}: {data['n_source']} source x {data['n_target']} target",
             f"{'metric':<9}{'value':>11}{'baseline':>11}{'95% CI':>24}{'p':>8}  significant"]
    for name, m in data["metrics"].items():
        ci = f"[{m['ci'][0]:.4g}, {m['ci'][1]:.4g}]"
        p = "" if m["p_value"] is None else f"{m['p_value']:.3g}"
        lines.append(f"{name:<9}{m['value']:>11.4g}{m['baseline']:>11.4g}{ci:>24}{p:>8}  "
                     f"{'yes' if m['significant'] else 'no'}")
    lines.append(f"linear probe: source acc {fmt_acc(data['probe']['source_acc'])}, "
                 f"target acc {fmt_acc(data['probe']['target_acc'])}")
    print("\n".join(lines))
    return _unwritten(problems)


def _unwritten(problems: list[str]) -> int:
    """0, or :class:`OutputError` listing the outputs that could not be written (after the results were printed)."""
    if problems:
        raise OutputError("; ".join(problems))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m da_core`` argument parser."""
    parser = _Parser(prog="python -m da_core", description="Domain Shift Studio command line.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("datasets", help="list the built-in datasets")
    p.add_argument("--all", action="store_true", help="also list torchvision, folder and zip sources")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("describe", help="modality, counts per class, shape or text lengths, and skipped files of a "
                                        "dataset spec")
    p.add_argument("spec", help="dataset spec, e.g. builtin:printed-digits?n=2000 or folder:PATH")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_describe)

    p = sub.add_parser("gap", help="embed source and target and measure the gap between them")
    p.add_argument("--source", default=DEFAULT_SOURCE, help="source dataset spec")
    p.add_argument("--target", default=DEFAULT_TARGET, help="target dataset spec")
    p.add_argument("--embedder", default=None, help="digits-cnn (images' default), pixels, torchvision:ARCH, minilm "
                                                    "(text's default), tfidf or hf:PATH")
    p.add_argument("--max-samples", type=positive_int, default=2000, help="cap per domain (stratified, seeded)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--permutations", type=positive_int, default=200, help="MMD² permutation-test size")
    p.add_argument("--save-embeddings", metavar="F.npz", help="write the vectors the metrics used")
    p.add_argument("--umap", metavar="F.html", help="write a UMAP map of both domains as HTML")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_gap)

    import importlib

    for module in COMMAND_MODULES:  # each adds its own sub-commands; imports stay light (no torch at import)
        importlib.import_module(module).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except DAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
