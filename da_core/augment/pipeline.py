"""A pipeline: an ordered list of ops and one master strength that scales all of them.

JSON form (what the page downloads and the command line reads)::

    {"ops": [{"name": "rotation"}, {"name": "gaussian_blur", "p": 0.5, "sigma_range": [0.1, 1.5]}],
     "strength": 0.5, "seed": 0}

An op given by name alone uses its declared ranges.  A given ``*_range`` (or other knob) replaces the value
at full strength; the master strength still scales towards it from the identity, unless the knob does not
scale.  ``p`` is the op's probability; ``strength`` on an op overrides the master strength for that op.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from da_core.augment.ops import OPS, Call, Context, Expr, OpSpec, get_op, magnitude
from da_core.data.dataset import check_modality
from da_core.errors import ModalityError, PipelineError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from da_core.data.dataset import Dataset

# torchvision draws its random parameters from torch's global generator; we seed it from the caller's
# generator inside fork_rng, and this lock keeps two threads (a preview and a training run) from
# interleaving their draws.
_RNG_LOCK = threading.RLock()


@contextlib.contextmanager
def _one_cpu_thread(device: Any) -> Iterator[None]:
    """On the CPU, run the ops with one intra-op thread: they are many small calls (a group of images each), and
    torch's thread pool costs more than it gains there; on a busy 2-core machine a batch of 64 digits took 1.3 s
    with two threads and 0.025 s with one.  Held under :data:`_RNG_LOCK`, so concurrent applies restore in order."""
    import torch

    before = torch.get_num_threads()
    if device.type != "cpu" or before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class OpConfig:
    """One entry of a pipeline: the op's name and any overridden fields."""

    name: str
    p: float | None = None
    strength: float | None = None
    knobs: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> OpSpec:
        """The registry entry."""
        return get_op(self.name)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: only what differs from the declaration."""
        out: dict[str, Any] = {"name": self.name}
        if self.p is not None:
            out["p"] = self.p
        if self.strength is not None:
            out["strength"] = self.strength
        out.update({k: list(v) if isinstance(v, tuple) else v for k, v in self.knobs.items()})
        return out


@dataclass
class ResolvedOp:
    """An op at one strength: concrete knob values, probability, and the torchvision call."""

    name: str
    strength: float
    values: dict[str, Any]
    p: float
    call: Call | None  # None: the op is the identity at this strength and is skipped
    batch: bool
    text: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form for reports."""
        return {"name": self.name, "strength": self.strength, "p": self.p, "active": self.call is not None,
                "values": {k: list(v) if isinstance(v, tuple) else v for k, v in self.values.items()},
                "text": self.text}


@dataclass
class Augmented:
    """The output of :meth:`Pipeline.apply`: uint8 images and, when MixUp/CutMix ran, soft labels."""

    images: torch.Tensor
    soft_labels: torch.Tensor | None = None


@dataclass
class Pipeline:
    """Ordered ops + master strength + seed (see the module docstring for the JSON form)."""

    ops: list[OpConfig] = field(default_factory=list)
    strength: float = 0.5
    seed: int = 0

    # ------------------------------------------------------------------------------- JSON

    @classmethod
    def from_dict(cls, data: Any) -> Pipeline:
        """Validate and build; :class:`PipelineError` names the bad field (e.g. ``ops[1].sigma_range``)."""
        if not isinstance(data, dict):
            raise PipelineError(f"pipeline: expected a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - {"ops", "strength", "seed"})
        if unknown:
            raise PipelineError(f"{unknown[0]}: unknown field (a pipeline has ops, strength, seed)")
        strength = _number(data.get("strength", 0.5), "strength", 0.0, 1.0)
        seed = data.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise PipelineError(f"seed: expected an integer, got {seed!r}")
        ops_data = data.get("ops", [])
        if not isinstance(ops_data, list):
            raise PipelineError(f"ops: expected a list, got {type(ops_data).__name__}")
        ops = [_op_from_dict(entry, f"ops[{i}]") for i, entry in enumerate(ops_data)]
        kinds = {o.spec.modality: o.name for o in ops}
        if len(kinds) > 1:
            (m1, op1), (m2, op2) = list(kinds.items())[:2]
            raise ModalityError(f"ops: {op1!r} is an {m1} op and {op2!r} a {m2} op; a pipeline augments one modality")
        batch_ops = [o.name for o in ops if o.spec.batch]
        if len(batch_ops) > 1:
            raise PipelineError(f"ops: at most one batch op (mixup or cutmix), got {', '.join(batch_ops)}")
        return cls(ops, strength, seed)

    @property
    def modality(self) -> str | None:
        """The modality its ops augment (None for an empty pipeline)."""
        return self.ops[0].spec.modality if self.ops else None

    def check_fits(self, ds: Dataset) -> None:
        """Refuse a dataset of another modality than the ops', naming the op and the dataset."""
        for op in self.ops:
            check_modality(ds, op.spec.modality, f"augmentation op {op.name!r}")

    @classmethod
    def from_json(cls, text: str | bytes) -> Pipeline:
        """Parse JSON text (a syntax error names the line and column)."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise PipelineError(f"pipeline: not valid JSON ({exc})") from None
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (round-trips through :meth:`from_dict`)."""
        return {"ops": [o.to_dict() for o in self.ops], "strength": self.strength, "seed": self.seed}

    def to_json(self) -> str:
        """Pretty JSON."""
        return json.dumps(self.to_dict(), indent=2)

    # ---------------------------------------------------------------------------- resolving

    def resolve(self, strength: float | None = None, context: Context | None = None) -> list[ResolvedOp]:
        """Each op at a master strength (default: the pipeline's): concrete values and the transform call."""
        s_master = self.strength if strength is None else float(strength)
        ctx = context or Context()
        out = []
        for op in self.ops:
            spec = op.spec
            s = s_master if op.strength is None else op.strength
            values: dict[str, Any] = {k.name: k.at(s, op.knobs.get(k.name)) for k in spec.knobs}
            if "p" not in values:
                values["p"] = spec.p if op.p is None else op.p
            elif op.p is not None:  # a p knob given as a field: its full-strength value
                values["p"] = spec.knob("p").at(s, op.p)
            values = spec.fit(values, ctx)
            p = float(values["p"])
            active = magnitude(s) > 0 and p > 0
            call = None
            if active:
                call = spec.make(values, ctx)
                if not spec.native_p and p < 1 and not spec.batch:
                    call = Call("RandomApply", {"p": p}, ([call],))
            out.append(ResolvedOp(op.name, s, values, p, call, spec.batch, spec.text(values)))
        return out

    def describe(self, strength: float | None = None, context: Context | None = None) -> str:
        """What the strength means concretely, e.g. 'rotation ±27°, contrast ×[0.55, 1.45]' (on images of
        ``context``'s size: an op may fit its values to small images)."""
        parts = [r.text for r in self.resolve(strength, context) if r.call is not None]
        return ", ".join(parts) if parts else "no augmentation (identity)"

    def build(self, strength: float | None = None, context: Context | None = None) -> Any:
        """The same pipeline as one ``torchvision.transforms.v2.Compose`` (uint8 in, uint8 out)."""
        return self._compose_call(strength, context).build()

    def _check_image_ops(self, what: str) -> None:
        """Refuse text ops where images are augmented, naming the op and what it was given."""
        for op in self.ops:
            if op.spec.modality != "image":
                raise ModalityError(f"augmentation op {op.name!r} takes {op.spec.modality} data, but {what}; "
                                    "apply a text pipeline with da_core.augment.text_ops.augment_texts")

    def _compose_call(self, strength: float | None, context: Context | None) -> Call:
        self._check_image_ops("a torchvision transform was asked for (text ops have none)")
        steps = [Call("ToDtype", {"scale": True}, (Expr("torch.float32"),))]
        steps += [r.call for r in self.resolve(strength, context) if r.call is not None]
        steps.append(Call("ToDtype", {"scale": True}, (Expr("torch.uint8"),)))
        return Call("Compose", {}, (steps,))

    def to_python(self, strength: float | None = None, context: Context | None = None) -> str:
        """Runnable Python that builds the same pipeline with ``torchvision.transforms.v2``."""
        s = self.strength if strength is None else float(strength)
        ctx = context or Context()
        has_batch = any(r.batch and r.call is not None for r in self.resolve(s, ctx))
        call_args = "images, labels" if has_batch else "images"
        lines = [
            f'"""Augmentation pipeline exported from Domain Shift Studio at strength {s:.2f} (seed {self.seed}).',
            "",
            f"At this strength: {self.describe(s, ctx)}.",
            f"Input: uint8 image tensors ({ctx.channels}x{ctx.height}x{ctx.width} or a batch N x C x H x W)"
            + (", with int64 labels (MixUp/CutMix mix them into soft labels)." if has_batch else "."),
            "Each call to torchvision v2 draws one set of random parameters for everything it is given.",
            '"""',
            "",
            "import torch",
            "from torchvision.transforms import v2",
            "",
            "",
            "def build_pipeline() -> v2.Compose:",
            '    """The pipeline: uint8 in, uint8 out."""',
            f"    return {self._compose_call(s, ctx).code(4)}",
            "",
            "",
            "pipeline = build_pipeline()",
            "",
            'if __name__ == "__main__":',
            f"    torch.manual_seed({self.seed})",
            f"    images = torch.randint(0, 256, (8, {ctx.channels}, {ctx.height}, {ctx.width}), dtype=torch.uint8)",
        ]
        if has_batch:
            lines += [f"    labels = torch.randint(0, {ctx.num_classes}, (8,))",
                      "    images, labels = pipeline(images, labels)",
                      "    print(images.shape, images.dtype, labels.shape)"]
        else:
            lines += [f"    out = pipeline({call_args})", "    print(out.shape, out.dtype)"]
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------------------------ applying

    def apply(self, images: torch.Tensor, labels: torch.Tensor | None = None, strength: float | None = None,
              generator: torch.Generator | int | None = None, num_classes: int | None = None,
              group_size: int = 16) -> Augmented:
        """Augment a uint8 batch N x C x H x W on its own device (the GPU when the batch lives there).

        torchvision v2 draws one set of random parameters per call, so images are processed in groups of
        ``group_size`` that share a draw (1 = every image its own draw, slowest; ``len(images)`` = one
        call per op, exactly what the exported ``v2.Compose`` does).  MixUp/CutMix always see the whole
        batch and need ``labels``.  ``generator`` (a ``torch.Generator`` or an int seed; default: the
        pipeline's seed) makes the result reproducible.
        """
        import torch
        from torchvision.transforms.v2 import functional as F

        self._check_image_ops("apply() was given images (a uint8 tensor)")
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise PipelineError(f"apply: expected a uint8 N x C x H x W tensor, got {images.dtype} "
                                f"{tuple(images.shape)}")
        n, c, h, w = images.shape
        k = num_classes if num_classes is not None else (int(labels.max()) + 1 if labels is not None and
                                                         len(labels) else 10)
        resolved = self.resolve(strength, Context(h, w, c, k))
        active = [r for r in resolved if r.call is not None]
        if not active or n == 0:
            return Augmented(images.clone())
        if any(r.batch for r in active) and labels is None:
            raise PipelineError("apply: MixUp/CutMix need the labels of the batch")
        seed = _seed_from(generator, self.seed)
        devices = [images.device.index or 0] if images.device.type == "cuda" else []
        group = max(1, int(group_size))
        soft = None
        with _RNG_LOCK, torch.random.fork_rng(devices=devices), _one_cpu_thread(images.device):
            torch.manual_seed(seed)
            x = F.to_dtype(images, torch.float32, scale=True)  # the same conversions as the exported Compose
            for r in active:
                transform = r.call.build()  # type: ignore[union-attr]
                if r.batch:
                    x, soft = transform(x, labels.to(x.device))  # type: ignore[union-attr]
                    continue
                x = torch.cat([transform(x[i:i + group]) for i in range(0, n, group)])
            out = F.to_dtype(x.clamp(0.0, 1.0), torch.uint8, scale=True)
        return Augmented(out, soft)

    def effective_ops(self, strength: float | None = None) -> list[str]:
        """Names of the ops that do something at this strength."""
        return [r.name for r in self.resolve(strength) if r.call is not None]


def _seed_from(generator: Any, default: int) -> int:
    import torch

    if generator is None:
        return int(default)
    if isinstance(generator, int):
        return generator
    return int(torch.randint(0, 2**62, (1,), generator=generator))


def _number(value: Any, where: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PipelineError(f"{where}: expected a number, got {value!r}")
    if not lo <= value <= hi:
        raise PipelineError(f"{where}: {value} is outside [{lo:g}, {hi:g}]")
    return float(value)


def _op_from_dict(entry: Any, where: str) -> OpConfig:
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict):
        raise PipelineError(f"{where}: expected an object with a name, got {entry!r}")
    name = entry.get("name")
    if not isinstance(name, str):
        raise PipelineError(f"{where}.name: missing (one of {', '.join(OPS)})")
    try:
        spec = get_op(name)
    except KeyError as exc:
        raise PipelineError(f"{where}.name: {exc.args[0]}") from None
    allowed = set(spec.fields) | {"name"}
    for key in entry:
        if key not in allowed:
            raise PipelineError(f"{where}.{key}: unknown field for {name} (it takes {', '.join(spec.fields)})")
    p = None if entry.get("p") is None else _number(entry["p"], f"{where}.p", 0.0, 1.0)
    s = None if entry.get("strength") is None else _number(entry["strength"], f"{where}.strength", 0.0, 1.0)
    knobs: dict[str, Any] = {}
    for knob in spec.knobs:
        if knob.name not in entry or knob.name == "p":
            continue
        value = entry[knob.name]
        field_name = f"{where}.{knob.name}"
        if knob.is_range:
            if not isinstance(value, list | tuple) or len(value) != 2:
                raise PipelineError(f"{field_name}: expected two numbers [low, high], got {value!r}")
            lo, hi = (_number(v, field_name, knob.lo, knob.hi) for v in value)
            if lo > hi:
                raise PipelineError(f"{field_name}: low {lo:g} is above high {hi:g}")
            knobs[knob.name] = (lo, hi)
        else:
            knobs[knob.name] = _number(value, field_name, knob.lo, knob.hi)
    return OpConfig(name, p, s, knobs)


def default_pipeline() -> Pipeline:
    """A sensible start for digits: rotation, mild affine, blur and erasing at strength 0.2.

    0.2 is the measured sweet spot of this pipeline on the default pair (affinity 0.93, MMD² to the target
    0.37 → 0.12); at 0.35 the geometric ops compound and the model keeps only ~72% of its accuracy.
    """
    return Pipeline([OpConfig("rotation"), OpConfig("translate"), OpConfig("shear"), OpConfig("elastic"),
                     OpConfig("gaussian_blur", p=0.5), OpConfig("erasing")], strength=0.2, seed=0)
