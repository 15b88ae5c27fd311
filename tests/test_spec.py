"""Spec strings: parsing, validation against the registry, canonical form."""

from __future__ import annotations

import pytest

from da_core.data import parse_spec, resolve, sources
from da_core.errors import SpecError


def test_parse_builtin_with_options() -> None:
    spec = parse_spec("builtin:printed-digits?n=2000&seed=0&size=28")
    assert (spec.scheme, spec.body) == ("builtin", "printed-digits")
    assert spec.options == {"n": "2000", "seed": "0", "size": "28"}


def test_parse_path_specs_keep_the_path() -> None:
    assert parse_spec("folder:/data/my set?size=64").body == "/data/my set"
    assert parse_spec("zip:rel/archive.zip").body == "rel/archive.zip"
    assert parse_spec("torchvision:MNIST?root=/tmp/x&split=test").options == {"root": "/tmp/x", "split": "test"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("printed-digits", "no scheme"),
        ("ftp:thing", "unknown dataset scheme 'ftp'"),
        ("builtin:", "missing the name"),
        ("folder:", "missing the path"),
        ("builtin:printed-digits?n", "malformed option 'n'"),
        ("builtin:printed-digits?n=1&n=2", "given twice"),
    ],
)
def test_malformed_specs_name_the_problem(text: str, fragment: str) -> None:
    with pytest.raises(SpecError, match=fragment):
        parse_spec(text)


def test_resolve_fills_defaults_and_types() -> None:
    source, spec = resolve("builtin:Printed-Digits?n=50")
    assert source.key == "builtin:printed-digits"
    assert spec.options == {"n": 50, "seed": 0, "size": 28}
    assert str(spec) == "builtin:printed-digits?n=50&seed=0&size=28"
    # the canonical string resolves to itself
    assert str(resolve(str(spec))[1]) == str(spec)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("builtin:nope", "unknown builtin dataset 'nope'; available: printed-digits"),
        ("builtin:printed-digits?colour=red", "unknown option 'colour'.*valid options: n, seed, size"),
        ("builtin:printed-digits?n=many", "option 'n' must be int"),
        ("builtin:printed-digits?size=4", "option 'size' must be >= 8"),
        ("builtin:corrupted-digits?kind=melt", "option 'kind' must be one of noise"),
        ("builtin:corrupted-digits?severity=6", "option 'severity' must be <= 5"),
        ("torchvision:IMAGENET?root=/x", "unknown torchvision dataset"),
    ],
)
def test_resolve_rejects_bad_names_and_options(text: str, fragment: str) -> None:
    with pytest.raises(SpecError, match=fragment):
        resolve(text)


def test_registry_declares_parameters_for_every_source() -> None:
    keys = {s.key for s in sources()}
    assert {"builtin:printed-digits", "builtin:handwritten-digits", "builtin:textured-digits",
            "builtin:corrupted-digits", "folder", "zip"} <= keys
    assert {f"torchvision:{n}" for n in ("MNIST", "FashionMNIST", "KMNIST", "USPS", "SVHN", "CIFAR10", "STL10")} <= keys
    for src in sources():
        assert src.summary
        names = [p.name for p in src.params]
        assert len(names) == len(set(names)), src.key
        for p in src.params:
            assert p.help, (src.key, p.name)
