"""Command line: the same library the pages use.  Every command has ``--json``.

A user mistake (bad spec, missing file, refused archive) prints one line on stderr and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from da_core.errors import DAError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line (exit 2) instead of a usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _print(obj: Any, as_json: bool, text: str) -> None:
    print(json.dumps(obj, indent=None, default=str) if as_json else text)


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
    _print(rows, args.json, "\n".join(lines))
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    """Load a dataset and print counts per class, shape and what was skipped."""
    from da_core.data import load_dataset

    ds = load_dataset(args.spec)
    info = ds.summary()
    if args.json:
        _print(info, True, "")
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
