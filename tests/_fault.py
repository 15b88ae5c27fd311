"""Helpers shared by the fault suite (tests/test_fault_*.py): an isolated sandbox with its own cache, a
snapshot of everything outside the cache, and a check that a call either works or fails with our own
error type and a one-line message."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from da_core.errors import DAError

FORMATS = {".png": "PNG", ".jpg": "JPEG", ".bmp": "BMP", ".webp": "WEBP", ".tif": "TIFF"}


@dataclass
class Sandbox:
    """A fresh folder holding the cache (``DA_CACHE_DIR``), the store, a temp dir and the user's data."""

    root: Path
    cache: Path
    data: Path

    def snapshot(self) -> dict[str, tuple[int, int, int]]:
        """Every path under the sandbox except the cache, with (mode, size, mtime): what a load must not touch."""
        return snapshot(self.root, skip=self.cache)


def snapshot(root: Path, skip: Path | None = None) -> dict[str, tuple[int, int, int]]:
    """(mode, size, mtime_ns) of every file, folder and link under ``root``, except under ``skip``."""
    out: dict[str, tuple[int, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if skip is not None:
            dirnames[:] = [d for d in dirnames if here / d != skip]
        for name in dirnames + filenames:
            st = os.lstat(here / name)
            out[str((here / name).relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


@contextlib.contextmanager
def sandbox(data_root: bool = False) -> Iterator[Sandbox]:
    """Point the cache, the store and ``tempfile`` into a new folder (and ``DA_DATA_ROOT`` at its ``data/``).

    A context manager rather than a fixture so that each hypothesis example gets a fresh one.
    """
    with tempfile.TemporaryDirectory(prefix="da-fault-") as tmp:
        root = Path(tmp)
        cache, data = root / "cache", root / "data"
        (root / "tmp").mkdir()
        data.mkdir()
        env = {"DA_CACHE_DIR": str(cache), "DA_DATA_DIR": str(root / "store")}
        saved_tempdir = tempfile.tempdir
        with mock.patch.dict(os.environ, env):
            if data_root:
                os.environ["DA_DATA_ROOT"] = str(data)
            else:
                os.environ.pop("DA_DATA_ROOT", None)
            tempfile.tempdir = str(root / "tmp")
            try:
                yield Sandbox(root, cache, data)
            finally:
                tempfile.tempdir = saved_tempdir


def outcome(fn: Callable[[], Any]) -> tuple[Any, DAError | None]:
    """Run ``fn``: (result, None), or (None, error) for one of our errors with a one-line message.

    Any other exception fails the test, naming its type (that is the bug the suite looks for).
    """
    try:
        return fn(), None
    except DAError as err:
        text = str(err)
        assert text.strip(), f"{type(err).__name__} without a message"
        assert "\n" not in text, f"message is not one line: {text!r}"
        return None, err


def clean_load(spec: str, box: Sandbox) -> tuple[Any, DAError | None]:
    """``load_dataset(spec)`` through :func:`outcome`, asserting that nothing outside the cache changed."""
    from da_core.data import load_dataset

    before = box.snapshot()
    result = outcome(lambda: load_dataset(spec))
    assert box.snapshot() == before, "a load wrote or changed files outside DA_CACHE_DIR"
    return result


def check_dataset(ds: Any, size: int) -> None:
    """The invariants every loaded dataset keeps, whatever the input was."""
    import torch

    n = len(ds)
    assert n >= 1 and len(ds.classes) >= 2
    assert ds.images.dtype == torch.uint8 and ds.images.ndim == 4
    assert tuple(ds.images.shape[1:]) in ((1, size, size), (3, size, size))
    assert int(ds.labels.min()) >= 0 and int(ds.labels.max()) < len(ds.classes)
    assert len(ds.meta) == n


def encode(img: Any, fmt: str, **kw: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def write_files(root: Path, files: dict[str, bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    root.mkdir(parents=True, exist_ok=True)
    return root


def zip_bytes(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buf.getvalue()
