"""Sub-command ``tune``: an Optuna search over run options, judged by a validator; every trial a recorded run
(``--backend ray``: through Ray Tune, :mod:`da_core.tune.ray_tune`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def cmd_tune(args: argparse.Namespace) -> int:
    """Run the search and print its trials, the best trial by each validator and the validators' agreement."""
    from da_core.cliutil import print_result
    from da_core.train.cli import _config, _open_store, _read_json, ray_options
    from da_core.tune import TuneSpec, parse_space, run_tune
    from da_core.tune.runner import check_backend_spec

    base = _config(args)
    space = parse_space(_read_json(args.space, "--space")) if args.space else None
    spec = TuneSpec(base, space, args.validator, args.sampler, args.pruner, args.trials, args.minutes,
                    args.sampler_seed, args.name, args.cv_folds).validate()
    backend, ray = ray_options(args)  # a missing Ray (or cross-validation on Ray) is a one-line mistake, unrecorded
    check_backend_spec(spec, backend)
    store = _open_store(args)

    def show(trial: dict[str, Any]) -> None:
        if not args.json:
            score = trial["validators"].get(spec.validator)
            params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in trial["params"].items())
            print(f"trial {trial['number']} (run #{trial['run_id']}) {trial['state'].lower()}: {params}"
                  + (f"; {spec.validator} {score:.4g}" if score is not None else "")
                  + (f"; target acc {trial['target_acc']:.4f}" if trial.get("target_acc") is not None else ""),
                  file=sys.stderr)

    result = run_tune(spec, store, on_trial=show, origin="cli", backend=backend, ray=ray)
    lines = [f"search #{result['search_id']} {result['status']}: {len(result['trials'])} trials in "
             f"{result['seconds']:.0f} s, {spec.sampler} sampler, {spec.pruner} pruner, by {spec.validator}"
             + (" (Ray Tune)" if backend == "ray" else "")]
    if spec.validator in result["best"]:
        b = result["best"][spec.validator]
        lines.append(f"best by {spec.validator}: trial {b['trial']} {b['params']}"
                     + (f" (target acc {b['target_acc']:.4f})" if b.get("target_acc") is not None else ""))
    if result["agreement"]:
        lines.append(f"{'validator':<12}{'spearman':>10}{'regret':>9}")
        for name, a in result["agreement"].items():
            rho = "—" if a["spearman"] is None else f"{a['spearman']:.2f}"
            lines.append(f"{name:<12}{rho:>10}{a['regret'] * 100:>8.1f}p")
    print_result(result, args.json, "\n".join(lines))
    return 0 if result["trials"] else 1


def register(sub: Any) -> None:
    """Add ``tune`` to the ``python -m da_core`` parser."""
    from da_core.cliutil import positive_int
    from da_core.train.cli import _add_common, add_backend
    from da_core.tune.runner import DEFAULT_VALIDATOR, PRUNERS, SAMPLERS

    p = sub.add_parser("tune", help="hyperparameter search with Optuna, judged by a validator (no target labels)")
    _add_common(p)
    p.add_argument("--space", metavar="F.json",
                   help="options to tune: {option: {low, high[, log]} or {choices: [...]}} (default: lr, batch size, "
                        "weight decay, label smoothing, and strength / DANN weight / target share where used)")
    p.add_argument("--validator", default=DEFAULT_VALIDATOR,
                   help="what the search maximises: source-acc, iwv, dev, entropy (minimised), im, snd, or "
                        f"target-acc (the oracle; needs target labels); default {DEFAULT_VALIDATOR}")
    p.add_argument("--sampler", choices=SAMPLERS, default="tpe")
    p.add_argument("--pruner", choices=PRUNERS, default="median",
                   help="stops poor trials at their evaluations (median, successive halving) or never")
    p.add_argument("--trials", type=positive_int, default=20)
    p.add_argument("--minutes", type=float, default=None, help="also stop starting trials after this long")
    p.add_argument("--sampler-seed", type=int, default=0, help="the sampler's seed (runs keep the config's seed)")
    p.add_argument("--name", default="")
    p.add_argument("--cv-folds", type=int, default=0, metavar="K",
                   help="score each trial by K-fold cross-validation on the source (source-acc and iwv only; K runs "
                        "a trial)")
    p.add_argument("--pipeline", metavar="P.json", help="augment training batches with this pipeline")
    p.add_argument("--strength", type=float, default=None)
    add_backend(p)  # ray: the search through Ray Tune, each trial a Ray actor (no --cv-folds there)
    p.set_defaults(func=cmd_tune)
