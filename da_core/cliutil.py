"""Helpers the command-line modules share: strict JSON output, progress, argparse types, output paths and
loading a pair.  The sub-command modules (``da_core.augment.cli``, ``da_core.train.cli``, ``da_core.warmup``)
import these from here, so none of them imports ``da_core.cli``, which imports them (no cycle).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path
from typing import Any

from da_core.errors import OutputError


def print_result(obj: Any, as_json: bool, text: str) -> None:
    """Print ``obj`` as strict JSON (NaN becomes null) with ``--json``, else the human-readable ``text``."""
    from da_core.jsonio import dumps

    print(dumps(obj) if as_json else text)


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
