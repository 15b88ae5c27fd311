"""Command line: the same library the pages use.  Every command has ``--json``.

A user mistake (bad spec, missing file, refused archive) prints one line on stderr and exits 2.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from da_core.errors import DAError, OutputError

EXIT_USAGE = 2

# Modules that add sub-commands: each defines ``register(sub)`` taking the argparse sub-parsers object.
COMMAND_MODULES: tuple[str, ...] = ("da_core.augment.cli", "da_core.train.cli", "da_core.warmup")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line (exit 2) instead of a usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def print_result(obj: Any, as_json: bool, text: str) -> None:
    """Print ``obj`` as strict JSON (NaN becomes null) with ``--json``, else the human-readable ``text``."""
    from da_core.jsonio import dumps

    print(dumps(obj) if as_json else text)


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
        })
    if not args.all:
        rows = [r for r in rows if r["builtin"]]
    lines = [f"{r['spec']:<32} {r['summary']}" for r in rows]
    if not args.all:
        lines.append("(also torchvision:NAME?root=PATH, folder:PATH, zip:PATH; --all lists them)")
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
    lines = [
        f"{info['name']}",
        f"  samples: {info['n']}   shape: {'x'.join(map(str, info['shape']))}   "
        f"mean/std: {info['mean']}/{info['std']}",
        f"  fingerprint: {info['fingerprint']}",
        "  counts: " + ", ".join(f"{k}={v}" for k, v in info["counts"].items()),
    ]
    if info["skipped"]:
        lines.append(f"  skipped {len(info['skipped'])} files:")
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
    import io

    import numpy as np

    from da_core.analysis import analyse_gap, fmt_acc

    for flag, path in (("--save-embeddings", args.save_embeddings), ("--umap", args.umap)):
        if path:
            check_output_path(path, flag)
    source, target, alignment = load_pair(args.source, args.target)
    progress = None if args.json else stderr_progress
    result = analyse_gap(source, target, args.embedder, args.max_samples, args.seed,
                         n_permutations=args.permutations, progress=progress)
    problems: list[str] = []  # outputs that could not be written: reported after the metrics
    if args.save_embeddings:
        buffer = io.BytesIO()  # np.savez on a path would append ".npz" to a name without it
        np.savez(buffer, source=result.xs, target=result.xt,
                 source_labels=result.source.labels.numpy(), target_labels=result.target.labels.numpy())
        try:
            write_output(args.save_embeddings, buffer.getvalue(), "--save-embeddings")
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
                                           title=f"UMAP ({mapped.engine}) of {args.source} vs {args.target}")
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


def check_output_path(path: str | os.PathLike[str], flag: str) -> Path:
    """Check, before any work starts, that ``flag PATH`` can be written: not a folder, its folder exists, writable.

    Writability is tried for real (the file opened for appending, removed again when it did not exist), so a
    read-only disk is caught even for root.  Raises :class:`OutputError` (one line naming the flag and the path).
    """
    target = Path(path).expanduser()
    shown = f"{flag} {path}"
    if target.is_dir():
        raise OutputError(f"{shown}: is a folder; give a file name inside it, e.g. {target / _example(flag)}")
    folder = target.parent
    if not folder.exists():
        raise OutputError(f"{shown}: the folder {folder} does not exist; create it first or pick another path")
    if not folder.is_dir():
        raise OutputError(f"{shown}: {folder} is not a folder")
    existed = target.exists()
    try:
        with open(target, "ab"):
            pass
    except OSError as exc:
        raise OutputError(f"{shown}: cannot write it ({exc.strerror or exc})") from None
    if not existed:
        with contextlib.suppress(OSError):
            target.unlink()
    return target


def _example(flag: str) -> str:
    return {"--umap": "map.html", "--save-embeddings": "embeddings.npz", "--sheet": "sheet.png",
            "--code": "pipeline.py"}.get(flag, "out.txt")


def write_output(path: str | os.PathLike[str], data: bytes, flag: str) -> Path:
    """Write ``data`` to exactly ``path``, whole or not at all (a temporary sibling, then a rename).

    On any failure the temporary file is removed and an existing file is left as it was; an ``OSError``
    (disk full, read-only) becomes :class:`OutputError` naming the flag and the path.
    """
    target = Path(path).expanduser()
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    except OSError as exc:
        raise OutputError(f"{flag} {path}: cannot write it ({exc.strerror or exc})") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return target


def load_pair(source_spec: str, target_spec: str) -> tuple[Any, Any, Any]:
    """Load both datasets with their shared classes and one image shape (:func:`da_core.data.align_pair`);
    what was converted is said on stderr (and goes into ``--json`` output as ``alignment``)."""
    from da_core.data import align_pair, describe_alignment, load_dataset

    source, target, alignment = align_pair(load_dataset(source_spec), load_dataset(target_spec))
    if alignment.converted:
        print(f"note: {describe_alignment(alignment)}", file=sys.stderr)
    if not alignment.identical:
        print(f"note: using the {len(alignment.shared)} classes both domains share", file=sys.stderr)
    return source, target, alignment


def stderr_progress(fraction: float, message: str) -> None:
    print(f"\r[{fraction:4.0%}] {message:<60}", end="" if fraction < 1 else "\n", file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m da_core`` argument parser."""
    parser = _Parser(prog="python -m da_core", description="Domain Shift Studio command line.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("datasets", help="list the built-in datasets")
    p.add_argument("--all", action="store_true", help="also list torchvision, folder and zip sources")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("describe", help="counts per class, shape and skipped files of a dataset spec")
    p.add_argument("spec", help="dataset spec, e.g. builtin:printed-digits?n=2000 or folder:PATH")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_describe)

    p = sub.add_parser("gap", help="embed source and target and measure the gap between them")
    p.add_argument("--source", default="builtin:printed-digits", help="source dataset spec")
    p.add_argument("--target", default="builtin:handwritten-digits", help="target dataset spec")
    p.add_argument("--embedder", default="digits-cnn", help="digits-cnn, pixels, torchvision:ARCH or hf:PATH")
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


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def number_list(kind: type = float, lo: float | None = None, hi: float | None = None,
                what: str = "number") -> Any:
    """An argparse type for comma-separated numbers, each within [lo, hi] when given (``what`` names them)."""

    def parse(text: str) -> list[Any]:
        values = []
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                value = kind(part)
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected comma-separated {what}s, got {part!r}") from None
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                bound = f"[{lo:g}, {hi:g}]" if lo is not None and hi is not None else f">= {lo:g}"
                raise argparse.ArgumentTypeError(f"{what} {part} is outside {bound}")
            values.append(value)
        if not values:
            raise argparse.ArgumentTypeError(f"expected at least one {what}")
        return values

    return parse


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
