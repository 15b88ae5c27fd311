"""Sub-command ``report``: a stored comparison study as one self-contained HTML file (:mod:`da_core.report`).

``python -m da_core report --study ID --out report.html`` writes the file whole or not at all; ``--json``
prints ``study_id``, ``out``, ``bytes`` and ``figures``.  A study that is not in the history is a one-line
error (exit 2).
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any


def cmd_report(args: argparse.Namespace) -> int:
    """Build the report of ``--study`` and write it to ``--out``."""
    from da_core.cliutil import check_output_path, print_result, stderr_progress, write_output
    from da_core.report import build_report
    from da_core.train.store import get_store

    check_output_path(args.out, "--out")  # before any work: a bad path is said at once
    store = get_store()
    show = None if args.json or not sys.stderr.isatty() else stderr_progress
    text = build_report(args.study, store, progress=show)
    path = write_output(args.out, text.encode("utf-8"), "--out")
    found = re.search(r'data-figures="(\d+)"', text)
    figures = int(found.group(1)) if found else 0
    data = {"study_id": args.study, "out": str(path), "bytes": len(text.encode("utf-8")), "figures": figures}
    print_result(data, args.json, f"wrote the report of study #{args.study} to {path} ({data['bytes'] / 1e6:.1f} MB, "
                                  f"{figures} figures; it opens offline)")
    return 0


def register(sub: Any) -> None:
    """Add ``report`` to the ``python -m da_core`` parser."""
    from da_core.cliutil import positive_int

    p = sub.add_parser("report", help="a stored comparison study as one self-contained HTML report (opens offline)")
    p.add_argument("--study", type=positive_int, required=True, metavar="ID", help="the study's id (the Study page "
                                                                                   "and compare --json show it)")
    p.add_argument("--out", required=True, metavar="PATH", help="the HTML file to write, e.g. report.html")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_report)
