"""The op registry and pipelines: identity at strength 0, shown values = applied values, seeds, JSON, export."""

from __future__ import annotations

import json

import pytest
import torch

from da_core.augment import OPS, Context, OpConfig, Pipeline, default_pipeline, magnitude
from da_core.errors import DAError, PipelineError

REQUIRED = [
    "rotation", "horizontal_flip", "vertical_flip", "resized_crop", "translate", "shear", "perspective", "elastic",
    "brightness", "contrast", "saturation", "hue", "grayscale", "invert", "solarize", "posterize", "sharpness",
    "gaussian_blur", "gaussian_noise", "erasing", "jpeg", "mixup", "cutmix", "randaugment", "trivialaugment",
    "augmix"
]


def _batch(channels: int, n: int = 8, size: int = 28, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, channels, size, size), generator=g, dtype=torch.uint8)
    images[:, :, 8:20, 10:18] = 255  # some structure so geometric ops change pixels
    return images, torch.arange(n) % 10


def test_registry_has_every_required_op_with_snake_case_names() -> None:
    assert set(REQUIRED) <= set(OPS)
    for name, spec in OPS.items():
        assert name == name.lower() and " " not in name
        for knob in spec.knobs:
            assert knob.is_range == isinstance(knob.at1, tuple), (name, knob.name)


@pytest.mark.parametrize("name", REQUIRED)
@pytest.mark.parametrize("channels", [1, 3])
def test_strength_zero_is_identity_and_shape_dtype_preserved(name: str, channels: int) -> None:
    images, labels = _batch(channels)
    pipe = Pipeline([OpConfig(name)], strength=0.0)
    out = pipe.apply(images, labels=labels, num_classes=10)
    assert torch.equal(out.images, images)
    full = Pipeline([OpConfig(name)], strength=1.0).apply(images, labels=labels, num_classes=10)
    assert full.images.shape == images.shape and full.images.dtype == torch.uint8


@pytest.mark.parametrize("name", REQUIRED)
def test_same_seed_same_output_and_export_runs_the_same_transform(name: str) -> None:
    images, labels = _batch(3, size=32)
    pipe = Pipeline([OpConfig(name)], strength=0.8, seed=5)
    a = pipe.apply(images, labels=labels, num_classes=10, group_size=len(images))
    b = pipe.apply(images, labels=labels, num_classes=10, group_size=len(images))
    assert torch.equal(a.images, b.images)
    namespace: dict = {}
    exec(pipe.to_python(context=Context(32, 32, 3, 10)), namespace)  # noqa: S102 - our own generated code
    torch.manual_seed(5)
    ref = namespace["pipeline"](images, labels) if OPS[name].batch else namespace["pipeline"](images)
    ref = ref[0] if isinstance(ref, tuple) else ref
    assert torch.equal(ref, a.images), "exported code and apply() must be the same transform"


@pytest.mark.parametrize("name", ["rotation", "elastic", "gaussian_noise", "erasing", "randaugment", "brightness"])
def test_different_seeds_give_different_pictures(name: str) -> None:
    images, labels = _batch(1)
    pipe = Pipeline([OpConfig(name)], strength=1.0)
    outs = [pipe.apply(images, labels=labels, generator=s, group_size=1).images for s in range(4)]
    assert any(not torch.equal(outs[0], o) for o in outs[1:])


def test_generator_draws_reproducibly() -> None:
    images, labels = _batch(1)
    pipe = Pipeline([OpConfig("rotation"), OpConfig("gaussian_noise")], strength=0.7)
    a = pipe.apply(images, generator=torch.Generator().manual_seed(3)).images
    b = pipe.apply(images, generator=torch.Generator().manual_seed(3)).images
    assert torch.equal(a, b)


def _walk(t: object) -> list:
    out = [t]
    for attr in ("transforms",):
        for child in getattr(t, attr, []) or []:
            out += _walk(child)
    return out


def _find(t: object, cls: str) -> object:
    return next(x for x in _walk(t) if type(x).__name__ == cls)


# (op, class built, attribute, knob) — the concrete value shown must be the one torchvision is given
SHOWN_IS_APPLIED = [
    ("rotation", "RandomRotation", "degrees", "degrees_range"),
    ("brightness", "ColorJitter", "brightness", "factor_range"),
    ("contrast", "ColorJitter", "contrast", "factor_range"),
    ("hue", "ColorJitter", "hue", "hue_range"),
    ("resized_crop", "RandomResizedCrop", "scale", "scale_range"),
    ("erasing", "RandomErasing", "scale", "scale_range"),
    ("gaussian_blur", "GaussianBlur", "sigma", "sigma_range"),
    ("jpeg", "JPEG", "quality", "quality_range"),
    ("posterize", "RandomPosterize", "bits", "bits"),
    ("solarize", "RandomSolarize", "threshold", "threshold"),
    ("horizontal_flip", "RandomHorizontalFlip", "p", "p"),
    ("grayscale", "RandomGrayscale", "p", "p"),
    ("perspective", "RandomPerspective", "distortion_scale", "distortion"),
    ("elastic", "ElasticTransform", "alpha", "alpha"),
    ("mixup", "MixUp", "alpha", "alpha"),
    ("randaugment", "RandAugment", "magnitude", "magnitude"),
    ("augmix", "AugMix", "severity", "severity"),
]


@pytest.mark.parametrize(("name", "cls", "attr", "knob"), SHOWN_IS_APPLIED)
@pytest.mark.parametrize("strength", [0.3, 0.6, 1.0])
def test_shown_values_are_the_applied_values(name: str, cls: str, attr: str, knob: str, strength: float) -> None:
    pipe = Pipeline([OpConfig(name)], strength=strength)
    (resolved,) = pipe.resolve()
    built = _find(pipe.build(), cls)
    applied = getattr(built, attr)
    shown = resolved.values[knob]
    if isinstance(shown, tuple):
        assert [float(a) for a in applied] == pytest.approx(list(shown), abs=1e-6)
    else:  # torchvision keeps some scalars as [v, v] (ElasticTransform)
        for a in applied if isinstance(applied, list | tuple) else [applied]:
            assert float(a) == pytest.approx(shown, abs=1e-6)
    assert resolved.text in pipe.describe()


def test_describe_is_concrete_and_scales_with_strength() -> None:
    pipe = Pipeline([OpConfig("rotation"), OpConfig("contrast"), OpConfig("erasing")], strength=1.0)
    assert pipe.describe() == "rotation ±135°, contrast ×[0.01, 1.99], erasing p=0.5 area ≤ 0.4"
    assert pipe.describe(0.0) == "no augmentation (identity)"
    angle = pipe.resolve(0.5)[0].values["degrees_range"][1]
    assert angle == pytest.approx(135 * magnitude(0.5))
    # the low end gets more of the slider: ±15° (the helpful range) sits at a third of the knob
    assert 10 < 135 * magnitude(1 / 3) < 20


def test_rotation_really_stays_within_the_shown_range() -> None:
    # a bright horizontal bar: its principal direction after rotation tells the angle applied
    img = torch.zeros(64, 1, 41, 41, dtype=torch.uint8)
    img[:, :, 19:22, 4:37] = 255
    pipe = Pipeline([OpConfig("rotation")], strength=0.5)
    limit = pipe.resolve()[0].values["degrees_range"][1]
    out = pipe.apply(img, group_size=1, generator=1).images.float()[:, 0]
    ys, xs = torch.meshgrid(torch.arange(41.0), torch.arange(41.0), indexing="ij")
    angles = []
    for im in out:
        w = im / im.sum()
        mx, my = (w * xs).sum(), (w * ys).sum()
        cxx, cyy, cxy = (w * (xs - mx) ** 2).sum(), (w * (ys - my) ** 2).sum(), (w * (xs - mx) * (ys - my)).sum()
        angles.append(float(torch.rad2deg(0.5 * torch.atan2(2 * cxy, cxx - cyy))))
    angles_t = torch.tensor(angles).abs()
    assert angles_t.max() <= limit + 2.0
    assert angles_t.max() > limit * 0.6  # and it uses the range, not a sliver of it


def test_json_round_trip_and_overrides() -> None:
    data = {"ops": [{"name": "rotation"}, {"name": "gaussian_blur", "p": 0.5, "sigma_range": [0.1, 1.5]}],
            "strength": 0.5, "seed": 0}
    pipe = Pipeline.from_json(json.dumps(data))
    assert pipe.to_dict() == data
    assert Pipeline.from_json(pipe.to_json()).to_dict() == data
    blur = pipe.resolve(1.0)[1]
    assert blur.values["sigma_range"] == (0.1, 1.5) and blur.p == 0.5
    assert "(p=0.5)" in blur.text
    # a per-op strength overrides the master strength
    pipe.ops[0].strength = 0.0
    assert pipe.effective_ops(1.0) == ["gaussian_blur"]


@pytest.mark.parametrize(("data", "field"), [
    ({"ops": [{"name": "rotate"}]}, "ops[0].name"),
    ({"ops": [{"name": "rotation"}, {"name": "gaussian_blur", "sigma_range": [2, "x"]}]}, "ops[1].sigma_range"),
    ({"ops": [{"name": "gaussian_blur", "sigma_range": [2, 1]}]}, "ops[0].sigma_range"),
    ({"ops": [{"name": "rotation", "degrees": 5}]}, "ops[0].degrees"),
    ({"ops": [{"name": "rotation", "p": 2}]}, "ops[0].p"),
    ({"ops": [], "strength": 1.5}, "strength"),
    ({"ops": [], "seed": "x"}, "seed"),
    ({"ops": [], "speed": 1}, "speed"),
    ({"ops": "rotation"}, "ops"),
    ({"ops": [{"name": "mixup"}, {"name": "cutmix"}]}, "ops"),
    ([1, 2], "pipeline"),
])
def test_invalid_pipeline_names_the_bad_field(data: object, field: str) -> None:
    with pytest.raises(PipelineError) as info:
        Pipeline.from_dict(data)
    assert str(info.value).startswith(field + ":")
    assert isinstance(info.value, DAError)


def test_unknown_op_suggests_the_close_name_and_bad_json_is_reported() -> None:
    with pytest.raises(PipelineError, match="did you mean 'rotation'"):
        Pipeline.from_dict({"ops": [{"name": "rotaton"}]})
    with pytest.raises(PipelineError, match="not valid JSON"):
        Pipeline.from_json("{ops: ]")


def test_mixup_gives_soft_labels_that_sum_to_one() -> None:
    images, labels = _batch(1)
    out = Pipeline([OpConfig("mixup")], strength=1.0).apply(images, labels=labels, num_classes=10)
    assert out.soft_labels is not None and out.soft_labels.shape == (8, 10)
    assert torch.allclose(out.soft_labels.sum(1), torch.ones(8))
    with pytest.raises(PipelineError, match="labels"):
        Pipeline([OpConfig("mixup")], strength=1.0).apply(images)


def test_default_pipeline_is_valid_and_moderate() -> None:
    pipe = default_pipeline()
    assert Pipeline.from_dict(pipe.to_dict()).to_dict() == pipe.to_dict()
    assert "rotation ±" in pipe.describe()


@pytest.mark.parametrize("size", [8, 9, 12, 16, 20])
@pytest.mark.parametrize("channels", [1, 3])
def test_every_op_works_at_every_size_the_specs_accept(size: int, channels: int) -> None:
    """Specs accept ``size`` 8 and up: every op, at full strength, keeps such images' shape and dtype."""
    images = torch.randint(0, 256, (6, channels, size, size), dtype=torch.uint8)
    labels = torch.arange(6) % 3
    for name in OPS:
        out = Pipeline([OpConfig(name)], strength=1.0).apply(images, labels=labels, generator=0, num_classes=3)
        assert out.images.shape == images.shape and out.images.dtype == torch.uint8, name


@pytest.mark.parametrize("size", [8, 16, 20, 28])
def test_elastic_fits_its_sigma_to_small_images_and_says_so(size: int) -> None:
    pipe = Pipeline([OpConfig("elastic")], strength=1.0)
    ctx = Context(size, size, 1, 10)
    (resolved,) = pipe.resolve(context=ctx)
    built = _find(pipe.build(context=ctx), "ElasticTransform")
    assert [float(s) for s in built.sigma] == pytest.approx([resolved.values["sigma"]] * 2)  # shown = applied
    assert resolved.values["sigma"] == pytest.approx(min(5.0, (2 * size - 3) / 8), abs=1e-3)
    assert f"σ={resolved.values['sigma']:g}"[:6] in pipe.describe(context=ctx)
    assert "ElasticTransform" in pipe.to_python(context=ctx)
    exec(compile(pipe.to_python(context=ctx), "<export>", "exec"), {"__name__": "__main__"})  # runs at this size
