"""``python -m da_core select``: weigh the source by a selector, keep the top fraction, measure the gap curve,
and write the selection CSV that ``train --selection`` and the Training page read."""

from __future__ import annotations

import argparse
from typing import Any

from da_core.config import DEFAULT_SOURCE, DEFAULT_TARGET


def _param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value.strip()


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}")
    return value


def cmd_select(args: argparse.Namespace) -> int:
    """Select source samples and print (or write) the selection with its measures."""
    from da_core.cliutil import check_output_path, print_result, stderr_progress, write_output
    from da_core.data import load_dataset
    from da_core.select import select_source

    if args.out:
        check_output_path(args.out, "--out")  # before any work: a bad path costs nothing
    params = dict(args.param or [])
    source, target = load_dataset(args.source), load_dataset(args.target)
    result = select_source(source, target, args.method, params, args.top, args.embedder, args.max_samples, args.seed,
                           progress=None if args.json else stderr_progress)
    if args.out:
        write_output(args.out, result.csv(args.source, source.fingerprint, args.use), "--out")
    data = result.to_dict()
    print_result(data, args.json, "" if args.json else _text(data, args))
    return 0


def _text(data: dict[str, Any], args: argparse.Namespace) -> str:
    before, after, rnd = data["gap_before"], data["gap_after"], data["random_baseline"]
    lines = [f"{data['method']} ({', '.join(f'{k}={v}' for k, v in data['params'].items()) or 'no parameters'}) on "
             f"{data['embedder']}: kept {data['n_selected']} of {data['n_source']} source samples "
             f"({data['fraction']:.0%}); effective sample size {data['ess']:.3f} of n",
             f"MMD² to the target: all source {before['mmd2']:.4g} [{before['ci'][0]:.3g}, {before['ci'][1]:.3g}] -> "
             f"selected {after['mmd2']:.4g} [{after['ci'][0]:.3g}, {after['ci'][1]:.3g}]; random subsets of the same "
             f"size {rnd['mmd2']:.4g} (range {rnd['ci'][0]:.3g}–{rnd['ci'][1]:.3g})",
             f"{'kept':>6} {'n':>6} {'MMD²':>9} {'random':>9}"]
    lines += [f"{p['fraction']:>6.0%} {p['n']:>6} {p['mmd2']:>9.4g} {p['random_mmd2']:>9.4g}" for p in data["curve"]]
    lines.append("classes kept: " + ", ".join(f"{c} {n}" for c, n in data["class_counts_after"].items()))
    lines += [f"note: {n}" for n in data["notes"]] + [f"warning: {w}" for w in data["warnings"]]
    if args.out:
        lines.append(f"wrote {args.out} (use: {args.use}); train on it with: python -m da_core train --source "
                     f"{args.source} --target {args.target} --selection {args.out}")
    return "\n".join(lines)


def register(sub: Any) -> None:
    """Add ``select`` to the ``python -m da_core`` sub-parsers."""
    from da_core.cliutil import positive_int
    from da_core.select import DEFAULT_FRACTION, DEFAULT_METHOD, selectors

    methods = selectors()
    p = sub.add_parser(
        "select", help="select the source samples that look like the target, and measure the gap they leave",
        description="Weigh every source sample by a selector, keep the top fraction, and measure MMD² between the "
                    "kept source and the target against the fraction kept, beside random subsets of the same size. "
                    "Methods: " + "; ".join(f"{s.name} ({', '.join(p.name for p in s.params) or 'no parameters'})"
                                            for s in methods.values()))
    p.add_argument("--source", default=DEFAULT_SOURCE, help="source dataset spec")
    p.add_argument("--target", default=DEFAULT_TARGET, help="target dataset spec")
    p.add_argument("--method", default=DEFAULT_METHOD, choices=list(methods), help="the selector")
    p.add_argument("--top", type=_fraction, default=DEFAULT_FRACTION, help="fraction of the source kept, in (0, 1]")
    p.add_argument("--param", type=_param, action="append", metavar="NAME=VALUE",
                   help="a selector parameter (repeatable), e.g. k=20 or column=font")
    p.add_argument("--embedder", default=None, help="digits-cnn (images' default), pixels, torchvision:ARCH, minilm "
                                                    "(text's default), tfidf or hf:PATH")
    p.add_argument("--max-samples", type=positive_int, default=None, help="cap per domain (stratified, seeded)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", metavar="SEL.csv", help="write the selection CSV (uid, domain, origin, weight, selected, "
                                                  "use, fingerprint, method, fraction, params)")
    p.add_argument("--use", choices=("subset", "weights"), default="subset",
                   help="what training does with the CSV: the selected subset, or every sample with its weight")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_select)

