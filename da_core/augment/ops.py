"""The registry of augmentation ops: image ops, each a thin declaration over ``torchvision.transforms.v2``, and
text ops (``da_core/augment/text_ops.py``: EDA, AEDA, character noise), each a pure function of a seeded
``random.Random``.  ``OPS`` holds the image ops (what the lab lists for an image pair, as before), ``TEXT_OPS`` the
text ops; :func:`ops_for` lists one modality's and :func:`get_op` finds any.

An op declares its knobs: the value each takes at strength 0 and at strength 1 (interval knobs end in
``_range``), whether strength scales it, and how to build the torchvision transform from concrete values.
The transform is described as a :class:`Call` tree, so the same declaration gives the live transform, the
exported Python code and the concrete text shown on the page ("rotation ±27°") — they cannot drift apart.

Strength 1 is calibrated to the widest ranges practitioners use (TrivialAugmentWide's, e.g. rotation ±135°,
shear up to 0.99 ≈ 44.7°) or wider, so over-augmentation lies inside the knob's reach.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# ------------------------------------------------------------------------------------ call trees


@dataclass(frozen=True)
class Expr:
    """A Python expression used as an argument, e.g. ``torch.uint8`` (``resolve`` gives the live value)."""

    code: str

    def resolve(self) -> Any:
        """The live object the expression names."""
        import torch
        from torchvision.transforms import v2

        return eval(self.code, {"torch": torch, "v2": v2})  # noqa: S307 - fixed strings from this module


@dataclass(frozen=True)
class Call:
    """``v2.<name>(*args, **kwargs)``: builds the transform and renders it as code."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    args: tuple[Any, ...] = ()

    def build(self) -> Any:
        """Instantiate the torchvision transform."""
        from torchvision.transforms import v2

        return getattr(v2, self.name)(*[_build(a) for a in self.args],
                                      **{k: _build(v) for k, v in self.kwargs.items()})

    def code(self, indent: int = 0) -> str:
        """Python source that builds the same transform."""
        parts = [_code(a, indent) for a in self.args] + [f"{k}={_code(v, indent)}" for k, v in self.kwargs.items()]
        return f"v2.{self.name}({', '.join(parts)})"


def _build(value: Any) -> Any:
    if isinstance(value, Call):
        return value.build()
    if isinstance(value, Expr):
        return value.resolve()
    if isinstance(value, list):
        return [_build(v) for v in value]
    return value


def _code(value: Any, indent: int) -> str:
    if isinstance(value, Call):
        return value.code(indent)
    if isinstance(value, Expr):
        return value.code
    if isinstance(value, list):
        if value and isinstance(value[0], Call):
            pad = " " * (indent + 4)
            inner = ",\n".join(pad + _code(v, indent + 4) for v in value)
            return f"[\n{inner},\n{' ' * indent}]"
        return "[" + ", ".join(_code(v, indent) for v in value) + "]"
    if isinstance(value, float):
        return repr(round(value, 6))
    return repr(value)


BILINEAR = Expr("v2.InterpolationMode.BILINEAR")

# ----------------------------------------------------------------------------------------- knobs


@dataclass(frozen=True)
class Knob:
    """One parameter of an op.

    ``at0``/``at1`` are its values at strength 0 and 1 (a pair for ``*_range`` knobs, else a number);
    values in between follow :func:`magnitude`.  ``scales=False`` knobs keep one value at every strength
    (``at1``).  ``integer`` knobs are rounded.  ``lo``/``hi`` bound what a user may set.
    """

    name: str
    at0: float | tuple[float, float]
    at1: float | tuple[float, float]
    help: str
    lo: float = -math.inf
    hi: float = math.inf
    scales: bool = True
    integer: bool = False

    @property
    def is_range(self) -> bool:
        """An interval knob (its name ends in ``_range``)."""
        return self.name.endswith("_range")

    def at(self, s: float, full: float | tuple[float, float] | None = None) -> float | tuple[float, float]:
        """The concrete value at strength ``s`` (``full`` replaces the declared value at strength 1)."""
        end = self.at1 if full is None else full
        if not self.scales:
            return end
        m = magnitude(s)
        if self.is_range:
            a0, b0 = self.at0  # type: ignore[misc]
            a1, b1 = end  # type: ignore[misc]
            value: Any = (a0 + (a1 - a0) * m, b0 + (b1 - b0) * m)
            return tuple(self._round(v) for v in value)  # type: ignore[return-value]
        return self._round(self.at0 + (end - self.at0) * m)  # type: ignore[operator]

    def _round(self, v: float) -> float:
        return float(round(v)) if self.integer else round(float(v), 6)


STRENGTH_EXPONENT = 2.0


def magnitude(s: float) -> float:
    """How far along its range an op is at master strength ``s``: s² gives the useful low end more slider.

    Rotation reaches ±15° at s ≈ 0.33 and ±60° at s ≈ 0.67 of its ±135° full range.
    """
    s = min(max(float(s), 0.0), 1.0)
    return s ** STRENGTH_EXPONENT


# ------------------------------------------------------------------------------------------- ops


@dataclass(frozen=True)
class Context:
    """What a transform needs to know about the data: image size, channels and number of classes."""

    height: int = 28
    width: int = 28
    channels: int = 1
    num_classes: int = 10

    @classmethod
    def of(cls, dataset: Any) -> Context:
        """The context of a :class:`~da_core.data.Dataset`: its image shape and number of classes."""
        c, h, w = dataset.shape
        return cls(h, w, c, len(dataset.classes))


@dataclass(frozen=True)
class OpSpec:
    """A registry entry: name, what it does, its knobs and how to build the torchvision transform."""

    name: str
    label: str
    group: str
    summary: str
    knobs: tuple[Knob, ...]
    make: Callable[[dict[str, Any], Context], Call]
    text: Callable[[dict[str, Any]], str]
    p: float = 1.0          # probability at full strength (used when the op has no ``p`` knob)
    batch: bool = False     # needs the whole batch and the labels (MixUp, CutMix)
    native_p: bool = False  # the torchvision class takes ``p`` itself (no RandomApply wrapper)
    modality: str = "image"
    adapt: Callable[[dict[str, Any], Context], dict[str, Any]] | None = None  # fit values to small images
    kernel: Callable[..., Any] | None = None  # text ops: (words, values, rng, synonyms) -> (words, edits)
    explain: Callable[[dict[str, Any], int], str] | None = None  # text ops: concrete values for a word count

    def fit(self, values: dict[str, Any], context: Context) -> dict[str, Any]:
        """The values this op can use on images of ``context``'s size (as given when they fit)."""
        return self.adapt(values, context) if self.adapt is not None else values

    def knob(self, name: str) -> Knob:
        """The knob called ``name`` (KeyError if none)."""
        for k in self.knobs:
            if k.name == name:
                return k
        raise KeyError(name)

    @property
    def fields(self) -> list[str]:
        """Field names a pipeline entry may set for this op."""
        names = [k.name for k in self.knobs]
        return names + [n for n in ("p", "strength") if n not in names]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description (for ``python -m da_core ops --json`` and the page)."""
        return {
            "name": self.name, "label": self.label, "group": self.group, "summary": self.summary,
            "batch": self.batch, "p": self.p, "modality": self.modality,
            "knobs": [{"name": k.name, "at_strength_0": _jsonable(k.at0), "at_strength_1": _jsonable(k.at1),
                       "scales_with_strength": k.scales, "help": k.help} for k in self.knobs],
        }


def _jsonable(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


OPS: dict[str, OpSpec] = {}       # the image ops (the registry's historic name; every image listing reads it)
TEXT_OPS: dict[str, OpSpec] = {}  # the text ops (registered by da_core.augment.text_ops)
_BY_MODALITY = {"image": OPS, "text": TEXT_OPS}


def register(spec: OpSpec) -> OpSpec:
    """Add an op to the registry of its modality (names are snake_case and unique across modalities)."""
    if spec.modality not in _BY_MODALITY:
        raise ValueError(f"op {spec.name!r}: unknown modality {spec.modality!r}")
    if spec.name in OPS or spec.name in TEXT_OPS:
        raise ValueError(f"op {spec.name!r} registered twice")
    _BY_MODALITY[spec.modality][spec.name] = spec
    return spec


def ops_for(modality: str = "image") -> dict[str, OpSpec]:
    """The registered ops of one modality, in registration order (``image`` is :data:`OPS` itself)."""
    if modality not in _BY_MODALITY:
        raise KeyError(f"unknown modality {modality!r} (image or text)")
    return _BY_MODALITY[modality]


def get_op(name: str) -> OpSpec:
    """The registered op called ``name`` (image or text); KeyError with close matches otherwise."""
    found = OPS.get(name) or TEXT_OPS.get(name)
    if found is None:
        import difflib

        close = difflib.get_close_matches(name, [*OPS, *TEXT_OPS], n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise KeyError(f"unknown op {name!r}{hint} (see `python -m da_core ops`)")
    return found


# --- text helpers


def _f(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"


def _pm(lo: float, hi: float, unit: str = "") -> str:
    """'±27°' for a symmetric interval, else '[a, b]'."""
    if abs(lo + hi) < 1e-9:
        return f"±{_f(hi)}{unit}"
    return f"[{_f(lo)}, {_f(hi)}]{unit}"


def _times(r: tuple[float, float]) -> str:
    return f"×[{_f(r[0])}, {_f(r[1])}]"


def _p(values: dict[str, Any], default: float) -> str:
    p = values.get("p", default)
    return "" if p >= 1 else f" (p={_f(p)})"


def _degrees_interval(r: tuple[float, float]) -> list[float]:
    return [float(r[0]), float(r[1])]


# --- geometry

register(OpSpec(
    "rotation", "Rotation", "geometry", "rotate by a random angle",
    (Knob("degrees_range", (0.0, 0.0), (-135.0, 135.0), "angle interval in degrees", -360, 360),),
    lambda v, c: Call("RandomRotation", {"degrees": _degrees_interval(v["degrees_range"]),
                                         "interpolation": BILINEAR}),
    lambda v: f"rotation {_pm(*v['degrees_range'], '°')}{_p(v, 1)}",
))

for _name, _cls, _label in (("horizontal_flip", "RandomHorizontalFlip", "Horizontal flip"),
                            ("vertical_flip", "RandomVerticalFlip", "Vertical flip")):
    register(OpSpec(
        _name, _label, "geometry", f"mirror {'left-right' if _name[0] == 'h' else 'top-bottom'} with probability p",
        (Knob("p", 0.0, 0.5, "probability of flipping", 0, 1),),
        (lambda cls: lambda v, c: Call(cls, {"p": v["p"]}))(_cls),
        (lambda label: lambda v: f"{label.lower()} p={_f(v['p'])}")(_label),
        native_p=True,
    ))

register(OpSpec(
    "resized_crop", "Random resized crop", "geometry", "crop a random area and aspect ratio, resize back",
    (Knob("scale_range", (1.0, 1.0), (0.08, 1.0), "share of the image area kept", 0.01, 1),
     Knob("ratio_range", (1.0, 1.0), (0.75, 4 / 3), "aspect ratio interval of the crop", 0.1, 10)),
    lambda v, c: Call("RandomResizedCrop", {"size": [c.height, c.width], "scale": list(v["scale_range"]),
                                            "ratio": list(v["ratio_range"]), "antialias": True}),
    lambda v: f"crop area {_times(v['scale_range'])}, aspect {_times(v['ratio_range'])}{_p(v, 1)}",
))

register(OpSpec(
    "translate", "Translation", "geometry", "shift by up to a fraction of the size",
    (Knob("max_fraction", 0.0, 0.45, "largest shift as a fraction of width/height", 0, 1),),
    lambda v, c: Call("RandomAffine", {"degrees": 0, "translate": [v["max_fraction"], v["max_fraction"]],
                                       "interpolation": BILINEAR}),
    lambda v: f"shift ≤ {v['max_fraction'] * 100:.0f}% of size{_p(v, 1)}",
))

register(OpSpec(
    "shear", "Shear", "geometry", "shear along x and y (45° is TrivialAugmentWide's 0.99)",
    (Knob("degrees_range", (0.0, 0.0), (-45.0, 45.0), "shear angle interval in degrees", -80, 80),),
    lambda v, c: Call("RandomAffine", {"degrees": 0, "shear": _degrees_interval(v["degrees_range"]) * 2,
                                       "interpolation": BILINEAR}),
    lambda v: f"shear {_pm(*v['degrees_range'], '°')}{_p(v, 1)}",
))

register(OpSpec(
    "perspective", "Perspective", "geometry", "move the corners inwards at random",
    (Knob("distortion", 0.0, 0.9, "how far corners move (fraction of half the size)", 0, 1),),
    lambda v, c: Call("RandomPerspective", {"distortion_scale": v["distortion"], "p": 1.0,
                                            "interpolation": BILINEAR}),
    lambda v: f"perspective {_f(v['distortion'])}{_p(v, 1)}",
))

register(OpSpec(
    "elastic", "Elastic", "geometry", "smooth random displacement field (like handwriting wobble)",
    (Knob("alpha", 0.0, 200.0, "displacement magnitude", 0, 1000),
     Knob("sigma", 5.0, 5.0, "smoothness of the displacement field", 0.1, 50, scales=False)),
    lambda v, c: Call("ElasticTransform", {"alpha": v["alpha"], "sigma": v["sigma"], "interpolation": BILINEAR}),
    lambda v: f"elastic α={_f(v['alpha'])}, σ={_f(v['sigma'])}{_p(v, 1)}",
    adapt=lambda v, c: _fit_elastic(v, c),
))


def _fit_elastic(values: dict[str, Any], context: Context) -> dict[str, Any]:
    """Cap σ so the displacement blur fits the image: torchvision blurs with an int(8σ + 1) kernel (made odd)
    padded by reflection, which needs the padding below the image side (σ ≤ (2·side − 3) / 8: 1.6 at 8 px)."""
    limit = (2 * min(context.height, context.width) - 3) / 8
    if values["sigma"] <= limit:
        return values
    return {**values, "sigma": math.floor(limit * 1000) / 1000}

# --- colour


def _jitter(kind: str) -> Callable[[dict[str, Any], Context], Call]:
    return lambda v, c: Call("ColorJitter", {kind: list(v["factor_range"] if kind != "hue" else v["hue_range"])})


for _name in ("brightness", "contrast", "saturation"):
    register(OpSpec(
        _name, _name.capitalize(), "colour", f"multiply {_name} by a random factor",
        (Knob("factor_range", (1.0, 1.0), (0.01, 1.99), f"{_name} factor interval", 0, 10),),
        _jitter(_name),
        (lambda n: lambda v: f"{n} {_times(v['factor_range'])}{_p(v, 1)}")(_name),
    ))

register(OpSpec(
    "hue", "Hue", "colour", "rotate the hue (no effect on grey images)",
    (Knob("hue_range", (0.0, 0.0), (-0.5, 0.5), "hue shift interval (fraction of the colour wheel)", -0.5, 0.5),),
    _jitter("hue"),
    lambda v: f"hue {_pm(*v['hue_range'])}{_p(v, 1)}",
))

register(OpSpec(
    "grayscale", "Grayscale", "colour", "drop colour with probability p (no effect on grey images)",
    (Knob("p", 0.0, 1.0, "probability", 0, 1),),
    lambda v, c: Call("RandomGrayscale", {"p": v["p"]}),
    lambda v: f"grayscale p={_f(v['p'])}", native_p=True,
))

register(OpSpec(
    "invert", "Invert", "colour", "invert intensities with probability p",
    (Knob("p", 0.0, 0.5, "probability", 0, 1),),
    lambda v, c: Call("RandomInvert", {"p": v["p"]}),
    lambda v: f"invert p={_f(v['p'])}", native_p=True,
))

register(OpSpec(
    "solarize", "Solarize", "colour", "invert pixels above a threshold",
    (Knob("threshold", 1.0, 0.0, "pixels at or above this (0-1) are inverted", 0, 1),),
    lambda v, c: Call("RandomSolarize", {"threshold": v["threshold"], "p": v.get("p", 1.0)}),
    lambda v: f"solarize above {_f(v['threshold'])}{_p(v, 1)}", native_p=True,
))

register(OpSpec(
    "posterize", "Posterize", "colour", "keep fewer bits per channel",
    (Knob("bits", 8.0, 1.0, "bits kept per channel", 1, 8, integer=True),),
    lambda v, c: Call("RandomPosterize", {"bits": int(v["bits"]), "p": v.get("p", 1.0)}),
    lambda v: f"posterize to {int(v['bits'])} bits{_p(v, 1)}", native_p=True,
))

register(OpSpec(
    "sharpness", "Sharpness", "colour", "sharpen or soften by a factor drawn from the two ends of the range",
    (Knob("factor_range", (1.0, 1.0), (0.01, 1.99), "sharpness factors (0 blurs, 2 sharpens)", 0, 10),),
    lambda v, c: Call("RandomChoice", {}, ([Call("RandomAdjustSharpness", {"sharpness_factor": f, "p": 1.0})
                                            for f in v["factor_range"]],)),
    lambda v: f"sharpness ×{_f(v['factor_range'][0])} or ×{_f(v['factor_range'][1])}{_p(v, 1)}",
))

# --- quality


def _blur(v: dict[str, Any], c: Context) -> Call:
    lo, hi = v["sigma_range"]
    k = 2 * math.ceil(3 * hi) + 1
    k = max(3, min(k, (min(c.height, c.width) // 2) * 2 - 1))
    return Call("GaussianBlur", {"kernel_size": k, "sigma": [max(lo, 1e-3), max(hi, 1e-3)]})


register(OpSpec(
    "gaussian_blur", "Gaussian blur", "quality", "blur with a random σ (pixels)",
    (Knob("sigma_range", (0.0, 0.0), (0.1, 3.0), "σ interval in pixels", 0, 50),),
    _blur,
    lambda v: f"blur σ {_times(v['sigma_range'])[1:]} px{_p(v, 1)}",
))

register(OpSpec(
    "gaussian_noise", "Gaussian noise", "quality", "add pixel noise (σ on the 0-1 scale)",
    (Knob("sigma", 0.0, 0.5, "noise σ (0-1 intensity scale)", 0, 5),),
    lambda v, c: Call("GaussianNoise", {"mean": 0.0, "sigma": v["sigma"], "clip": True}),
    lambda v: f"noise σ={_f(v['sigma'])}{_p(v, 1)}",
))

register(OpSpec(
    "erasing", "Random erasing (cutout)", "quality", "black out a random rectangle",
    (Knob("scale_range", (0.0, 0.0), (0.02, 0.4), "erased share of the area", 0, 1),
     Knob("ratio_range", (0.3, 3.3), (0.3, 3.3), "aspect ratio interval", 0.05, 20, scales=False)),
    lambda v, c: Call("RandomErasing", {"p": v.get("p", 0.5), "scale": list(v["scale_range"]),
                                        "ratio": list(v["ratio_range"]), "value": 0}),
    lambda v: f"erasing p={_f(v.get('p', 0.5))} area ≤ {_f(v['scale_range'][1])}",
    p=0.5, native_p=True,
))


def _jpeg(v: dict[str, Any], c: Context) -> Call:
    lo, hi = (int(x) for x in v["quality_range"])
    return Call("Compose", {}, ([Call("ToDtype", {"scale": True}, (Expr("torch.uint8"),)),
                                 Call("JPEG", {"quality": [max(1, lo), max(1, hi)]}),
                                 Call("ToDtype", {"scale": True}, (Expr("torch.float32"),))],))


register(OpSpec(
    "jpeg", "JPEG compression", "quality", "re-encode as JPEG at a random quality",
    (Knob("quality_range", (100.0, 100.0), (5.0, 100.0), "JPEG quality interval (1-100)", 1, 100, integer=True),),
    _jpeg,
    lambda v: f"JPEG quality [{int(v['quality_range'][0])}, {int(v['quality_range'][1])}]{_p(v, 1)}",
))

# --- batch ops (need the whole batch and its labels; output soft labels)

for _name, _cls in (("mixup", "MixUp"), ("cutmix", "CutMix")):
    register(OpSpec(
        _name, _cls, "batch", ("blend each image with another, labels mixed by λ ~ Beta(α, α)" if _name == "mixup"
                               else "paste a box from another image, labels mixed by area λ"),
        (Knob("alpha", 0.0, 1.0, "Beta(α, α) parameter; small α keeps λ near 0 or 1", 0, 10),),
        (lambda cls: lambda v, c: Call(cls, {"alpha": max(v["alpha"], 1e-3), "num_classes": c.num_classes}))(_cls),
        (lambda n: lambda v: f"{n} α={_f(v['alpha'])}{_p(v, 1)}")(_name),
        batch=True,
    ))

# --- presets (torchvision's own policies)

register(OpSpec(
    "randaugment", "RandAugment", "preset", "two random ops per image at one magnitude (of 31 bins)",
    (Knob("magnitude", 0.0, 30.0, "magnitude bin 0-30", 0, 30, integer=True),
     Knob("num_ops", 2.0, 2.0, "ops per image", 1, 10, scales=False, integer=True)),
    lambda v, c: Call("RandAugment", {"num_ops": int(v["num_ops"]), "magnitude": int(v["magnitude"]),
                                      "num_magnitude_bins": 31}),
    lambda v: f"RandAugment {int(v['num_ops'])} ops at magnitude {int(v['magnitude'])}/30{_p(v, 1)}",
))

register(OpSpec(
    "trivialaugment", "TrivialAugmentWide", "preset", "one random op at a random magnitude, applied with p",
    (Knob("p", 0.0, 1.0, "probability of applying (the policy itself has no intensity knob)", 0, 1),),
    lambda v, c: Call("TrivialAugmentWide", {"num_magnitude_bins": 31}),
    lambda v: f"TrivialAugmentWide p={_f(v['p'])}",
))

register(OpSpec(
    "augmix", "AugMix", "preset", "mix several augmentation chains with the original",
    (Knob("severity", 1.0, 10.0, "severity 1-10", 1, 10, integer=True),
     Knob("p", 0.0, 1.0, "probability of applying", 0, 1)),
    lambda v, c: Call("AugMix", {"severity": int(v["severity"]), "mixture_width": 3, "chain_depth": -1,
                                 "alpha": 1.0, "all_ops": True}),
    lambda v: f"AugMix severity {int(v['severity'])} p={_f(v['p'])}",
))
