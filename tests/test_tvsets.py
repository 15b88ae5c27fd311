"""torchvision sources read from tiny files written in torchvision's on-disk layouts (no network)."""

from __future__ import annotations

import bz2
import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from da_core.data import load_dataset
from da_core.data.tvsets import CIFAR10_CLASSES, FASHION_CLASSES, STL10_CLASSES
from da_core.errors import DatasetError, SpecError

N = 20


def _labels(n: int = N, k: int = 5) -> np.ndarray:
    return (np.arange(n) % k).astype(np.uint8)


def _check_against_source(ds, expected: np.ndarray) -> None:
    """Every loaded image equals the sample its meta row points at (expected: N x C x H x W)."""
    assert list(ds.meta.columns) == ["source_file", "index", "uid"]
    for k, i in enumerate(ds.meta["index"]):
        np.testing.assert_array_equal(ds.images[k].numpy(), expected[i])


# ------------------------------------------------------------------------------------------------ MNIST


def write_idx(path: Path, arr: np.ndarray) -> None:
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    data = header + np.ascontiguousarray(arr, dtype=np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)


def make_mnist(root: Path, name: str = "MNIST", prefix: str = "train", gz: bool = False,
               n: int = N) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[:, 3, 5] = 200  # a known pixel
    labels = _labels(n)
    ext = ".gz" if gz else ""
    write_idx(root / name / "raw" / f"{prefix}-images-idx3-ubyte{ext}", images)
    write_idx(root / name / "raw" / f"{prefix}-labels-idx1-ubyte{ext}", labels)
    return images, labels


def test_mnist_raw(tmp_path: Path) -> None:
    images, labels = make_mnist(tmp_path)
    calls: list[tuple[float, str]] = []
    ds = load_dataset(f"torchvision:MNIST?root={tmp_path}&split=train", lambda f, m: calls.append((f, m)))
    assert ds.images.shape == (N, 1, 28, 28)
    assert str(ds.images.dtype) == "torch.uint8"
    assert ds.classes == [str(i) for i in range(10)]
    np.testing.assert_array_equal(ds.labels.numpy(), labels)
    np.testing.assert_array_equal(ds.images[:, 0].numpy(), images)
    assert (ds.images[:, 0, 3, 5] == 200).all()
    assert ds.meta["index"].tolist() == list(range(N))
    assert ds.meta["source_file"].iloc[0].endswith("train-images-idx3-ubyte")
    assert ds.domain.startswith("torchvision:MNIST?")
    assert len(calls) >= 2 and all(0 <= f <= 1 for f, _ in calls)


def test_mnist_case_insensitive_name_and_default_split(tmp_path: Path) -> None:
    make_mnist(tmp_path)
    ds = load_dataset(f"torchvision:mnist?root={tmp_path}")
    assert len(ds) == N and "split=train" in ds.domain


def test_fashion_mnist_gz_test_split(tmp_path: Path) -> None:
    images, labels = make_mnist(tmp_path, "FashionMNIST", "t10k", gz=True)
    ds = load_dataset(f"torchvision:FashionMNIST?root={tmp_path}&split=test")
    assert ds.classes == FASHION_CLASSES
    np.testing.assert_array_equal(ds.labels.numpy(), labels)
    _check_against_source(ds, images[:, None])
    assert ds.meta["source_file"].iloc[0].endswith("t10k-images-idx3-ubyte.gz")


def test_kmnist_classes(tmp_path: Path) -> None:
    make_mnist(tmp_path, "KMNIST")
    ds = load_dataset(f"torchvision:KMNIST?root={tmp_path}")
    assert ds.classes[:3] == ["o", "ki", "su"]


def test_mnist_subset_and_resize(tmp_path: Path) -> None:
    images, labels = make_mnist(tmp_path)
    ds = load_dataset(f"torchvision:MNIST?root={tmp_path}&n=10&seed=3&size=14")
    assert ds.images.shape == (10, 1, 14, 14)
    assert sorted(ds.counts.values(), reverse=True)[:5] == [2, 2, 2, 2, 2]
    np.testing.assert_array_equal(ds.labels.numpy(), labels[ds.meta["index"].to_numpy()])
    again = load_dataset(f"torchvision:MNIST?root={tmp_path}&n=10&seed=3&size=14")
    assert again.fingerprint == ds.fingerprint


def test_mnist_missing_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as err:
        load_dataset(f"torchvision:MNIST?root={tmp_path}&split=test")
    msg = str(err.value)
    assert str(tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte") in msg
    assert str(tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte") in msg
    assert "download=1" in msg


def test_only_missing_file_named(tmp_path: Path) -> None:
    make_mnist(tmp_path)
    (tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetError) as err:
        load_dataset(f"torchvision:MNIST?root={tmp_path}")
    assert "train-labels-idx1-ubyte" in str(err.value)
    assert "train-images-idx3-ubyte " not in str(err.value)


def test_missing_root_option() -> None:
    with pytest.raises(SpecError, match="needs root=PATH"):
        load_dataset("torchvision:MNIST?split=test")


def test_unknown_name_and_bad_split(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="unknown torchvision dataset"):
        load_dataset(f"torchvision:ImageNet?root={tmp_path}")
    with pytest.raises(SpecError, match="split"):
        load_dataset(f"torchvision:MNIST?root={tmp_path}&split=extra")


def test_truncated_idx(tmp_path: Path) -> None:
    make_mnist(tmp_path)
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DatasetError, match="truncated") as err:
        load_dataset(f"torchvision:MNIST?root={tmp_path}")
    assert str(path) in str(err.value)


def test_bad_idx_magic_and_bad_gzip(tmp_path: Path) -> None:
    make_mnist(tmp_path)
    path = tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03" + path.read_bytes()[4:])
    with pytest.raises(DatasetError, match="magic"):
        load_dataset(f"torchvision:MNIST?root={tmp_path}")
    make_mnist(tmp_path / "gz", gz=True)
    gz = tmp_path / "gz" / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:50])
    with pytest.raises(DatasetError, match="cannot read"):
        load_dataset(f"torchvision:MNIST?root={tmp_path / 'gz'}")


def test_image_label_count_mismatch(tmp_path: Path) -> None:
    make_mnist(tmp_path)
    write_idx(tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte", _labels(N - 2))
    with pytest.raises(DatasetError, match="labels"):
        load_dataset(f"torchvision:MNIST?root={tmp_path}")


def test_download_uses_torchvision_class(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets

    seen: dict = {}

    class FakeMNIST:
        def __init__(self, root: str, train: bool = True, download: bool = False) -> None:
            seen.update(root=root, train=train, download=download)
            make_mnist(Path(root), prefix="train" if train else "t10k")

    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeMNIST)
    ds = load_dataset(f"torchvision:MNIST?root={tmp_path}&split=test&download=1")
    assert len(ds) == N
    assert seen == {"root": str(tmp_path), "train": False, "download": True}


def test_download_failure_is_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.error

    import torchvision.datasets

    class Offline:
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(torchvision.datasets, "USPS", Offline)
    with pytest.raises(DatasetError, match="could not download") as err:
        load_dataset(f"torchvision:USPS?root={tmp_path}&download=1")
    assert str(tmp_path / "usps.bz2") in str(err.value)


# ------------------------------------------------------------------------------------------------- USPS


def make_usps(root: Path, name: str = "usps.bz2") -> np.ndarray:
    rng = np.random.default_rng(1)
    values = rng.uniform(-1, 1, size=(N, 256))
    values[:, 0] = -1.0
    values[:, 1] = 1.0
    labels = np.arange(N) % 10 + 1  # 1..10 in the file
    lines = []
    for lab, row in zip(labels, values):
        lines.append(f"{lab} " + " ".join(f"{j + 1}:{v:.6f}" for j, v in enumerate(row)))
    root.mkdir(parents=True, exist_ok=True)
    (root / name).write_bytes(bz2.compress(("\n".join(lines) + "\n").encode()))
    return values


def test_usps(tmp_path: Path) -> None:
    values = make_usps(tmp_path, "usps.t.bz2")
    ds = load_dataset(f"torchvision:USPS?root={tmp_path}&split=test")
    assert ds.images.shape == (N, 1, 16, 16)
    assert ds.classes == [str(i) for i in range(10)]
    np.testing.assert_array_equal(ds.labels.numpy(), np.arange(N) % 10)
    assert (ds.images[:, 0, 0, 0] == 0).all() and (ds.images[:, 0, 0, 1] == 255).all()
    expected = ((values.astype(np.float32) + 1) / 2 * 255).astype(np.uint8).reshape(N, 1, 16, 16)
    np.testing.assert_allclose(ds.images.numpy().astype(int), expected.astype(int), atol=1)


def test_usps_bad_line(tmp_path: Path) -> None:
    (tmp_path / "usps.bz2").write_bytes(bz2.compress(b"1 1:0.5 2:0.1\n3 1:zz\n"))
    with pytest.raises(DatasetError, match="line 2"):
        load_dataset(f"torchvision:USPS?root={tmp_path}")
    (tmp_path / "usps.bz2").write_bytes(b"not bz2 at all")
    with pytest.raises(DatasetError, match="usps.bz2"):
        load_dataset(f"torchvision:USPS?root={tmp_path}")


# ------------------------------------------------------------------------------------------------- SVHN


def make_svhn(root: Path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    import scipy.io

    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, size=(32, 32, 3, N), dtype=np.uint8)
    x[0, 1, 2, :] = 77  # row 0, column 1, blue channel
    y = (np.arange(N) % 5 + 6).reshape(N, 1)  # 6..10, 10 meaning digit 0
    root.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(str(root / f"{split}_32x32.mat"), {"X": x, "y": y})
    return x, y


def test_svhn(tmp_path: Path) -> None:
    x, y = make_svhn(tmp_path, "extra")
    ds = load_dataset(f"torchvision:SVHN?root={tmp_path}&split=extra")
    assert ds.images.shape == (N, 3, 32, 32)
    assert ds.classes == [str(i) for i in range(10)]
    expected_labels = y.ravel() % 10
    np.testing.assert_array_equal(ds.labels.numpy(), expected_labels)
    assert 0 in ds.labels.tolist() and 10 not in ds.labels.tolist()
    assert (ds.images[:, 2, 0, 1] == 77).all()
    _check_against_source(ds, np.transpose(x, (3, 2, 0, 1)))


def test_svhn_subset(tmp_path: Path) -> None:
    x, _ = make_svhn(tmp_path)
    ds = load_dataset(f"torchvision:SVHN?root={tmp_path}&n=5&size=16")
    assert ds.images.shape == (5, 3, 16, 16)
    assert len(set(ds.labels.tolist())) == 5


def test_svhn_mat_without_x(tmp_path: Path) -> None:
    import scipy.io

    scipy.io.savemat(str(tmp_path / "train_32x32.mat"), {"y": np.ones((3, 1))})
    with pytest.raises(DatasetError, match="no variable X"):
        load_dataset(f"torchvision:SVHN?root={tmp_path}")
    (tmp_path / "train_32x32.mat").write_bytes(b"garbage" * 10)
    with pytest.raises(DatasetError, match="train_32x32.mat"):
        load_dataset(f"torchvision:SVHN?root={tmp_path}")


def test_svhn_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as err:
        load_dataset(f"torchvision:SVHN?root={tmp_path}&split=test")
    assert str(tmp_path / "test_32x32.mat") in str(err.value)


# ---------------------------------------------------------------------------------------------- CIFAR10


def make_cifar(root: Path) -> tuple[np.ndarray, np.ndarray]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    data = rng.integers(0, 256, size=(N, 3072), dtype=np.uint8)
    data[:, 0] = 11  # red channel, top-left pixel
    labels = (np.arange(N) % 4).tolist()
    for b in range(5):
        part = slice(4 * b, 4 * b + 4)
        if b == 0:  # like the real (Python 2) files: bytes keys
            batch = {b"data": data[part], b"labels": labels[part], b"batch_label": b"training batch 1 of 5"}
            blob = pickle.dumps(batch, protocol=2)
        else:
            blob = pickle.dumps({"data": data[part], "labels": labels[part]})
        (folder / f"data_batch_{b + 1}").write_bytes(blob)
    (folder / "test_batch").write_bytes(pickle.dumps({"data": data[:8], "labels": labels[:8]}, protocol=2))
    names = [n.encode() for n in CIFAR10_CLASSES]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names, b"num_vis": 3072}, protocol=2))
    return data.reshape(N, 3, 32, 32), np.array(labels)


def test_cifar10(tmp_path: Path) -> None:
    data, labels = make_cifar(tmp_path)
    ds = load_dataset(f"torchvision:CIFAR10?root={tmp_path}")
    assert ds.images.shape == (N, 3, 32, 32)
    assert ds.classes == CIFAR10_CLASSES
    np.testing.assert_array_equal(ds.labels.numpy(), labels)
    assert (ds.images[:, 0, 0, 0] == 11).all()
    np.testing.assert_array_equal(ds.images.numpy(), data)
    assert ds.meta["index"].tolist() == [i % 4 for i in range(N)]
    assert ds.meta["source_file"].iloc[5].endswith("data_batch_2")
    test = load_dataset(f"torchvision:CIFAR10?root={tmp_path}&split=test&size=8")
    assert test.images.shape == (8, 3, 8, 8)


def test_cifar10_meta_names_preferred(tmp_path: Path) -> None:
    make_cifar(tmp_path)
    names = [f"c{i}".encode() for i in range(10)]
    (tmp_path / "cifar-10-batches-py" / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}))
    ds = load_dataset(f"torchvision:CIFAR10?root={tmp_path}")
    assert ds.classes[:2] == ["c0", "c1"]


def test_cifar10_numpy_scalar_labels(tmp_path: Path) -> None:
    data, labels = make_cifar(tmp_path)
    batch = tmp_path / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(pickle.dumps({"data": data[:8].reshape(8, -1), "labels": list(np.arange(8) % 4)}))
    ds = load_dataset(f"torchvision:CIFAR10?root={tmp_path}&split=test")
    assert ds.labels.tolist() == [i % 4 for i in range(8)]


def test_cifar10_missing_batch(tmp_path: Path) -> None:
    make_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DatasetError) as err:
        load_dataset(f"torchvision:CIFAR10?root={tmp_path}")
    assert str(tmp_path / "cifar-10-batches-py" / "data_batch_3") in str(err.value)
    assert "data_batch_2" not in str(err.value)


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {_Evil.marker}",))


class _Custom:
    pass


def test_cifar10_forbidden_globals(tmp_path: Path) -> None:
    data, _ = make_cifar(tmp_path)
    marker = tmp_path / "pwned"
    _Evil.marker = marker
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    batch.write_bytes(pickle.dumps({"data": data[:4].reshape(4, -1), "labels": [0, 1, 2, 3], "x": _Evil()}))
    with pytest.raises(DatasetError, match="not allowed") as err:
        load_dataset(f"torchvision:CIFAR10?root={tmp_path}")
    assert "data_batch_1" in str(err.value)
    assert not marker.exists()
    batch.write_bytes(pickle.dumps({"data": data[:4].reshape(4, -1), "labels": [0, 1, 2, 3], "x": _Custom()}))
    with pytest.raises(DatasetError, match="not allowed"):
        load_dataset(f"torchvision:CIFAR10?root={tmp_path}")


def test_cifar10_damaged_pickles(tmp_path: Path) -> None:
    make_cifar(tmp_path)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_4"
    batch.write_bytes(batch.read_bytes()[:100])
    with pytest.raises(DatasetError, match="data_batch_4"):
        load_dataset(f"torchvision:CIFAR10?root={tmp_path}")
    batch.write_bytes(pickle.dumps({"data": np.zeros((4, 10), np.uint8), "labels": [0, 1, 2, 3]}))
    with pytest.raises(DatasetError, match="3072"):
        load_dataset(f"torchvision:CIFAR10?root={tmp_path}")
    batch.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(DatasetError, match="dict"):
        load_dataset(f"torchvision:CIFAR10?root={tmp_path}")


# ------------------------------------------------------------------------------------------------ STL10


def make_stl(root: Path, split: str = "train", n: int = N, class_names: bool = True) -> np.ndarray:
    folder = root / "stl10_binary"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(4)
    images = rng.integers(0, 200, size=(n, 3, 96, 96), dtype=np.uint8)
    images[:, :, 0, :] = 255  # the top row is white: asymmetric, so a missing transpose shows
    images[:, :, 1:, 0] = 0
    # STL-10 stores each channel column-major: write the transpose of what we want to read back.
    (folder / f"{split}_X.bin").write_bytes(np.ascontiguousarray(images.transpose(0, 1, 3, 2)).tobytes())
    (folder / f"{split}_y.bin").write_bytes((np.arange(n) % 10 + 1).astype(np.uint8).tobytes())
    if class_names:
        (folder / "class_names.txt").write_text("\n".join(f"name{i}" for i in range(10)) + "\n")
    return images


def test_stl10(tmp_path: Path) -> None:
    images = make_stl(tmp_path, "test")
    ds = load_dataset(f"torchvision:STL10?root={tmp_path}&split=test")
    assert ds.images.shape == (N, 3, 96, 96)
    assert ds.classes == [f"name{i}" for i in range(10)]
    np.testing.assert_array_equal(ds.labels.numpy(), np.arange(N) % 10)
    assert (ds.images[:, :, 0, :] == 255).all()
    assert (ds.images[:, :, 1:, 0] == 0).all()
    np.testing.assert_array_equal(ds.images.numpy(), images)


def test_stl10_default_names_subset_resize(tmp_path: Path) -> None:
    images = make_stl(tmp_path, class_names=False)
    ds = load_dataset(f"torchvision:STL10?root={tmp_path}&n=10&size=32&seed=1")
    assert ds.classes == STL10_CLASSES
    assert ds.images.shape == (10, 3, 32, 32)
    assert sorted(ds.labels.tolist()) == list(range(10))
    top, bottom = ds.images[:, :, 0, 1:].float().mean(), ds.images[:, :, -1, 1:].float().mean()
    assert top > bottom + 20  # the white top row still shows at the top after resizing
    full = load_dataset(f"torchvision:STL10?root={tmp_path}&n=10&seed=1")
    _check_against_source(full, images)


def test_stl10_truncated(tmp_path: Path) -> None:
    make_stl(tmp_path)
    path = tmp_path / "stl10_binary" / "train_X.bin"
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(DatasetError, match="truncated") as err:
        load_dataset(f"torchvision:STL10?root={tmp_path}")
    assert str(path) in str(err.value)


def test_stl10_count_mismatch(tmp_path: Path) -> None:
    make_stl(tmp_path)
    (tmp_path / "stl10_binary" / "train_y.bin").write_bytes(bytes([1, 2, 3]))
    with pytest.raises(DatasetError, match="3 labels"):
        load_dataset(f"torchvision:STL10?root={tmp_path}")


def test_one_class_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "stl10_binary"
    make_stl(tmp_path, n=3)
    (folder / "train_y.bin").write_bytes(bytes([2, 2, 2]))
    with pytest.raises(DatasetError, match="single class"):
        load_dataset(f"torchvision:STL10?root={tmp_path}")


def test_root_outside_data_root_is_refused(tmp_path: Path, data_root: Path) -> None:
    from da_core.errors import SecurityError

    with pytest.raises(SecurityError, match="outside DA_DATA_ROOT"):
        load_dataset(f"torchvision:MNIST?root={tmp_path / 'elsewhere'}")
