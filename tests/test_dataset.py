"""The Dataset type: validation, fingerprint, subsets, splits, class alignment, usability checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from da_core.data import Dataset, align_classes, check_usable
from da_core.data.dataset import stratified_subset
from da_core.data.images import make_dataset, resize_batch
from da_core.errors import DatasetError


def _toy(labels: list[int], classes: list[str], channels: int = 1, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (len(labels), channels, 8, 8), dtype=np.uint8)
    return make_dataset(images, labels, classes, "toy", pd.DataFrame({"i": range(len(labels))}))


def test_rejects_wrong_dtype_or_shape() -> None:
    with pytest.raises(ValueError, match="uint8"):
        Dataset(torch.zeros(2, 1, 4, 4), torch.zeros(2), ["a"], pd.DataFrame(index=range(2)), "x")
    with pytest.raises(ValueError, match="C in"):
        Dataset(torch.zeros(2, 2, 4, 4, dtype=torch.uint8), torch.zeros(2), ["a"], pd.DataFrame(index=range(2)), "x")
    with pytest.raises(ValueError, match="one label per image"):
        Dataset(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(3), ["a"], pd.DataFrame(index=range(2)), "x")


def test_fingerprint_follows_content() -> None:
    a = _toy([0, 1, 0, 1], ["a", "b"])
    b = _toy([0, 1, 0, 1], ["a", "b"])
    assert a.fingerprint == b.fingerprint
    assert _toy([0, 1, 1, 1], ["a", "b"]).fingerprint != a.fingerprint
    assert _toy([0, 1, 0, 1], ["a", "b"], seed=1).fingerprint != a.fingerprint
    assert _toy([0, 1, 0, 1], ["x", "b"]).fingerprint != a.fingerprint


def test_subset_split_and_counts() -> None:
    ds = _toy([0] * 10 + [1] * 30, ["a", "b"])
    assert ds.counts == {"a": 10, "b": 30}
    rest, held = ds.split(0.2, seed=3)
    assert held.counts == {"a": 2, "b": 6} and len(rest) == 32
    assert set(rest.meta["i"]).isdisjoint(held.meta["i"])
    again = ds.split(0.2, seed=3)[1]
    assert list(again.meta["i"]) == list(held.meta["i"])


def test_stratified_subset_is_exact_seeded_and_proportional() -> None:
    labels = np.array([0] * 100 + [1] * 300)
    idx = stratified_subset(labels, 40, seed=1)
    assert len(idx) == 40 and len(set(idx)) == 40
    assert np.bincount(labels[idx]).tolist() == [10, 30]
    assert list(stratified_subset(labels, 40, seed=1)) == list(idx)
    assert list(stratified_subset(labels, 40, seed=2)) != list(idx)
    assert len(stratified_subset(labels, None, 0)) == 400


def test_align_classes_keeps_shared_and_remaps() -> None:
    src = _toy([0, 1, 2, 2], ["cat", "dog", "fox"])
    tgt = _toy([0, 1, 1, 0], ["dog", "cat"])
    s, t, al = align_classes(src, tgt)
    assert al.shared == ["cat", "dog"] and al.only_source == ["fox"] and al.only_target == []
    assert s.classes == t.classes == ["cat", "dog"]
    assert s.labels.tolist() == [0, 1]
    assert t.labels.tolist() == [1, 0, 0, 1]  # target "dog"(0) -> 1, "cat"(1) -> 0
    with pytest.raises(DatasetError, match="share no class"):
        align_classes(src, _toy([0, 1], ["x", "y"]))


def test_check_usable_rejects_empty_and_single_class() -> None:
    with pytest.raises(DatasetError, match="empty"):
        check_usable(_toy([], ["a", "b"]))
    with pytest.raises(DatasetError, match="single class"):
        check_usable(_toy([1, 1, 1], ["a", "b"]))
    assert check_usable(_toy([0, 1], ["a", "b"]))


def test_channels_and_resize() -> None:
    grey = _toy([0, 1], ["a", "b"])
    rgb = grey.with_channels(3)
    assert rgb.shape == (3, 8, 8) and torch.equal(rgb.images[:, 0], rgb.images[:, 2])
    assert torch.equal(rgb.with_channels(1).images, grey.images)
    big = resize_batch(grey.images, 16)
    assert big.shape == (2, 1, 16, 16) and big.dtype == torch.uint8
    assert resize_batch(grey.images, 8) is grey.images


def test_summary_has_the_describe_fields() -> None:
    info = _toy([0, 1, 1], ["a", "b"], channels=3).summary()
    for key in ("name", "n", "classes", "counts", "shape", "skipped", "fingerprint"):
        assert key in info
    assert info["shape"] == [3, 8, 8] and info["counts"] == {"a": 1, "b": 2}
