"""Sub-commands ``ops`` (the op registry with its ranges) and ``augment`` (over-augmentation measured).

Imports stay light: torch, torchvision and the models load only when a command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from da_core.cliutil import number_list
from da_core.config import DEFAULT_SOURCE, DEFAULT_TARGET
from da_core.errors import PipelineError

DEFAULT_STRENGTHS = "0,0.25,0.5,0.75,1"


def strength_list(text: str) -> list[float]:
    """Parse ``0,0.25,0.5`` into sorted unique strengths in [0, 1] (argparse type)."""
    return sorted(set(number_list(float, 0.0, 1.0, "strength")(text)))


def probability(text: str) -> float:
    """A number in [0, 1] (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def load_pipeline(path: str | None, modality: str = "image") -> Any:
    """The pipeline in a JSON file (``PipelineError`` naming the file and the bad field); None = the default of
    ``modality`` (the lab's starting pipeline for images, EDA's synonym replacement + deletion for text)."""
    from da_core.augment.pipeline import Pipeline
    from da_core.augment.text_ops import default_pipeline_for

    if path is None:
        return default_pipeline_for(modality)
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise PipelineError(f"--pipeline {path}: cannot read it ({exc.strerror or exc})") from None
    try:
        return Pipeline.from_json(text)
    except PipelineError as exc:
        raise PipelineError(f"{path}: {exc}") from None


def _fmt_range(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(f"{v:.4g}" for v in value) + "]"
    return f"{value:.4g}"


def cmd_ops(args: argparse.Namespace) -> int:
    """List the registered ops of a modality (images by default) with each knob's value at strength 0 and 1."""
    from da_core.augment.ops import ops_for
    from da_core.cliutil import print_result

    rows = [spec.to_dict() for spec in ops_for(args.modality).values()]
    lines = []
    for row in rows:
        knobs = "; ".join(
            f"{k['name']} {_fmt_range(k['at_strength_0'])} → {_fmt_range(k['at_strength_1'])}"
            + ("" if k["scales_with_strength"] else " (fixed)") for k in row["knobs"])
        p = "" if row["p"] >= 1 or any(k["name"] == "p" for k in row["knobs"]) else f"; p={row['p']:g}"
        lines.append(f"{row['name']:<20} {row['group']:<11} {knobs}{p}")
    lines.append("(value at strength 0 → at strength 1; in between an op moves s² of the way, so s = 0.5 is a quarter)")
    print_result(rows, args.json, "\n".join(lines))
    return 0


def cmd_augment(args: argparse.Namespace) -> int:
    """Measure affinity, label-flip rate and gap to target over strengths; optionally write a sheet and code."""
    from da_core.augment.measure import measure_over_augmentation
    from da_core.augment.ops import Context
    from da_core.augment.text_ops import describe_text, synonym_source, text_pipeline_python
    from da_core.cliutil import check_output_path, load_pair, print_result, stderr_progress, write_output

    for flag, path in (("--code", args.code), ("--sheet", args.sheet)):  # before any work: a bad path costs nothing
        if path:
            check_output_path(path, flag)
    source, target, alignment = load_pair(args.source, args.target)
    text = source.modality == "text"
    if text and args.sheet:
        raise PipelineError("--sheet: a contact sheet shows images; on a text pair the examples of each strength "
                            "are in the output (and under 'examples' with --json)")
    pipeline = load_pipeline(args.pipeline, source.modality)
    pipeline.check_fits(source)  # a text pipeline on images (or the reverse): one line naming both
    context = None if text else Context.of(source)
    if args.code:
        code = text_pipeline_python(pipeline) if text else pipeline.to_python(context=context)
        write_output(args.code, code.encode(), "--code")
    if args.sheet:
        write_output(args.sheet, _sheet_png(pipeline, source, target, args.strengths, args.seed), "--sheet")
    progress = None if args.json else stderr_progress
    report = measure_over_augmentation(pipeline, source, target, args.strengths, args.embedder, args.threshold,
                                       args.max_samples or "auto", args.seed, progress)
    data = {**report.to_dict(), "alignment": alignment.to_dict()}
    if text:
        data["examples"] = _text_examples(pipeline, source, args.strengths, args.seed)
        data["synonym_source"] = synonym_source()
    if args.json:
        print_result(data, True, "")
        return 0
    at_one = describe_text(pipeline, 1.0) if text else pipeline.describe(1.0, context)
    lines = [f"pipeline ({len(pipeline.ops)} ops; its own strength {pipeline.strength:g}); at s=1"
             f"{' on a 14-word text' if text else ''}: {at_one}",
             f"embedder {data['embedder']} on {data['device']}: probe trained on {data['n_train']} clean source, "
             f"measured on {data['n_held_out']} held-out source vs {data['n_target']} target",
             f"clean accuracy {data['clean_accuracy']:.3f}; clean gap MMD² {data['clean_gap']:.4g} "
             f"(source-vs-source baseline {data['gap_baseline']:.2g})",
             f"{'s':>5} {'affinity':>9} {'flip rate':>10} {'MMD² to target':>15} {'accuracy':>9}  what s means"]
    for r in data["results"]:
        aff = "n/a" if r["affinity"] is None else f"{r['affinity']:.3f}"
        lines.append(f"{r['strength']:>5.2f} {aff:>9} {r['label_flip_rate']:>10.3f} {r['gap_to_target']:>15.4g} "
                     f"{r['accuracy']:>9.3f}  {r['description']}")
    spot = "none" if data["sweet_spot"] is None else f"s={data['sweet_spot']:.2f}"
    lines += [f"sweet spot (affinity ≥ {data['threshold']:.2f}): {spot}", data["explanation"]]
    lines += [f"note: {n}" for n in data["notes"]]
    for example in data.get("examples", []):
        lines.append(f"s={example['strength']:.2f}: {example['augmented']!r}  (was {example['original']!r})")
    if text:
        lines.append(f"synonyms from: {data['synonym_source'] or 'none found (synonym ops leave words as they are)'}")
    lines.append(f"took {data['seconds'].get('total', 0):.1f} s")
    print("\n".join(lines))
    return 0


def _text_examples(pipeline: Any, source: Any, strengths: list[float], seed: int, n: int = 2) -> list[dict[str, Any]]:
    """``n`` seeded source texts augmented at each strength (the text form of the contact sheet)."""
    import numpy as np

    from da_core.augment.text_ops import augment_texts

    rows = np.sort(np.random.default_rng(seed).choice(len(source), size=min(n, len(source)), replace=False))
    texts = [source.texts[i] for i in rows]
    out = []
    for s in strengths:
        for uid, original, augmented in zip([source.uids[i] for i in rows], texts,
                                            augment_texts(pipeline, texts, s, seed).texts):
            out.append({"strength": s, "uid": uid, "original": original, "augmented": augmented})
    return out


def _sheet_png(pipeline: Any, source: Any, target: Any, strengths: list[float], seed: int) -> bytes:
    """Contact sheet: 8 seeded source samples (rows) × strengths (columns), target samples beside them."""
    import numpy as np
    import torch

    from da_core.augment.preview import contact_sheet, sheet_png

    rng = np.random.default_rng(seed)
    rows = torch.as_tensor(np.sort(rng.choice(len(source), size=min(8, len(source)), replace=False)))
    trows = torch.as_tensor(np.sort(rng.choice(len(target), size=min(8, len(target)), replace=False)))
    sheet = contact_sheet(pipeline, source.images[rows], strengths, seed=seed, mode="strengths",
                          labels=source.labels[rows], num_classes=len(source.classes))
    return sheet_png(sheet, target=target.images[trows], title=f"{source.domain} augmented; target {target.domain}")


def register(sub: Any) -> None:
    """Add ``ops`` and ``augment`` to the ``python -m da_core`` sub-parsers."""
    from da_core.cliutil import positive_int

    p = sub.add_parser("ops", help="list the augmentation ops with their ranges at strength 0 and 1")
    p.add_argument("--modality", choices=("image", "text"), default="image",
                   help="the ops for image data (default) or for text (EDA, AEDA, character noise)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_ops)

    p = sub.add_parser(
        "augment", help="measure over-augmentation: affinity, label-flip rate and gap to target over strengths",
        description="Augment held-out source data at each strength and measure affinity (probe accuracy on "
                    "augmented / clean), label-flip rate and MMD² to the target; marks the sweet spot.")
    p.add_argument("--source", default=DEFAULT_SOURCE, help="source dataset spec")
    p.add_argument("--target", default=DEFAULT_TARGET, help="target dataset spec")
    p.add_argument("--pipeline", metavar="P.json",
                   help="pipeline JSON, image or text ops (default: the lab's starting pipeline for the pair's data)")
    p.add_argument("--strengths", type=strength_list, default=strength_list(DEFAULT_STRENGTHS),
                   help=f"comma-separated strengths in [0, 1] (default {DEFAULT_STRENGTHS})")
    p.add_argument("--embedder", default=None,
                   help="images: digits-cnn (default), pixels, torchvision:ARCH or hf:PATH; text: minilm (default), "
                        "tfidf or hf:PATH")
    p.add_argument("--threshold", type=probability, default=0.9, help="lowest affinity a sweet spot may have")
    p.add_argument("--max-samples", type=positive_int, default=None,
                   help="cap per domain (stratified, seeded; default 1000 images or 400 texts)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sheet", metavar="F.png", help="write a contact sheet (samples × strengths) as PNG")
    p.add_argument("--code", metavar="F.py",
                   help="write runnable code for the pipeline (torchvision v2 for images; text: augment_texts calls)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_augment)
