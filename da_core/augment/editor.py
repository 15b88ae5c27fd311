"""What a pipeline editor needs, built from the op registry's metadata and free of any UI toolkit.

- :func:`op_fields` turns an op's knobs into widget specs (range slider or slider, bounds, step, default).
- :func:`widget_state` / :func:`pipeline_from_state` map a :class:`Pipeline` to flat widget values and back,
  so a downloaded pipeline JSON restores every widget (the round trip is exact for values the widgets allow);
  :func:`pipeline_in` reads the pipeline back from remembered or live widget values (the Training page uses the
  lab's), :func:`move_op` reorders the op list.
- :func:`concrete_rows` says what a strength means for each op; :func:`pick_rows` chooses preview samples and
  their same-class target samples (the sheet itself is drawn by :func:`da_core.augment.preview.sheet_png`).

Widget keys are ``{prefix}_ops`` (the ordered op names), ``{prefix}_strength``, ``{prefix}_seed`` and per op
``{prefix}_{op}_{field}``, ``{prefix}_{op}_own`` (own strength on/off) and ``{prefix}_{op}_strength``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from da_core.augment.ops import Context, Knob, get_op, ops_for
from da_core.augment.pipeline import OpConfig, Pipeline
from da_core.data.pair import to_shape
from da_core.errors import DAError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from da_core.data import Dataset

PREFIX = "aug"
TEXT_PREFIX = "augt"  # the text lab's widgets (so each lab keeps its pipeline across a switch of pair)
DEFAULT_OWN_STRENGTH = 0.5


@dataclass(frozen=True)
class FieldSpec:
    """One widget of an op: ``kind`` is ``range`` (two-handle slider) or ``slider``.

    ``default`` is the op's declared value at full strength (what the op uses when the field is not given);
    ``scales`` says whether the master strength scales it (else it is used as is at every strength).
    """

    name: str
    label: str
    kind: str
    lo: float
    hi: float
    step: float
    default: float | tuple[float, float]
    integer: bool
    scales: bool
    help: str

    def clamp(self, value: Any) -> Any:
        """A value brought inside the widget's bounds: int for integer fields, else float (a pair for ranges)."""
        cast = (lambda v: int(round(float(v)))) if self.integer else float
        lo, hi = cast(self.lo), cast(self.hi)
        if self.kind == "range":
            a, b = (min(max(cast(v), lo), hi) for v in value)
            return (min(a, b), max(a, b))
        return min(max(cast(value), lo), hi)

    def number_format(self) -> str:
        """printf-style format for the slider label."""
        if self.integer:
            return "%d"
        return "%.0f" if self.step >= 1 else "%.2f"


def _step(knob: Knob, lo: float, hi: float) -> float:
    if knob.integer:
        return 1.0
    span = hi - lo
    return 1.0 if span >= 100 else 0.01


def _bounds(knob: Knob) -> tuple[float, float]:
    """Finite widget bounds: the knob's lo/hi, else a margin around its declared values."""
    values = [v for end in (knob.at0, knob.at1) for v in (end if isinstance(end, tuple) else (end,))]
    lo = knob.lo if math.isfinite(knob.lo) else min(values) - max(1.0, abs(min(values)))
    hi = knob.hi if math.isfinite(knob.hi) else max(values) + max(1.0, abs(max(values)))
    return float(lo), float(hi)


def op_fields(name: str) -> list[FieldSpec]:
    """The widgets for op ``name``: one per knob, plus ``p`` when the op has no ``p`` knob (batch ops have none)."""
    spec = get_op(name)
    fields = []
    for knob in spec.knobs:
        lo, hi = _bounds(knob)
        at1 = knob.at1
        default: Any = tuple(float(v) for v in at1) if isinstance(at1, tuple) else float(at1)
        if knob.name == "p":
            label, why = "p at s = 1", "probability at full strength (scaled by s like the other knobs)"
        elif knob.scales:
            label, why = f"{knob.name.replace('_', ' ')} at s = 1", "value at full strength; s scales towards it"
        else:
            label, why = f"{knob.name.replace('_', ' ')} (fixed)", "used as is at every strength"
        fields.append(FieldSpec(knob.name, label, "range" if knob.is_range else "slider", lo, hi,
                                _step(knob, lo, hi), default, knob.integer, knob.scales, f"{knob.help} ({why})"))
    if "p" not in {k.name for k in spec.knobs} and not spec.batch:
        fields.append(FieldSpec("p", "p", "slider", 0.0, 1.0, 0.01, float(spec.p), False, False,
                                "probability that the op is applied to an image"))
    return fields


def op_choices(include_batch: bool = True, modality: str = "image") -> list[str]:
    """Registered op names of ``modality``, grouped (images: geometry, colour, quality, batch, preset; text: words,
    punctuation, characters) in registry order."""
    order = ["geometry", "colour", "quality", "batch", "preset", "words", "punctuation", "characters"]
    ops = [o for o in ops_for(modality).values() if include_batch or not o.batch]
    return [o.name for o in sorted(ops, key=lambda o: order.index(o.group) if o.group in order else len(order))]


def addable_ops(current: Sequence[str], modality: str | None = None) -> list[str]:
    """Ops that can still be added: each op once, no second batch op (MixUp/CutMix), and only ops of the pair's
    ``modality`` (default: that of the ``current`` ops, else image)."""
    if modality is None:
        modality = get_op(current[0]).modality if current else "image"
    has_batch = any(get_op(n).batch for n in current)
    return [n for n in op_choices(modality=modality) if n not in current and not (has_batch and get_op(n).batch)]


# --------------------------------------------------------------------------------- state round trip


def _key(prefix: str, *parts: str) -> str:
    return "_".join((prefix, *parts))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return abs(float(a) - float(b)) < 1e-9


def op_values(op: OpConfig) -> dict[str, Any]:
    """Every widget value of one pipeline entry (declared defaults where the entry gives none)."""
    out: dict[str, Any] = {}
    for f in op_fields(op.name):
        given = op.p if f.name == "p" else op.knobs.get(f.name)
        out[f.name] = f.clamp(f.default if given is None else given)
    return out


def widget_state(pipeline: Pipeline, prefix: str = PREFIX) -> tuple[dict[str, Any], list[str]]:
    """Flat widget values that show ``pipeline``, and notes on anything the widgets cannot show.

    The editor lists each op once, so a repeated op keeps its first entry (a note says so).
    """
    notes: list[str] = []
    state: dict[str, Any] = {_key(prefix, "strength"): float(pipeline.strength),
                             _key(prefix, "seed"): int(pipeline.seed)}
    names: list[str] = []
    for i, op in enumerate(pipeline.ops):
        if op.name in names:
            notes.append(f"ops[{i}] repeats {op.name}; the editor keeps its first entry only")
            continue
        names.append(op.name)
        for field_name, value in op_values(op).items():
            state[_key(prefix, op.name, field_name)] = value
        state[_key(prefix, op.name, "own")] = op.strength is not None
        state[_key(prefix, op.name, "strength")] = float(DEFAULT_OWN_STRENGTH if op.strength is None else op.strength)
    state[_key(prefix, "ops")] = names
    return state, notes


def default_state(name: str, prefix: str = PREFIX) -> dict[str, Any]:
    """Widget values of op ``name`` as declared (what a freshly added op shows)."""
    state, _ = widget_state(Pipeline([OpConfig(name)]), prefix)
    return {k: v for k, v in state.items() if k.startswith(_key(prefix, name) + "_")}


def op_from_state(name: str, state: Mapping[str, Any], prefix: str = PREFIX) -> OpConfig:
    """One pipeline entry from widget values; values equal to the declaration are left out of the JSON."""
    p: float | None = None
    knobs: dict[str, Any] = {}
    for f in op_fields(name):
        key = _key(prefix, name, f.name)
        if key not in state:
            continue
        value = f.clamp(state[key])
        if _same(value, f.default):
            continue
        if f.name == "p":
            p = float(value)
        else:
            knobs[f.name] = value
    own = bool(state.get(_key(prefix, name, "own"), False))
    strength = float(state.get(_key(prefix, name, "strength"), DEFAULT_OWN_STRENGTH)) if own else None
    return OpConfig(name, p, strength, knobs)


def pipeline_from_state(state: Mapping[str, Any], prefix: str = PREFIX) -> Pipeline:
    """The pipeline the widgets show (validated through :meth:`Pipeline.from_dict`)."""
    names = list(state.get(_key(prefix, "ops"), []))
    ops = [op_from_state(n, state, prefix) for n in names]
    data = {"ops": [o.to_dict() for o in ops], "strength": float(state.get(_key(prefix, "strength"), 0.5)),
            "seed": int(state.get(_key(prefix, "seed"), 0))}
    return Pipeline.from_dict(data)


def state_of(*mappings: Mapping[Any, Any], prefix: str = PREFIX) -> dict[str, Any]:
    """The editor's widget values found in ``mappings`` (e.g. remembered values, then the live session; a
    later mapping wins), other keys left out."""
    start = _key(prefix, "")
    return {k: v for mapping in mappings for k, v in mapping.items() if isinstance(k, str) and k.startswith(start)}


def pipeline_in(*mappings: Mapping[Any, Any], prefix: str = PREFIX) -> Pipeline | None:
    """The pipeline the editor's widget values in ``mappings`` describe (:func:`state_of`); None when they hold
    no editor (the lab was never opened) or no valid pipeline."""
    state = state_of(*mappings, prefix=prefix)
    if _key(prefix, "ops") not in state:
        return None
    try:
        return pipeline_from_state(state, prefix)
    except (DAError, LookupError, ValueError, TypeError):  # LookupError: an op no longer registered
        return None


def move_op(ops: Sequence[str], name: str, step: int) -> list[str]:
    """The op list with ``name`` moved up (``step`` -1) or down (+1) one place (unchanged at either end), or
    removed (``step`` 0)."""
    out = list(ops)
    i = out.index(name)
    j = i + step
    if step == 0:
        out.pop(i)
    elif 0 <= j < len(out):
        out[i], out[j] = out[j], out[i]
    return out


def measure_key(pipeline: Pipeline, *parts: Any) -> str:
    """A cache key for results that sweep strengths: the pipeline without its strength, plus ``parts``."""
    data = pipeline.to_dict()
    data.pop("strength", None)
    return json.dumps([data, *[list(p) if isinstance(p, tuple) else p for p in parts]], sort_keys=True,
                      default=str)


# ---------------------------------------------------------------------------------- what s means


def concrete_rows(pipeline: Pipeline, strength: float | None = None,
                  context: Context | None = None) -> list[dict[str, Any]]:
    """One row per op: the strength it uses, its probability and the concrete values at that strength (on
    images of ``context``'s size)."""
    rows = []
    for op, r in zip(pipeline.ops, pipeline.resolve(strength, context)):
        spec = op.spec
        values = {k: v for k, v in r.values.items() if k != "p"}
        rows.append({
            "op": spec.label,
            "strength": f"{r.strength:.2f}" + (" (own)" if op.strength is not None else ""),
            "p": round(r.p, 3),
            "active": r.call is not None,
            "means": r.text if r.call is not None else "identity (does nothing)",
            "values": ", ".join(f"{k}={_fmt(v)}" for k, v in values.items()),
        })
    return rows


def _fmt(v: Any) -> str:
    if isinstance(v, tuple | list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return f"{float(v):.3g}"


# ---------------------------------------------------------------------------------- preview rows


def parse_indices(text: str, n: int) -> list[int]:
    """'3, 17, 40-42' → [3, 17, 40, 41, 42]; :class:`DAError` naming the bad part, or an index ≥ n."""
    out: list[int] = []
    for part in (p.strip() for p in text.replace(";", ",").split(",")):
        if not part:
            continue
        try:
            if "-" in part[1:]:
                a, b = part.split("-", 1)
                lo, hi = int(a), int(b)
                if hi < lo or hi - lo > 1000:
                    raise ValueError
                out.extend(range(lo, hi + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise DAError(f"sample indices: cannot read {part!r} (use numbers like 3, 17, 40-42)") from None
    bad = [i for i in out if not 0 <= i < n]
    if bad:
        raise DAError(f"sample indices: {bad[0]} is outside 0–{n - 1}")
    if not out:
        raise DAError("sample indices: none given")
    return list(dict.fromkeys(out))


@dataclass
class PreviewRows:
    """Samples for the contact sheet: source rows and, per row, a target sample of the same class."""

    index: list[int]
    images: torch.Tensor
    labels: torch.Tensor
    target_index: list[int | None]
    target_images: torch.Tensor


def pick_rows(source: Dataset, target: Dataset, n: int = 8, seed: int = 0,
              indices: Sequence[int] | None = None) -> PreviewRows:
    """``indices`` of the source, or ``n`` drawn with ``seed`` (spread over classes); target samples of the
    same class beside them (any target sample where the target lacks the class), in the source's size."""
    if indices is None:
        rng = np.random.default_rng(seed)
        labels = source.labels.numpy()
        by_class = [rng.permutation(np.flatnonzero(labels == c)).tolist() for c in range(len(source.classes))]
        order = [c for c in rng.permutation(len(by_class)) if by_class[c]]
        picked: list[int] = []
        while len(picked) < min(n, len(labels)) and order:
            for c in list(order):
                if not by_class[c]:
                    order.remove(c)
                    continue
                picked.append(by_class[c].pop())
                if len(picked) >= n:
                    break
        indices = picked
    idx = [int(i) for i in indices]
    images = source.images[idx]
    labels_t = source.labels[idx]
    rng = np.random.default_rng(seed + 1)
    t_labels = target.labels.numpy()
    name_to_t = {c: i for i, c in enumerate(target.classes)}
    t_idx: list[int | None] = []
    for lab in labels_t.tolist():
        c = name_to_t.get(source.classes[lab])
        pool = np.flatnonzero(t_labels == c) if c is not None else np.arange(len(t_labels))
        t_idx.append(int(rng.choice(pool)) if len(pool) else None)
    if len(target):  # in the source's shape, by the same rule as everywhere two domains meet
        timg = to_shape(target.subset([i if i is not None else 0 for i in t_idx]), source.shape).images
    else:
        timg = source.images[:0]
    return PreviewRows(idx, images, labels_t, t_idx, timg.contiguous())
