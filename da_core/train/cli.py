"""Sub-commands ``train`` (one fine-tuning run) and ``sweep`` (augmentation strength x seeds).

Runs land in the same history as the page's (``DA_DATA_DIR/runs.sqlite``).  Imports stay light: torch loads
only when a command runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from da_core.errors import DAError, SpecError


def _read_json(path: str, what: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{what} {path}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{what} {path}: not valid JSON ({exc})") from None


def _config(args: argparse.Namespace) -> Any:
    """The training config: the file's (or the defaults), then the command-line overrides."""
    from da_core.train.config import pair_config

    data: dict[str, Any] = {}
    if args.config:
        data = _read_json(args.config, "--config")
        if not isinstance(data, dict):
            raise SpecError(f"--config {args.config}: expected a JSON object")
    overrides = {"source": args.source, "target": args.target, "epochs": args.epochs, "max_steps": args.max_steps,
                 "seed": getattr(args, "seed", None), "device": args.device, "mode": args.mode,
                 "target_labels_per_class": args.k, "batch_size": args.batch_size, "lr": getattr(args, "lr", None),
                 "backbone": args.backbone, "lora_rank": args.lora_rank, "lora_alpha": args.lora_alpha,
                 "lora_targets": ([t.strip() for t in args.lora_targets.split(",") if t.strip()]
                                  if args.lora_targets else None),
                 **{name: getattr(args, name, None) for name in ("objective", "adv_method", "adv_share", "adv_eps",
                                                                  "strength_schedule", "target_affinity",
                                                                  "robust_samples")}}
    data.update({k: v for k, v in overrides.items() if v is not None})
    if getattr(args, "dann", False):
        data["dann"] = True
    if getattr(args, "no_robustness", False):
        data["robustness"] = False
    if getattr(args, "pipeline", None) and args.command in ("train", "tune"):
        data["pipeline"] = _read_json(args.pipeline, "--pipeline")
    if getattr(args, "strength", None) is not None:
        data["strength"] = args.strength
    try:
        config = pair_config(data)  # a text pair starts from the text defaults (MiniLM, full fine-tuning)
    except SpecError as exc:
        where = f"--config {args.config}: " if args.config else ""
        raise SpecError(f"{where}{exc}") from None
    from da_core.data import resolve

    resolve(config.source)  # a bad spec is a usage mistake: say so before any run is recorded
    resolve(config.target)
    if getattr(args, "selection", None):
        config = _with_selection(config, args.selection)
    return config


def _source_use(config: Any) -> str:
    """How the run used the source: all of it, a subset or weights (with how many samples)."""
    if config.source_subset is not None:
        return f"subset of {len(config.source_subset)} samples"
    if config.source_weights is not None:
        return f"weights over {sum(1 for w in config.source_weights if w > 0)} samples"
    return "all"


def _with_selection(config: Any, path: str) -> Any:
    """The config training on the samples a selection CSV names (mapped to the whole source by uid)."""
    from da_core.data import load_dataset
    from da_core.train.config import read_selection

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SpecError(f"--selection {path}: cannot read it ({exc.strerror or exc})") from None
    try:
        selection = read_selection(data, load_dataset(config.source))
    except SpecError as exc:
        raise SpecError(f"--selection {path}: {exc}") from None
    for note in selection.notes:
        print(f"note: selection: {note}", file=sys.stderr)
    return config.replace(**{"source_subset": None, "source_weights": None, **selection.config})


def _open_store(args: argparse.Namespace) -> Any:
    """The run history; with ``--reset-store`` a damaged one is first set aside (renamed, never deleted).

    A healthy history is never touched by the flag.  A damaged one without it is a one-line error saying so.
    """
    from da_core.train.store import get_store, reset_if_damaged

    if getattr(args, "reset_store", False):
        moved = reset_if_damaged()
        if moved is not None:
            print(f"note: the damaged run history was renamed to {moved}; a new, empty one was started",
                  file=sys.stderr)
    store = get_store()
    store.require_writable()  # say why now, before any work: a run here could not be recorded
    store.mark_interrupted()
    return store


def _progress(args: argparse.Namespace) -> Any:
    from da_core.cliutil import stderr_progress

    return None if args.json or not sys.stderr.isatty() and not args.progress else stderr_progress


def cmd_train(args: argparse.Namespace) -> int:
    """Run one fine-tuning run to the end and print its final metrics and per-epoch history."""
    from da_core.cliutil import print_result
    from da_core.train.run import execute_run

    config = _config(args)
    store = _open_store(args)
    run_id = store.create_run(config.to_dict(), "queued", origin="cli")
    show = _progress(args)
    total = {"n": 1}

    def on_event(event: str, payload: dict[str, Any]) -> None:
        if show is None:
            return
        if event == "start":
            total["n"] = payload["total_steps"]
            show(0.0, f"run #{run_id} on {payload['device']}")
        elif event == "step" and (payload["step"] % 5 == 0 or payload["step"] == total["n"]):
            show(min(payload["step"] / total["n"], 0.999), f"step {payload['step']}/{total['n']}  "
                 f"loss {payload['train_loss']:.3f}")
        elif event == "end":
            show(1.0, f"run #{run_id} {payload['status']}")

    try:
        out = execute_run(config, store, run_id, extra_callbacks=[on_event])
    except KeyboardInterrupt:
        with contextlib.suppress(DAError):  # a history that cannot be written must not hide the Ctrl+C
            store.set_status(run_id, "stopped", "stopped from the command line (Ctrl+C)")
        raise
    if out.get("user_error"):  # e.g. a folder that does not exist: one line, exit 2 (the run stays as failed)
        recorded = "recorded as failed" if out.get("recorded", True) else "could not be recorded"
        raise DAError(f"{out['message']} (run #{run_id} {recorded})")
    final = out["final"] or {}
    details = out["details"] or {}
    notes = [*details.get("conversions", []), *details.get("notes", [])]  # what the run converted or adjusted
    data = {"run_id": run_id, "status": out["status"], "message": out["message"], "final": final,
            "history": out["history"], "seconds": round(out["seconds"], 3), "batch_size": details.get("batch_size"),
            "conversions": details.get("conversions", []), "notes": details.get("notes", []),
            "selection": config.selection, "source_samples": _source_use(config)}
    lines = [f"run #{run_id} {out['status']} in {out['seconds']:.1f} s" + (f": {out['message']}" if out["message"]
                                                                             else "")]
    lines += [f"note: {note}" for note in notes]
    if out["history"]:
        lines.append(f"{'epoch':>5} {'step':>6} {'train_loss':>11} {'source_acc':>11} {'target_acc':>11} {'lr':>10}")
        for h in out["history"]:
            lines.append(f"{h['epoch']:>5} {h['step']:>6} {h['train_loss']:>11.4f} {h['source_acc']:>11.4f} "
                         f"{h['target_acc']:>11.4f} {h['lr']:>10.3g}")
    if final.get("trainable_params"):
        lines.append(f"trained {final['trainable_params']:,} of {final['total_params']:,} parameters "
                     f"({final['trainable_params'] / final['total_params']:.2%}, mode {config.mode})")
    picks = final.get("best_by") or {}
    if picks:
        lines.append("validators would pick step: " + ", ".join(
            f"{name} {p['step']}" + (f" (target acc {p['target_acc']:.3f})" if p.get("target_acc") is not None else "")
            for name, p in picks.items()))
    lines += robustness_lines(final.get("robustness"))
    if final.get("target_acc") is not None:
        lines.append(f"final: source acc {final['source_acc']:.4f}, target acc {final['target_acc']:.4f} "
                     f"(source-only baseline: {final['baseline_target_acc']:.4f})")
    print_result(data, args.json, "\n".join(lines))
    return 0 if out["status"] == "finished" else 1


def robustness_lines(rob: dict[str, Any] | None) -> list[str]:
    """What ``train`` prints of a run's robustness: mean corruption accuracy, the worst kinds, the ε curve."""
    if not rob:
        return []
    lines = [f"robustness on {rob['samples']} held-out target samples (clean {rob['clean_acc']:.3f}, "
             f"{rob['seconds']:.1f} s):"]
    by_kind = rob.get("corruption_by_kind") or {}
    if rob.get("corruption_acc") is not None:
        means = sorted((sum(v) / len(v), k) for k, v in by_kind.items() if v)
        worst = ", ".join(f"{k} {m:.3f}" for m, k in means[:3])
        lines.append(f"  mean corruption accuracy {rob['corruption_acc']:.3f} over {len(by_kind)} kinds x severities "
                     f"1-5" + (f" (hardest: {worst})" if len(means) > 1 else ""))
    curve = rob.get("adv_curve") or []
    if curve:
        attack = "/".join(a.upper() for a in rob.get("attacks", []))
        lines.append(f"  {attack} accuracy vs eps ({rob.get('eps_units')}): "
                     + ", ".join(f"{p['eps']:g}: {p['acc']:.3f}" for p in curve))
        half = rob.get("eps_half")
        lines.append(f"  accuracy halves at eps {half:.3g}" if half is not None else
                     f"  accuracy stays above half the clean accuracy up to eps {curve[-1]['eps']:g}")
    return lines


def cmd_sweep(args: argparse.Namespace) -> int:
    """Train at every strength x seed (x learning rate) and print target accuracy, Diversity and the best strength."""
    from da_core.cliutil import print_result
    from da_core.train.sweep import SweepSpec, default_sweep_pipeline, run_sweep

    base = _config(args)
    pipeline = _read_json(args.pipeline, "--pipeline") if args.pipeline else default_sweep_pipeline(base)
    spec = SweepSpec(base, pipeline, args.strengths, list(range(args.seeds)), args.lrs, schedules=args.schedules)
    try:
        spec.validate()
    except SpecError as exc:
        raise SpecError(f"--pipeline {args.pipeline}: {exc}" if args.pipeline and "pipeline" in str(exc) else
                        str(exc)) from None
    backend, ray = ray_options(args)  # a missing Ray is a one-line mistake before anything is recorded
    store = _open_store(args)
    show = _progress(args)
    runs = len(spec.grid())
    sweep_id = store.create_sweep(spec.to_dict(), "queued", origin="cli")
    try:
        result = run_sweep(spec, store, sweep_id=sweep_id, origin="cli",
                           on_run=(lambda rid, i, n, label: show(i / n, f"run {i + 1}/{n} (#{rid}) {label}"))
                           if show else None, backend=backend, ray=ray)
    except KeyboardInterrupt:
        with contextlib.suppress(DAError):  # a history that cannot be written must not hide the Ctrl+C
            store.set_sweep_status(sweep_id, "stopped", "stopped from the command line (Ctrl+C)")
            for run in store.list_runs(status=("queued", "running"), sweep_id=sweep_id):
                store.set_status(run.id, "stopped", "stopped from the command line (Ctrl+C)")
        raise
    except DAError:  # the history failed mid-sweep (disk full): the sweep and its current run end as failed
        with contextlib.suppress(DAError):
            store.set_sweep_status(sweep_id, "failed", "the run history could not be written")
            for run in store.list_runs(status=("queued", "running"), sweep_id=sweep_id):
                store.set_status(run.id, "failed", "the run history could not be written")
        raise
    if show:
        show(1.0, f"sweep #{sweep_id}: {runs} runs {result.status}")
    data = result.to_dict()
    lines = [f"sweep #{sweep_id} {result.status}: {runs} runs in {result.seconds:.1f} s"
             + (f" ({result.message})" if result.message else "")]
    lines.append(f"{'strength':>8} {'schedule':>9} {'lr':>8} {'n':>3} {'target_acc':>11} {'95% interval':>17} "
                 f"{'source_acc':>11} {'diversity':>10} {'affinity':>9} {'corrupt':>8} {'adv_acc':>8}")
    for row in result.summary:
        interval = f"[{row['target_acc_low']:.3f}, {row['target_acc_high']:.3f}]"
        lines.append(f"{row['strength']:>8.3g} {row['schedule']:>9} {row['lr']:>8.2g} {row['n']:>3} "
                     f"{row['target_acc']:>11.4f} {interval:>17} {_fmt(row['source_acc'])} "
                     f"{_fmt(row['diversity'], 10)} "
                     f"{_fmt(row['affinity'], 9)} {_fmt(row.get('corruption_acc'), 8)} {_fmt(row.get('adv_acc'), 8)}"
                     + ("  <- best" if row.get("best") else ""))
    if result.best_strength is not None:
        lines.append(f"best strength: {result.best_strength:g}" + (f" (lr {result.best_lr:g})" if args.lrs else ""))
    print_result(data, args.json, "\n".join(lines))
    return 0 if result.status == "finished" and result.summary else 1


def add_backend(p: argparse.ArgumentParser) -> None:
    """``--backend`` and the Ray options of a command that runs many runs."""
    from da_core.scale import BACKENDS

    p.add_argument("--backend", choices=BACKENDS, default="local",
                   help="local: one run after another in this process; ray: each run a Ray task, or for a "
                        "search a Ray Tune trial (needs requirements-scale.txt)")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="an existing Ray cluster (default: RAY_ADDRESS, else a local Ray started for the purpose)")
    p.add_argument("--ray-cpus", type=float, default=1.0, metavar="N", help="CPUs each run asks for (default 1)")
    p.add_argument("--ray-gpus", type=float, default=0.0, metavar="N",
                   help="GPUs each run asks for; fractions share a GPU (default 0)")
    p.add_argument("--ray-workers", type=int, default=None, metavar="N",
                   help="runs at once (default: as many as the cluster's CPUs allow)")


def ray_options(args: argparse.Namespace) -> tuple[str, Any]:
    """The backend a command asked for, and its :class:`da_core.scale.RayOptions` (checked)."""
    from da_core.scale import RayOptions, check_backend

    backend = check_backend(args.backend)
    return backend, RayOptions(args.ray_address, args.ray_cpus, args.ray_gpus, args.ray_workers).validate()


def _schedules(text: str) -> list[str]:
    from da_core.train.config import STRENGTH_SCHEDULES

    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in STRENGTH_SCHEDULES]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"expected schedules among {', '.join(STRENGTH_SCHEDULES)}, got {text!r}")
    return names


def _fmt(value: float | None, width: int = 11) -> str:
    return f"{'—':>{width}}" if value is None else f"{value:>{width}.4f}"


def _add_common(p: argparse.ArgumentParser) -> None:
    from da_core.cliutil import positive_int
    from da_core.train.config import ADV_METHODS, EPS_WORDS, MODES, OBJECTIVES, STRENGTH_SCHEDULES

    p.add_argument("--source", default=None, help="source dataset spec (default: the config's, else printed digits)")
    p.add_argument("--target", default=None, help="target dataset spec (default: the config's, else handwritten)")
    p.add_argument("--config", metavar="C.json", help="training config (TrainConfig fields; others default)")
    p.add_argument("--epochs", type=positive_int, default=None, help="override the config's epochs")
    p.add_argument("--max-steps", type=positive_int, default=None, help="stop after this many steps")
    p.add_argument("--mode", choices=MODES, default=None,
                   help="full fine-tune, linear probe (head on the frozen backbone) or lora (low-rank adapters on a "
                        "text encoder)")
    p.add_argument("--backbone", default=None, metavar="ID",
                   help="embedder to fine-tune (default: digits-cnn for images, minilm for text)")
    p.add_argument("--lora-rank", type=positive_int, default=None, metavar="R", help="LoRA rank (default 8)")
    p.add_argument("--lora-alpha", type=float, default=None, metavar="A", help="LoRA scaling alpha (default 16)")
    p.add_argument("--lora-targets", default=None, metavar="NAMES",
                   help="comma-separated module names LoRA adapts (default: the encoder's query,value)")
    p.add_argument("--k", type=int, default=None, metavar="N",
                   help="labelled target samples per class (0 = unsupervised adaptation)")
    p.add_argument("--batch-size", type=positive_int, default=None)
    p.add_argument("--dann", action="store_true", help="adversarial adaptation (gradient-reversal discriminator)")
    p.add_argument("--objective", choices=OBJECTIVES, default=None,
                   help="training objective (adversarial: a share of each batch replaced by FGSM/PGD examples at "
                        "eps = strength x adv_eps)")
    p.add_argument("--adv-method", choices=ADV_METHODS, default=None, help="adversarial examples by FGSM or PGD")
    p.add_argument("--adv-share", type=float, default=None, metavar="F",
                   help="share of each batch made adversarial (default 0.5)")
    p.add_argument("--adv-eps", type=float, default=None, metavar="E",
                   help=f"eps at strength 1 (default: {EPS_WORDS['image']} for images, {EPS_WORDS['text']} for "
                        "text)")
    p.add_argument("--strength-schedule", choices=STRENGTH_SCHEDULES, default=None,
                   help="how the strength moves during the run: constant, a linear or cosine ramp from 0, or "
                        "adaptive (follows the accuracy on augmented batches)")
    p.add_argument("--target-affinity", type=float, default=None, metavar="A",
                   help="adaptive schedule: the training-batch accuracy it keeps (default 0.9)")
    p.add_argument("--robust-samples", type=positive_int, default=None, metavar="N",
                   help="held-out target samples the robustness measure scores (default 100 images, 200 texts)")
    p.add_argument("--no-robustness", action="store_true", help="skip the robustness measure at the end of a run")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default=None)
    p.add_argument("--progress", action="store_true", help="show progress on stderr even when it is not a terminal")
    p.add_argument("--reset-store", action="store_true",
                   help="if the run history (DA_DATA_DIR/runs.sqlite) is damaged, rename it to "
                        "runs.sqlite.damaged-<time> and start a new one (a healthy history is left alone)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def register(sub: Any) -> None:
    """Add ``train`` and ``sweep`` to the ``python -m da_core`` parser."""
    from da_core.cliutil import number_list, positive_int

    p = sub.add_parser("train", help="one fine-tuning run (recorded in the run history)")
    _add_common(p)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--pipeline", metavar="P.json", help="augment training batches with this pipeline")
    p.add_argument("--strength", type=float, default=None, help="pipeline strength in [0, 1] (default: its own)")
    p.add_argument("--selection", metavar="SEL.csv",
                   help="train on these source samples (the Gap map's selection CSV, by uid; or an index column)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sweep", help="fine-tune at every augmentation strength x seed; target accuracy vs strength")
    _add_common(p)
    p.add_argument("--pipeline", metavar="P.json",
                   help="pipeline JSON (default: rotation + translate + shear; text: EDA synonym replacement + "
                        "random deletion)")
    p.add_argument("--strengths", type=number_list(float, 0.0, 1.0, "strength"), default=[0.0, 0.25, 0.5, 0.75, 1.0],
                   help="comma-separated strengths in [0, 1] (0 is always added: the Diversity reference)")
    p.add_argument("--seeds", type=positive_int, default=3, help="number of seeds (0..N-1)")
    p.add_argument("--lrs", type=number_list(float, 0.0, None, "learning rate"), default=None,
                   help="also sweep these learning rates (comma-separated)")
    p.add_argument("--schedules", type=_schedules, default=None, metavar="S1,S2",
                   help="compare strength schedules (e.g. constant,adaptive: each strength is then the ceiling)")
    add_backend(p)
    p.set_defaults(func=cmd_sweep)
