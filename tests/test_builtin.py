"""Built-in domains: deterministic, offline, sensible, and a real gap between printed and handwritten."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

from da_core import config
from da_core.data import Dataset, load_dataset
from da_core.data import builtin as B


def _x(ds: Dataset) -> np.ndarray:
    return ds.images.numpy().reshape(len(ds), -1).astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def printed() -> Dataset:
    return load_dataset("builtin:printed-digits")


@pytest.fixture(scope="module")
def handwritten() -> Dataset:
    return load_dataset("builtin:handwritten-digits")


def test_font_check_keeps_real_digit_fonts_and_rejects_the_rest() -> None:
    kept, rejected = B.font_check()
    reasons = dict(rejected)
    assert "DejaVuSans.ttf" in kept and "cmr10.ttf" in kept and "STIXGeneral.ttf" in kept
    for bad in ("cmex10.ttf", "cmsy10.ttf", "LastResortHE-Regular.ttf", "DejaVuSansDisplay.ttf",
                "STIXSizOneSymReg.ttf", "STIXNonUni.ttf"):
        assert bad in reasons, bad
        assert bad not in kept
    assert 18 <= len(kept) <= 26
    # every kept font renders ten non-empty, pairwise different glyphs
    for font in kept:
        glyphs = [B._thumb(B._glyph(str(B._font_dir() / font), d, 40)) for d in B.DIGITS]
        assert all(g.sum() > 1 for g in glyphs), font
        assert len({g.round(2).tobytes() for g in glyphs}) == 10, font


def test_printed_digits_shape_balance_and_metadata(printed: Dataset) -> None:
    assert len(printed) == 3000 and printed.shape == (1, 28, 28)
    assert printed.images.dtype == torch.uint8
    assert set(printed.counts.values()) == {300}
    kept, _ = B.font_check()
    assert set(printed.meta["font"]) <= set(kept)
    assert printed.meta["font"].nunique() >= len(kept) - 1
    # MNIST-style: dark background, ink centred
    x = printed.images.float()
    assert x[:, :, :2, :].mean() < 5 and x[:, :, 10:18, 10:18].mean() > 60


def test_builtins_are_deterministic_per_seed() -> None:
    a = B.printed_digits(60, seed=5)
    b = B.printed_digits(60, seed=5)
    c = B.printed_digits(60, seed=6)
    assert torch.equal(a.images, b.images) and a.fingerprint == b.fingerprint
    assert not torch.equal(a.images, c.images)
    t1, t2 = B.textured_digits(30, seed=1), B.textured_digits(30, seed=1)
    assert torch.equal(t1.images, t2.images)


def test_disk_cache_returns_identical_data(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = "builtin:printed-digits?n=40&seed=11"
    first = load_dataset(spec)
    files = list((config.cache_dir() / "datasets").glob("printed-digits-*.npz"))
    assert files

    def no_generation(*_a: object, **_k: object) -> None:
        raise AssertionError("the cached dataset was generated again")

    monkeypatch.setattr(B, "printed_digits", no_generation)
    second = load_dataset(spec)
    assert first.fingerprint == second.fingerprint
    assert list(first.meta["font"]) == list(second.meta["font"])
    assert np.allclose(first.meta["angle"], second.meta["angle"])


def test_damaged_cache_file_is_rebuilt() -> None:
    spec = "builtin:handwritten-digits?n=30&seed=4"
    first = load_dataset(spec)
    for f in (config.cache_dir() / "datasets").glob("handwritten-digits-*.npz"):
        f.write_bytes(b"not an npz")
    assert load_dataset(spec).fingerprint == first.fingerprint


def test_printed_digits_are_learnable(printed: Dataset) -> None:
    """A classifier trained on printed digits scores >= 0.97 on held-out printed digits."""
    train, test = printed.split(0.25, seed=0)
    model = SVC(C=5, gamma="scale").fit(_x(train), train.labels.numpy())
    assert model.score(_x(test), test.labels.numpy()) >= 0.97


def test_default_pair_has_a_real_gap(printed: Dataset, handwritten: Dataset) -> None:
    """Logistic regression on pixels loses >= 10 points across domains, in both directions."""
    for a, b in ((printed, handwritten), (handwritten, printed)):
        train, held = a.split(0.25, seed=0)
        model = LogisticRegression(max_iter=1000, C=0.1).fit(_x(train), train.labels.numpy())
        in_domain = model.score(_x(held), held.labels.numpy())
        cross = model.score(_x(b), b.labels.numpy())
        assert in_domain - cross >= 0.10, (a.domain, in_domain, cross)


def test_handwritten_digits_are_the_real_uci_set(handwritten: Dataset) -> None:
    from sklearn.datasets import load_digits

    assert len(handwritten) == 1797 and handwritten.shape == (1, 28, 28)
    assert handwritten.counts == {str(k): int(v) for k, v in enumerate(np.bincount(load_digits().target))}
    sub = load_dataset("builtin:handwritten-digits?n=500&seed=2")
    assert len(sub) == 500 and min(sub.counts.values()) >= 45
    big = load_dataset("builtin:handwritten-digits?n=5000")
    assert len(big) == 1797 and any("only 1797" in note for note in big.report.notes)


def test_textured_digits_are_colour_and_keep_labels() -> None:
    ds = load_dataset("builtin:textured-digits?n=200&seed=3")
    assert ds.shape == (3, 28, 28) and len(ds) == 200
    assert set(ds.meta["photo"]) <= set(B.PHOTOS) and ds.meta["photo"].nunique() >= 5
    # colour: channels differ on average
    x = ds.images.float()
    assert (x[:, 0] - x[:, 1]).abs().mean() > 5
    hand = load_dataset("builtin:textured-digits?n=100&base=handwritten&size=32")
    assert hand.shape == (3, 32, 32)


@pytest.mark.parametrize("kind", B.CORRUPTIONS)
def test_corruptions_grow_with_severity(kind: str) -> None:
    clean = B.handwritten_digits(100).images.float()
    dist = []
    for severity in (1, 3, 5):
        ds = B.corrupted_digits(100, kind=kind, severity=severity)
        assert ds.shape == (1, 28, 28) and torch.equal(ds.labels, B.handwritten_digits(100).labels)
        dist.append(float((ds.images.float() - clean).abs().mean()))
    assert dist[0] > 0.5, (kind, dist)
    assert dist[0] < dist[1] < dist[2], (kind, dist)


def test_sizes_other_than_28() -> None:
    for name in ("printed-digits?n=20", "handwritten-digits?n=20", "corrupted-digits?n=20&kind=blur"):
        ds = load_dataset(f"builtin:{name}&size=48")
        assert ds.shape[1:] == (48, 48)


def test_handwritten_parts_are_disjoint_and_mixed_digits_say_what_each_sample_is() -> None:
    from da_core.data import load_dataset

    a = load_dataset("builtin:handwritten-digits?part=a")
    b = load_dataset("builtin:handwritten-digits?part=b")
    assert len(a) + len(b) == 1797 and not set(a.uids) & set(b.uids)
    assert all(int(u.split(":")[1]) % 2 == 0 for u in a.uids)
    mixed = load_dataset("builtin:mixed-digits?printed=200&handwritten=50")
    assert len(mixed) == 250 and mixed.meta["kind"].value_counts().to_dict() == {"printed": 200, "handwritten": 50}
    assert len(set(mixed.uids)) == 250 and set(mixed.uids) >= {u for u in mixed.uids if u.startswith("uci:")}
    handwritten = set(mixed.meta.loc[mixed.meta["kind"] == "handwritten", "uid"])
    assert handwritten <= set(a.uids) and not handwritten & set(b.uids)  # the source half never the target's
    assert (mixed.meta.loc[mixed.meta["kind"] == "handwritten", "font"] == "handwritten").all()
    assert load_dataset("builtin:mixed-digits?printed=200&handwritten=50").fingerprint == mixed.fingerprint
