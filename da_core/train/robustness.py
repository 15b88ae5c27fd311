"""Robustness of a finished run, measured on held-out target samples: corruptions and adversarial perturbations.

- **Corruptions.**  Images: every built-in corruption (:data:`da_core.data.builtin.CORRUPTIONS`, MNIST-C /
  ImageNet-C style) at severities 1-5; the mean over kinds and severities is the mean corruption accuracy, as
  MNIST-C and ImageNet-C report it.  Texts: character noise (keyboard neighbours, swaps, drops) at severities 1-5,
  the ``char_noise`` op at strengths 0.2, 0.4, ... 1.0 (5 % to 30 % of the letters).
- **Adversarial perturbations.**  Accuracy against ε: FGSM (FGM for text, whose ε-step from one gradient serves
  the whole curve) and, for images, PGD (:data:`PGD_STEPS` steps, seeded random start) at every ε of the grid
  (:data:`EPS_GRID`); ``adv_curve``'s ``acc`` is the strongest attack's at each ε (the lower of FGSM's and PGD's
  for images) and ``eps_half`` the ε at which it falls to half the clean accuracy (linear interpolation between
  grid points; None when it never does within the grid).  ε is in pixel units in [0, 1] for images (L-inf) and
  relative to each text's embedding norm for text (L2), see :mod:`da_core.train.adversarial`.

The samples are a seeded, class-stratified part of the held-out target (``robust_samples``; the modality's
default :data:`SAMPLES` keeps the measure within about a quarter of the default run's time, measured by
``benchmarks/bench_robust.py``); every corruption kind sees the same samples at every severity, so severities
compare sample by sample, and the corrupted images of a seed are computed once per process.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from da_core.train.adversarial import Space, evaluating, fgsm_direction, pgd

SAMPLES = {"image": 100, "text": 100}  # held-out target samples scored, by default
SEVERITIES = (1, 2, 3, 4, 5)
EPS_GRID = {"image": (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3), "text": (0.0, 0.005, 0.01, 0.02, 0.05, 0.1)}
PGD_STEPS = 3
EPS_UNITS = {"image": "L-inf, pixels in [0, 1]", "text": "L2, relative to the text's embedding norm"}
TEXT_CORRUPTION = "char_noise"
_CORRUPTED: OrderedDict[str, np.ndarray] = OrderedDict()  # corrupted sample sets by content, kind, severity, seed
_KEEP = 128


@dataclass
class RobustnessInputs:
    """What the measure needs of a finished run: the held-out target (raw inputs as the plan holds them, labels,
    and the texts for a text pair), the model as ``net`` (preprocessed inputs -> logits), its perturbation space,
    the preprocessing and, for text, the encoder's ``encode``."""

    modality: str
    inputs: torch.Tensor
    labels: torch.Tensor
    net: Callable[[torch.Tensor], torch.Tensor]
    preprocess: Callable[[torch.Tensor], torch.Tensor]
    modules: Sequence[torch.nn.Module]
    space: Space | None = None
    texts: list[str] | None = None
    encode: Callable[[Sequence[str]], torch.Tensor] | None = None
    samples: int | None = None
    seed: int = 0
    batch: int = 256
    order: Callable[[torch.Tensor], torch.Tensor] | None = None  # text: longest first, so batches pad little


def _part(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    from da_core.train.data import _stratified_part

    return np.arange(len(labels)) if len(labels) <= n else _stratified_part(labels, n, seed)


def _accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return int((logits.argmax(1) == labels).sum()) / len(labels) if len(labels) else float("nan")


def _batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, size: int) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([fn(x[i:i + size]) for i in range(0, len(x), size)])


def _corrupted(images: torch.Tensor, kind: str, severity: int, seed: int) -> torch.Tensor:
    """``images`` (uint8 N x C x H x W) under corruption ``kind`` at ``severity``; every channel gets the same
    random draws (noise, displacement), so a colour image is corrupted as one picture."""
    from da_core.data.builtin import corrupt

    key = hashlib.blake2b(images.cpu().numpy().tobytes(), digest_size=12).hexdigest() + f"|{kind}|{severity}|{seed}"
    if key not in _CORRUPTED:
        x = images.cpu().numpy().astype(np.float32) / 255.0
        out = np.empty_like(x)
        for c in range(x.shape[1]):
            out[:, c] = corrupt(x[:, c], kind, severity, np.random.default_rng(seed))
        _CORRUPTED[key] = np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)
        while len(_CORRUPTED) > _KEEP:
            _CORRUPTED.popitem(last=False)
    _CORRUPTED.move_to_end(key)
    return torch.from_numpy(_CORRUPTED[key]).to(images.device)


def _corruptions(ri: RobustnessInputs, x: torch.Tensor, y: torch.Tensor, rows: np.ndarray,
                 run: Callable[[torch.Tensor], float]) -> dict[str, list[float]]:
    """Accuracy per corruption kind at severities 1-5."""
    if ri.modality == "text":
        from da_core.augment import OpConfig, Pipeline
        from da_core.augment.text_ops import augment_texts

        texts = [ri.texts[i] for i in rows.tolist()]  # type: ignore[index]
        pipeline = Pipeline([OpConfig(TEXT_CORRUPTION)], 1.0, ri.seed)
        accs = []
        for severity in SEVERITIES:
            noisy = augment_texts(pipeline, texts, severity / len(SEVERITIES), ri.seed + severity).texts
            accs.append(run(ri.encode(noisy).to(x.device)))  # type: ignore[misc]
        return {TEXT_CORRUPTION: accs}
    from da_core.data.builtin import CORRUPTIONS

    return {kind: [run(_corrupted(x, kind, severity, ri.seed + 31 * severity)) for severity in SEVERITIES]
            for kind in CORRUPTIONS}


def eps_half(curve: list[dict[str, Any]], clean: float) -> float | None:
    """The ε at which the curve's accuracy first falls to half of ``clean`` (linear interpolation between grid
    points); None when it stays above within the grid."""
    half = clean / 2
    for a, b in zip(curve, curve[1:]):
        if b["acc"] <= half < a["acc"] or b["acc"] <= half == a["acc"]:
            if a["acc"] == b["acc"]:
                return float(a["eps"])
            return float(a["eps"] + (a["acc"] - half) * (b["eps"] - a["eps"]) / (a["acc"] - b["acc"]))
    return 0.0 if curve and curve[0]["acc"] <= half else None


def _pgd_accuracy(space: Space, net: Callable[[torch.Tensor], torch.Tensor],
                  parts: list[tuple[torch.Tensor, torch.Tensor]], broken: list[torch.Tensor], eps: float,
                  gen: torch.Generator) -> float:
    """PGD's accuracy at ``eps``, run only on the samples no smaller ε has broken yet: the ball of a larger ε holds
    every smaller one's perturbations, so a sample PGD broke stays broken (``broken`` is updated in place).  The
    curve is then monotone by the attack's own results, and each larger ε costs only the samples still standing."""
    correct = 0
    for (xb, yb), done in zip(parts, broken):
        left = (~done).nonzero().flatten()
        if len(left):
            delta = pgd(space, net, xb[left], yb[left], eps, PGD_STEPS, gen)
            with torch.no_grad():
                wrong = space.run(net, xb[left], delta).argmax(1) != yb[left]
            done[left[wrong]] = True
        correct += int((~done).sum())
    return correct / max(sum(len(d) for d in broken), 1)


@contextlib.contextmanager
def _channels_last(modules: Sequence[torch.nn.Module], on: bool) -> Iterator[None]:
    """Convolutional modules in channels-last memory for the block (about 3x faster on small CPU batches of digits,
    measured by benchmarks/bench_robust.py), then back as they were."""
    if on:
        for m in modules:
            m.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    try:
        yield
    finally:
        if on:
            for m in modules:
                m.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]


def measure_robustness(ri: RobustnessInputs) -> dict[str, Any]:
    """The run's robustness record (``train`` JSON ``final["robustness"]``): ``corruption_acc``,
    ``corruption_by_kind`` {kind: [accuracy at severity 1..5]}, ``adv_curve`` [{eps, acc, fgsm_acc[, pgd_acc]}],
    ``eps_half``, ``adv_acc`` (the strongest attack's mean accuracy over the grid's ε > 0), the clean accuracy on
    the same samples, how many samples, the attacks, ε's units, and the seconds it took."""
    t0 = time.perf_counter()
    n = ri.samples or SAMPLES.get(ri.modality, SAMPLES["image"])
    rows = _part(ri.labels.cpu().numpy(), n, ri.seed + 11)
    if ri.order is not None:  # the same samples, in the order the backbone runs fastest (accuracy is order-free)
        rows = rows[ri.order(ri.inputs[torch.from_numpy(rows).to(ri.inputs.device)]).cpu().numpy()]
    index = torch.from_numpy(rows).to(ri.inputs.device)
    x, y = ri.inputs[index], ri.labels[index]
    gen = torch.Generator().manual_seed(ri.seed + 13)
    with evaluating(*ri.modules), _channels_last(ri.modules, ri.modality != "text"):
        def run(inputs: torch.Tensor) -> float:
            return _accuracy(_batched(lambda b: ri.net(ri.preprocess(b)), inputs, ri.batch), y)

        clean = run(x)
        by_kind = _corruptions(ri, x, y, rows, run)
        curve: list[dict[str, Any]] = []
        grid = EPS_GRID.get(ri.modality, EPS_GRID["image"])
        if ri.space is not None:
            space = ri.space
            parts = [(x[i:i + ri.batch], y[i:i + ri.batch]) for i in range(0, len(x), ri.batch)]
            directions = [fgsm_direction(space, ri.net, xb, yb) for xb, yb in parts]

            def attacked(make: Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]) -> float:
                correct = 0
                for (xb, yb), d in zip(parts, directions):
                    with torch.no_grad():
                        correct += int((space.run(ri.net, xb, make(xb, yb, d)).argmax(1) == yb).sum())
                return correct / max(len(y), 1)

            with_pgd = ri.modality != "text"
            broken = [torch.zeros(len(yb), dtype=torch.bool, device=yb.device) for _, yb in parts]  # by PGD so far
            for eps in grid:  # ε = 0 runs the attack too: it must give the clean accuracy exactly
                point: dict[str, Any] = {"eps": eps}
                point["fgsm_acc"] = attacked(lambda xb, yb, d, e=eps: space.project(e * d, e, xb))
                if with_pgd:
                    point["pgd_acc"] = point["fgsm_acc"] if eps == 0 else _pgd_accuracy(
                        space, ri.net, parts, broken, eps, gen)
                point["acc"] = min(point["fgsm_acc"], point.get("pgd_acc", point["fgsm_acc"]))
                curve.append(point)
    values = [a for accs in by_kind.values() for a in accs]
    attacks = ["fgsm", "pgd"] if ri.modality != "text" else ["fgm"]
    return {
        "clean_acc": clean, "samples": int(len(y)),
        "corruption_acc": float(np.mean(values)) if values else None,
        "corruption_by_kind": by_kind, "severities": list(SEVERITIES),
        "adv_curve": curve, "eps_half": eps_half(curve, clean) if curve else None,
        "adv_acc": float(np.mean([p["acc"] for p in curve if p["eps"] > 0])) if len(curve) > 1 else None,
        "attacks": attacks if curve else [], "pgd_steps": PGD_STEPS if "pgd" in attacks and curve else None,
        "eps_units": EPS_UNITS.get(ri.modality, EPS_UNITS["image"]),
        "seconds": round(time.perf_counter() - t0, 3),
    }
