"""Sub-command ``compare``: a comparison study (arms × seeds, optionally a grid) recorded in the run history.

``--json`` prints ``study_id``, ``arms`` (name, target_acc_mean, target_acc_ci, paired_diff_vs_source_only,
runs), ``recommendation``; with ``--grid``, ``cells`` (k, source_share, winner, margin, tie, arms).
"""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

from da_core.errors import DAError, SpecError


def _grid(text: str) -> list[int]:
    """``k=0,5,20`` → [0, 5, 20]."""
    name, _, values = text.partition("=")
    if name.strip() != "k" or not values.strip():
        raise argparse.ArgumentTypeError(f"expected k=N,N,... (labelled target samples per class), got {text!r}")
    try:
        ks = [int(v) for v in values.replace(";", ",").split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"k: expected whole numbers, got {values!r}") from None
    if not ks or any(k < 0 for k in ks):
        raise argparse.ArgumentTypeError(f"k: expected whole numbers >= 0, got {values!r}")
    return ks


def _spec(args: argparse.Namespace) -> Any:
    """The study the flags describe (the base config from --config and the training flags)."""
    from da_core.study import StudySpec, default_arms
    from da_core.train.cli import _config, _read_json

    base = _config(args)
    if args.source_share is not None and args.grid is None:
        raise SpecError("--source-share needs --grid k=... (the map's other axis)")
    arms = [a.strip() for a in args.arms.split(",") if a.strip()] if args.arms else default_arms()
    spec = StudySpec(base, arms, list(range(args.seeds)), method=args.method, fraction=args.fraction,
                     pipeline=_read_json(args.pipeline, "--pipeline") if args.pipeline else None,
                     strength=args.strength, augment_on=args.augment_on, adv_strength=args.adv_strength, ks=args.grid,
                     shares=(args.source_share or [1.0, 0.2]) if args.grid is not None else None, name=args.name)
    return spec.validate()


def _stored(store: Any, study_id: int) -> Any:
    """The spec of a stored study, to resume it; :class:`SpecError` when there is none or it is running."""
    from da_core.study import StudySpec

    study = store.get_sweep(study_id)
    if study is None or study.kind != "study":
        raise SpecError(f"--resume {study_id}: there is no study #{study_id} in the run history")
    if study.status in ("queued", "running"):
        raise SpecError(f"--resume {study_id}: study #{study_id} is {study.status} (in another process?); stop it "
                        "first")
    return StudySpec.from_dict(study.config)


def cmd_compare(args: argparse.Namespace) -> int:
    """Run the study and print each arm's target accuracy with intervals, the paired differences and the
    recommendation (and the map's cells)."""
    from da_core.cliutil import print_result
    from da_core.study import estimate_seconds, run_study
    from da_core.train.cli import _open_store, _progress, ray_options

    backend, ray = ray_options(args)  # a missing Ray is a one-line mistake before anything is recorded
    store = _open_store(args)
    if args.resume is not None:
        spec, study_id = _stored(store, args.resume), args.resume
    else:
        spec = _spec(args)
        study_id = store.create_sweep(spec.to_dict(), "queued", origin="cli", kind="study")
    show = _progress(args)
    if show:
        seconds, basis = estimate_seconds(spec, store)
        show(0.0, f"{spec.run_count()} runs; " + (f"about {seconds / 60:.1f} min ({basis})" if seconds else basis))
    try:
        result = run_study(spec, store, study_id=study_id, origin="cli",
                           on_run=(lambda rid, i, n, label: show(i / n, f"run {i + 1}/{n} (#{rid}) {label}"))
                           if show else None, on_setup=(lambda f, m: show(0.0, f"set-up: {m}")) if show else None,
                           backend=backend, ray=ray)
    except KeyboardInterrupt:
        with contextlib.suppress(DAError):
            store.set_sweep_status(study_id, "stopped", "stopped from the command line (Ctrl+C)")
            for run in store.list_runs(status=("queued", "running"), sweep_id=study_id):
                store.set_status(run.id, "stopped", "stopped from the command line (Ctrl+C)")
        raise
    data = result.to_dict()
    data.pop("records")
    print_result(data, args.json, _text(result))
    return 0 if result.status == "finished" else 1


def _text(result: Any) -> str:
    """The table and the recommendation, for a terminal."""
    main = result.main
    lines = [f"study #{result.study_id} {result.status}: {len(result.records)} runs in {result.seconds:.1f} s"
             + (f" ({result.message})" if result.message else "")]
    if result.setup is not None:
        lines.append(f"augmentation: {result.setup.strength_note}" if result.setup.strength is not None else "")
    lines.append(f"{'arm':<58} {'n':>2} {'target_acc':>10} {'95% interval':>17} {'vs source only':>24} "
                 f"{'feat MMD²':>9} {'s/run':>6}")
    for arm in main.arms if main else []:
        acc, diff = arm.target_acc, arm.paired_vs_reference
        vs = "—" if diff is None or arm.name == "source-only" else \
            f"{diff.mean * 100:+.1f} [{diff.low * 100:+.1f}, {diff.high * 100:+.1f}]"
        gap = "—" if arm.feature_mmd2 is None else f"{arm.feature_mmd2:.3f}"
        lines.append(f"{arm.title[:58]:<58} {arm.n:>2} {acc.mean:>10.4f} {f'[{acc.low:.3f}, {acc.high:.3f}]':>17} "
                     f"{vs:>24} {gap:>9} {arm.seconds or 0:>6.1f}")
    if result.recommendation:
        lines += ["", result.recommendation]
    if result.spec.is_grid:
        lines += ["", f"{'k':>4} {'source':>7}  winner (margin over the runner-up, points)"]
        for cell in result.cells:
            won = "—" if cell.winner is None else \
                f"{cell.winner} ({(cell.margin or 0) * 100:+.1f}{', tie' if cell.tie else ''})"
            lines.append(f"{cell.k:>4} {cell.share:>7.0%}  {won}")
        from da_core.study.analysis import map_summary

        lines += ["", *map_summary(result.cells)]
    return "\n".join(line for line in lines if line is not None)


def register(sub: Any) -> None:
    """Add ``compare`` to the ``python -m da_core`` parser."""
    from da_core.cliutil import number_list, positive_int
    from da_core.study.arms import ARMS
    from da_core.study.spec import DEFAULT_FRACTION, DEFAULT_METHOD
    from da_core.train.cli import _add_common, add_backend
    from da_core.train.config import AUGMENT_ON

    p = sub.add_parser("compare", help="a comparison study: selection vs augmentation vs both vs DANN, paired "
                                       "over seeds (optionally a grid: the map of when each wins)")
    _add_common(p)
    add_backend(p)
    p.add_argument("--arms", default=None, help=f"comma-separated arms (default: the default ones); arms: "
                                                f"{', '.join(ARMS)}")
    p.add_argument("--seeds", type=positive_int, default=3, help="number of seeds (0..N-1), shared by every arm")
    p.add_argument("--method", default=DEFAULT_METHOD, help="selector of the selecting arms")
    p.add_argument("--fraction", type=float, default=DEFAULT_FRACTION, help="share of the source they keep")
    p.add_argument("--pipeline", metavar="P.json", help="augmentation pipeline (default: the lab's default)")
    p.add_argument("--strength", type=float, default=None,
                   help="augmentation strength in [0, 1] (default: the lab's measured sweet spot)")
    p.add_argument("--adv-strength", type=float, default=0.25, metavar="S",
                   help="the adversarial arm's strength in (0, 1] (eps = S x the modality's scale; default 0.25)")
    p.add_argument("--augment-on", choices=AUGMENT_ON, default="both",
                   help="augment the source and the labelled target (both), or one of them")
    p.add_argument("--grid", type=_grid, default=None, metavar="k=0,5,20",
                   help="also run every arm at these labelled target samples per class (the map's rows)")
    p.add_argument("--source-share", type=number_list(float, 0.0, 1.0, "source share"), default=None,
                   metavar="1,0.2", help="with --grid: the shares of the source pool (default 1,0.2)")
    p.add_argument("--name", default="", help="a name for the study")
    p.add_argument("--resume", type=positive_int, default=None, metavar="ID",
                   help="go on with a stopped or interrupted study (its finished runs are kept; other flags ignored)")
    p.set_defaults(func=cmd_compare)

