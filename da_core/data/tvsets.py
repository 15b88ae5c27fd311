"""torchvision datasets read from a local root: ``torchvision:MNIST?root=PATH&split=test``.

Sources: MNIST, FashionMNIST, KMNIST, USPS, SVHN, CIFAR10, STL10.  Files are read by our own readers from
torchvision's on-disk layout (the torchvision classes are not used for reading: some check md5 sums of
whole files, and we want clear messages for missing or damaged files).  Nothing is downloaded unless the
spec says ``download=1``; then the torchvision class fetches the files into ``root`` and we read them.

Layouts under ``root``:

- MNIST / FashionMNIST / KMNIST: ``<Name>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (or ``.gz``)
- USPS: ``usps.bz2`` (train), ``usps.t.bz2`` (test): bz2 libsvm lines ``label idx:value ...``
- SVHN: ``{train,test,extra}_32x32.mat`` (MATLAB v5 with ``X`` H x W x 3 x N and ``y`` N x 1, 10 meaning 0)
- CIFAR10: ``cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}`` (pickles, read with a
  restricted unpickler that only rebuilds numpy arrays)
- STL10: ``stl10_binary/{train,test}_{X,y}.bin`` and ``class_names.txt``

Images come out as uint8 N x C x H x W at native size unless ``size`` is set; ``n``/``seed`` take a
class-stratified subset before resizing.  Each sample's meta row names its ``source_file`` and its
``index`` in that file.
"""

from __future__ import annotations

import bz2
import gzip
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from da_core.data.dataset import Dataset, LoadReport, within_memory
from da_core.data.images import make_dataset, resize_batch
from da_core.data.registry import N_PARAM, SEED_PARAM, Progress, register
from da_core.data.spec import DatasetSpec, Param
from da_core.errors import DatasetError, SpecError

if TYPE_CHECKING:  # pragma: no cover
    import torch

DIGITS = [str(i) for i in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
KMNIST_CLASSES = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
STL10_CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]

ROOT_PARAM = Param("root", str, None, "folder holding the files in torchvision's layout (required)")
DOWNLOAD_PARAM = Param("download", bool, False,
                       "let torchvision download missing files into root (needs network)")
NATIVE_SIZE_PARAM = Param("size", int, None, "resize to size x size pixels (native size when unset)",
                          min=8, max=512)


def _split_param(choices: tuple[str, ...]) -> Param:
    return Param("split", str, "train", "which part of the dataset to read", choices=choices)


def _params(splits: tuple[str, ...] = ("train", "test")) -> tuple[Param, ...]:
    return (ROOT_PARAM, _split_param(splits), DOWNLOAD_PARAM, N_PARAM, SEED_PARAM, NATIVE_SIZE_PARAM)


@dataclass
class _Raw:
    """What a reader returns: images (N x C x H x W uint8, or lazily indexable), labels and provenance."""

    images: Any
    labels: np.ndarray
    files: list[str]  # source file of each block, in order
    counts: list[int]  # samples per block
    classes: list[str]


# ------------------------------------------------------------------------------------------ common steps


def _root(spec: DatasetSpec) -> Path:
    root = spec.options.get("root")
    if not root or not str(root).strip():
        raise SpecError(
            f"torchvision:{spec.body} needs root=PATH, the folder holding (or to receive) its files, "
            f"e.g. torchvision:{spec.body}?root=~/data&split=test"
        )
    from da_core.data.files import checked_path

    return checked_path(str(root), f"torchvision:{spec.body} root", allow_uploads=False)


def _missing(paths: list[Path | tuple[Path, ...]]) -> list[str]:
    """Expected files that are absent (a tuple means any of the alternatives will do; the first is named)."""
    missing = []
    for entry in paths:
        options = entry if isinstance(entry, tuple) else (entry,)
        if not any(p.is_file() for p in options):
            names = " (or " + ", ".join(str(p) for p in options[1:]) + ")" if len(options) > 1 else ""
            missing.append(f"{options[0]}{names}")
    return missing


def _ensure_files(spec: DatasetSpec, root: Path, required: list[Path | tuple[Path, ...]],
                  download: Callable[[], Any], progress: Progress) -> None:
    """Raise a DatasetError naming every missing file, or let torchvision download them when asked."""
    missing = _missing(required)
    if not missing:
        return
    name = f"torchvision:{spec.body}"
    split = spec.options.get("split", "train")
    if spec.options.get("download"):
        progress(0.05, f"downloading {spec.body} into {root}")
        try:
            root.mkdir(parents=True, exist_ok=True)
            download()
        except Exception as err:  # network errors come in many types (URLError, OSError, RuntimeError...)
            raise DatasetError(
                f"{name}: could not download the {split} files into {root}: {type(err).__name__}: {err}. "
                "Check the network connection, or put the files there yourself: "
                + "; ".join(missing)
            ) from None
        missing = _missing(required)
        if not missing:
            return
        raise DatasetError(f"{name}: after downloading, these files are still missing: {'; '.join(missing)}")
    where = "" if root.is_dir() else f" (the folder {root} does not exist)"
    raise DatasetError(
        f"{name} (split={split}): missing {'file' if len(missing) == 1 else 'files'} "
        f"{'; '.join(missing)}{where}. Put torchvision's {spec.body} files there (the layout "
        f"torchvision.datasets.{spec.body} uses), or add download=1 to the spec to let torchvision download "
        "them when the network allows."
    )


def _finish(spec: DatasetSpec, raw: _Raw, progress: Progress) -> Dataset:
    """Subset (class-stratified, before resizing), resize when asked, and build the Dataset."""
    import torch

    labels = np.asarray(raw.labels, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= len(raw.classes)):
        raise DatasetError(
            f"torchvision:{spec.body}: labels out of range in {', '.join(raw.files)} "
            f"(found {labels.min()}..{labels.max()}, expected 0..{len(raw.classes) - 1})"
        )
    size = spec.options.get("size")
    _, depth, height, width = np.shape(raw.images[:1]) if len(labels) else (0, 1, 1, 1)  # one sample's size
    # the chosen originals are copied before any resize: count the larger of the two sizes
    each = int(depth) * max(int(height) * int(width), int(size) ** 2 if size is not None else 0)
    report = LoadReport()
    idx = within_memory(labels, spec.options.get("n"), spec.options.get("seed", 0), each, report)
    progress(0.7, f"selected {len(idx)} of {len(labels)} samples")
    images = np.ascontiguousarray(raw.images[idx])
    file_of = np.repeat(np.arange(len(raw.files)), raw.counts)
    starts = np.concatenate([[0], np.cumsum(raw.counts)[:-1]]).astype(np.int64)
    blocks = file_of[idx]
    meta = pd.DataFrame({
        "source_file": np.asarray(raw.files, dtype=object)[blocks],
        "index": (idx - starts[blocks]).astype(np.int64),
        "uid": [f"{spec.options.get('split') or 'train'}:{i}" for i in idx.tolist()],  # split and position in it
    })
    tensor: torch.Tensor = torch.from_numpy(images)
    if size is not None:
        progress(0.85, f"resizing to {size}x{size}")
        tensor = resize_batch(tensor, int(size))
    return make_dataset(tensor, labels[idx], list(raw.classes), str(spec), meta, report)


def _fail(path: Path, what: str) -> DatasetError:
    return DatasetError(f"{path}: {what}")


# ------------------------------------------------------------------------------------------- IDX (MNIST)


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError, ValueError) as err:
        raise _fail(path, f"cannot read the file ({type(err).__name__}: {err})") from None


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an IDX file of unsigned bytes with ``ndim`` dimensions; DatasetError when malformed."""
    data = _read_bytes(path)
    header = 4 + 4 * ndim
    if len(data) < header or data[0] != 0 or data[1] != 0 or data[2] != 0x08 or data[3] != ndim:
        raise _fail(path, f"not an IDX file of unsigned bytes with {ndim} dimension(s) (bad magic number "
                          f"{data[:4].hex() or 'empty'})")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "longer than its header says"
        raise _fail(path, f"file is {state}: header says {'x'.join(map(str, dims))} "
                          f"({expected} bytes), file has {len(data)} bytes")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _idx_paths(spec: DatasetSpec, root: Path) -> tuple[tuple[Path, Path], tuple[Path, Path]]:
    prefix = "train" if spec.options.get("split", "train") == "train" else "t10k"
    raw = root / spec.body / "raw"
    images = raw / f"{prefix}-images-idx3-ubyte"
    labels = raw / f"{prefix}-labels-idx1-ubyte"
    return ((images, images.with_name(images.name + ".gz")), (labels, labels.with_name(labels.name + ".gz")))


def _pick(options: tuple[Path, ...]) -> Path:
    return next(p for p in options if p.is_file())


def _mnist_like(classes: list[str]) -> Callable[[DatasetSpec, Progress], Dataset]:
    def load(spec: DatasetSpec, progress: Progress) -> Dataset:
        root = _root(spec)
        images_opts, labels_opts = _idx_paths(spec, root)
        train = spec.options.get("split", "train") == "train"
        _ensure_files(spec, root, [images_opts, labels_opts],
                      lambda: _tv_class(spec.body)(str(root), train=train, download=True), progress)
        images_path, labels_path = _pick(images_opts), _pick(labels_opts)
        progress(0.1, f"reading {images_path.name}")
        labels = read_idx(labels_path, 1)
        images = read_idx(images_path, 3)
        if len(images) != len(labels):
            raise DatasetError(f"{images_path} holds {len(images)} images but {labels_path} holds "
                               f"{len(labels)} labels")
        raw = _Raw(images[:, None], labels, [str(images_path)], [len(labels)], classes)
        return _finish(spec, raw, progress)

    return load


def _tv_class(name: str) -> Any:
    """The torchvision dataset class (imported lazily: only downloads need it)."""
    try:
        import torchvision.datasets as tvd
    except ImportError as err:
        raise DatasetError(f"downloading torchvision:{name} needs torchvision, which is not installed "
                           f"({err})") from None
    return getattr(tvd, name)


# ------------------------------------------------------------------------------------------------- USPS


def read_usps(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a bz2 libsvm USPS file: images N x 16 x 16 uint8 (values -1..1 -> 0..255), labels 0..9."""
    try:
        with bz2.open(path, "rb") as fh:
            text = fh.read().decode("ascii")
    except (OSError, EOFError, ValueError) as err:  # UnicodeDecodeError is a ValueError
        raise _fail(path, f"cannot read the bz2 libsvm file ({type(err).__name__}: {err})") from None
    lines = [line for line in text.splitlines() if line.strip()]
    pixels = np.zeros((len(lines), 256), dtype=np.float32)
    labels = np.empty(len(lines), dtype=np.int64)
    for i, line in enumerate(lines):
        bad = _fail(path, f"line {i + 1} is not a libsvm line 'label idx:value ...' with 1 <= idx <= 256, "
                          f"labels 1..10 and values in [-1, 1]: {line[:60]!r}")
        tokens = line.replace(":", " ").split()
        if len(tokens) % 2 != 1 or line.count(":") != len(tokens) // 2:
            raise bad
        try:
            values = np.array(tokens, dtype=np.float64)
        except ValueError:
            raise bad from None
        label, index, vals = values[0], values[1::2], values[2::2]
        if (label != int(label) or not 1 <= label <= 10 or np.any(index != np.round(index))
                or np.any(index < 1) or np.any(index > 256) or np.any(np.abs(vals) > 1.0 + 1e-4)):
            raise bad
        labels[i] = int(label) - 1
        pixels[i, index.astype(np.int64) - 1] = vals
    pixels = np.clip(pixels, -1.0, 1.0)
    images = ((pixels + 1) / 2 * 255).astype(np.uint8)  # same mapping as torchvision.datasets.USPS
    return images.reshape(-1, 16, 16), labels


def load_usps(spec: DatasetSpec, progress: Progress) -> Dataset:
    """USPS handwritten digits, 16x16 grey."""
    root = _root(spec)
    train = spec.options.get("split", "train") == "train"
    path = root / ("usps.bz2" if train else "usps.t.bz2")
    _ensure_files(spec, root, [path], lambda: _tv_class("USPS")(str(root), train=train, download=True),
                  progress)
    progress(0.1, f"reading {path.name}")
    images, labels = read_usps(path)
    return _finish(spec, _Raw(images[:, None], labels, [str(path)], [len(labels)], DIGITS), progress)


# ------------------------------------------------------------------------------------------------- SVHN


def read_svhn(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an SVHN ``*_32x32.mat``: images N x 3 x H x W uint8 and labels 0..9 (10 means 0)."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path), variable_names=["X", "y"])
    except Exception as err:  # scipy raises ValueError, TypeError, NotImplementedError (v7.3), OSError...
        raise _fail(path, f"cannot read the MATLAB file ({type(err).__name__}: {err})") from None
    if "X" not in mat or "y" not in mat:
        absent = [k for k in ("X", "y") if k not in mat]
        raise _fail(path, f"MATLAB file has no variable {' or '.join(absent)} "
                          "(expected X: H x W x 3 x N, y: N x 1)")
    x, y = np.asarray(mat["X"]), np.asarray(mat["y"])
    if x.ndim != 4 or x.shape[2] != 3:
        raise _fail(path, f"X has shape {x.shape}; expected H x W x 3 x N")
    if y.size != x.shape[3]:
        raise _fail(path, f"X holds {x.shape[3]} images but y holds {y.size} labels")
    if x.dtype != np.uint8:
        if x.size and (not np.issubdtype(x.dtype, np.number) or x.min() < 0 or x.max() > 255):
            raise _fail(path, f"X must hold 8-bit pixel values, got dtype {x.dtype}")
        x = x.astype(np.uint8)
    try:
        labels = y.reshape(-1).astype(np.int64)
    except (TypeError, ValueError):
        raise _fail(path, f"y must hold integer labels, got dtype {y.dtype}") from None
    labels[labels == 10] = 0
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise _fail(path, f"y holds labels {labels.min()}..{labels.max()}; expected 1..10 (10 meaning 0)")
    return x, labels


class _SVHNImages:
    """Index an SVHN X array (H x W x 3 x N) by sample, transposing only the selected samples."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x

    def __getitem__(self, idx: Any) -> np.ndarray:
        return np.transpose(self.x[..., idx], (3, 2, 0, 1))


def load_svhn(spec: DatasetSpec, progress: Progress) -> Dataset:
    """Street View House Numbers, 32x32 RGB."""
    root = _root(spec)
    split = spec.options.get("split", "train")
    path = root / f"{split}_32x32.mat"
    _ensure_files(spec, root, [path], lambda: _tv_class("SVHN")(str(root), split=split, download=True),
                  progress)
    progress(0.1, f"reading {path.name}")
    x, labels = read_svhn(path)
    return _finish(spec, _Raw(_SVHNImages(x), labels, [str(path)], [len(labels)], DIGITS), progress)


# ---------------------------------------------------------------------------------------------- CIFAR10

_ALLOWED_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.multiarray", "scalar"),  # numpy scalars, e.g. labels saved as np.int64
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # protocol-2 pickles written by Python 3 store bytes this way
})


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays, lists, dicts and strings, and nothing else.

    Any other global (a function such as ``os.system``, a class) raises :class:`pickle.UnpicklingError`
    before it is looked up, so no code named by the file runs.
    """

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a dataset file")


def safe_unpickle(path: Path) -> Any:
    """Load a pickle with :class:`RestrictedUnpickler` (``encoding="bytes"`` for Python 2 pickles)."""
    try:
        with open(path, "rb") as fh:
            return RestrictedUnpickler(fh, encoding="bytes").load()
    except Exception as err:  # UnpicklingError, EOFError, ValueError, TypeError... from a damaged file
        raise _fail(path, f"cannot read the pickle safely ({type(err).__name__}: {err})") from None


def _get(d: dict, key: str) -> Any:
    if key in d:
        return d[key]
    return d.get(key.encode())


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 batch: images N x 3 x 32 x 32 uint8 and labels."""
    obj = safe_unpickle(path)
    if not isinstance(obj, dict):
        raise _fail(path, f"expected a pickled dict with 'data' and 'labels', got {type(obj).__name__}")
    data, labels = _get(obj, "data"), _get(obj, "labels")
    if data is None or labels is None:
        raise _fail(path, "the pickled dict has no 'data' or no 'labels' entry")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise _fail(path, f"'data' must be a uint8 array N x 3072, got {type(data).__name__} {shape} "
                          f"{getattr(data, 'dtype', '')}")
    try:
        labels = np.asarray(labels)
        if labels.dtype.kind not in "iu":
            raise TypeError
        labels = labels.astype(np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise _fail(path, "'labels' must be a list of integers") from None
    if len(labels) != len(data):
        raise _fail(path, f"'data' holds {len(data)} images but 'labels' holds {len(labels)}")
    return data.reshape(-1, 3, 32, 32), labels


def _cifar_classes(meta: Path) -> list[str]:
    if not meta.is_file():
        return list(CIFAR10_CLASSES)
    obj = safe_unpickle(meta)
    names = _get(obj, "label_names") if isinstance(obj, dict) else None
    if not isinstance(names, list) or len(names) != 10:
        raise _fail(meta, "expected a pickled dict with 'label_names', a list of 10 names")
    return [n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in names]


def load_cifar10(spec: DatasetSpec, progress: Progress) -> Dataset:
    """CIFAR-10, 32x32 RGB photos in 10 classes."""
    root = _root(spec)
    train = spec.options.get("split", "train") == "train"
    folder = root / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    paths = [folder / name for name in names]
    _ensure_files(spec, root, list(paths),
                  lambda: _tv_class("CIFAR10")(str(root), train=train, download=True), progress)
    classes = _cifar_classes(folder / "batches.meta")
    images, labels = [], []
    for i, path in enumerate(paths):
        progress(0.1 + 0.5 * i / len(paths), f"reading {path.name}")
        x, y = read_cifar_batch(path)
        images.append(x)
        labels.append(y)
    raw = _Raw(np.concatenate(images), np.concatenate(labels), [str(p) for p in paths],
               [len(y) for y in labels], classes)
    return _finish(spec, raw, progress)


# ------------------------------------------------------------------------------------------------ STL10

STL_SIDE = 96
STL_BYTES = 3 * STL_SIDE * STL_SIDE


class _STLImages:
    """Lazily index an STL-10 ``*_X.bin`` (memory-mapped), fixing its column-major layout per sample."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x

    def __getitem__(self, idx: Any) -> np.ndarray:
        return np.transpose(np.asarray(self.x[idx]), (0, 1, 3, 2))


def read_stl10(x_path: Path, y_path: Path) -> tuple[_STLImages, np.ndarray]:
    """Open STL-10 images (N x 3 x 96 x 96, lazily) and labels (1..10 in the file -> 0..9)."""
    try:
        labels = np.fromfile(y_path, dtype=np.uint8).astype(np.int64) - 1
        size = x_path.stat().st_size
    except OSError as err:
        raise _fail(y_path, f"cannot read the file ({err})") from None
    if size % STL_BYTES:
        raise _fail(x_path, f"size {size} bytes is not a whole number of 3x96x96 images ({STL_BYTES} bytes "
                            "each): the file is truncated or not an STL-10 image file")
    count = size // STL_BYTES
    if count != len(labels):
        raise DatasetError(f"{x_path} holds {count} images but {y_path} holds {len(labels)} labels")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise _fail(y_path, f"labels {labels.min() + 1}..{labels.max() + 1} found; expected 1..10")
    try:
        x = np.memmap(x_path, dtype=np.uint8, mode="r", shape=(count, 3, STL_SIDE, STL_SIDE)) if count else \
            np.zeros((0, 3, STL_SIDE, STL_SIDE), dtype=np.uint8)
    except (OSError, ValueError) as err:
        raise _fail(x_path, f"cannot read the file ({err})") from None
    return _STLImages(x), labels


def _stl_classes(path: Path) -> list[str]:
    if not path.is_file():
        return list(STL10_CLASSES)
    try:
        names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError) as err:
        raise _fail(path, f"cannot read the class names ({err})") from None
    if len(names) != 10:
        raise _fail(path, f"expected 10 class names, one a line; found {len(names)}")
    return names


def load_stl10(spec: DatasetSpec, progress: Progress) -> Dataset:
    """STL-10 labelled images, 96x96 RGB photos in 10 classes."""
    root = _root(spec)
    split = spec.options.get("split", "train")
    folder = root / "stl10_binary"
    x_path, y_path = folder / f"{split}_X.bin", folder / f"{split}_y.bin"
    _ensure_files(spec, root, [x_path, y_path],
                  lambda: _tv_class("STL10")(str(root), split=split, download=True), progress)
    progress(0.1, f"reading {x_path.name}")
    classes = _stl_classes(folder / "class_names.txt")
    images, labels = read_stl10(x_path, y_path)
    return _finish(spec, _Raw(images, labels, [str(x_path)], [len(labels)], classes), progress)


# ------------------------------------------------------------------------------------------- registry

register("torchvision:MNIST", "MNIST handwritten digits (28x28 grey) from a local root", _params())(
    _mnist_like(DIGITS))
register("torchvision:FashionMNIST", "Fashion-MNIST clothing (28x28 grey) from a local root", _params())(
    _mnist_like(FASHION_CLASSES))
register("torchvision:KMNIST", "Kuzushiji-MNIST cursive Japanese (28x28 grey) from a local root", _params())(
    _mnist_like(KMNIST_CLASSES))
register("torchvision:USPS", "USPS handwritten digits (16x16 grey) from a local root", _params())(load_usps)
register("torchvision:SVHN", "SVHN house-number digits (32x32 RGB) from a local root",
         _params(("train", "test", "extra")))(load_svhn)
register("torchvision:CIFAR10", "CIFAR-10 photos (32x32 RGB) from a local root", _params())(load_cifar10)
register("torchvision:STL10", "STL-10 labelled photos (96x96 RGB) from a local root", _params())(load_stl10)
