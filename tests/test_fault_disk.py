"""A full or unusable cache disk, and output paths that cannot be written.

The cache is an optimisation: when a cache file cannot be written the command still succeeds, with a warning,
and no temporary file is left behind.  Output files (``gap --save-embeddings/--umap``, ``augment --sheet/--code``)
are checked before any work starts; a write that still fails prints the results first, then one line (exit 2).
A full disk is simulated by a writer that writes part of the file and then raises ``OSError(ENOSPC)``.
"""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _helpers import strict_json

from da_core import config, models
from da_core.cli import check_output_path, main, write_output
from da_core.errors import CacheError, OutputError

ROOT = Path(__file__).resolve().parents[1]
GAP = ["gap", "--source", "builtin:printed-digits?n=200", "--target", "builtin:handwritten-digits?n=200",
       "--embedder", "pixels", "--max-samples", "100", "--permutations", "10"]


def _disk_full(real: Callable[..., Any]) -> Callable[..., Any]:
    """A writer that puts a few bytes into its file, then fails as a full disk does."""

    def write(file: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(file, str | Path):
            Path(file).write_bytes(b"PK\x03\x04 partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(file))

    return write


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty DA_CACHE_DIR."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("DA_CACHE_DIR", str(folder))
    return folder


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# ---------------------------------------------------------------------------------------- cache


def test_describe_on_a_full_cache_disk_succeeds_with_a_warning_and_no_temporary_file(
        cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(np, "savez", _disk_full(np.savez))
    with caplog.at_level(logging.WARNING, logger="da_core.cache"):
        assert main(["describe", "builtin:handwritten-digits?n=100", "--json"]) == 0
    info = strict_json(capsys.readouterr().out)
    assert info["n"] == 100 and len(info["counts"]) == 10
    assert any("No space left" in r.getMessage() and "DA_CACHE_DIR" in r.getMessage() for r in caplog.records)
    assert _files(cache / "datasets") == []  # neither the partial .tmp.npz nor a damaged cache file

    monkeypatch.undo()
    monkeypatch.setenv("DA_CACHE_DIR", str(cache))
    assert main(["describe", "builtin:handwritten-digits?n=100", "--json"]) == 0  # space again: cached whole
    (written,) = _files(cache / "datasets")
    assert written.endswith(".npz") and ".tmp" not in written


def test_a_cache_dir_that_is_a_file_is_skipped_with_a_warning_naming_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "cache-file"
    blocker.write_text("keep me")
    monkeypatch.setenv("DA_CACHE_DIR", str(blocker))
    with pytest.raises(CacheError, match="DA_CACHE_DIR"):
        config.cache_dir()
    with caplog.at_level(logging.WARNING, logger="da_core.cache"):
        assert main(["describe", "builtin:handwritten-digits?n=100", "--json"]) == 0
    assert strict_json(capsys.readouterr().out)["n"] == 100
    assert any(str(blocker) in r.getMessage() and "is a file" in r.getMessage() for r in caplog.records)
    # as a user runs it: the warning is one line on stderr, the result on stdout
    proc = subprocess.run([sys.executable, "-m", "da_core", "describe", "builtin:handwritten-digits?n=100", "--json"],
                          cwd=ROOT, env={**os.environ, "DA_CACHE_DIR": str(blocker)}, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and strict_json(proc.stdout)["n"] == 100
    assert proc.stderr.startswith("warning: ") and str(blocker) in proc.stderr and "Traceback" not in proc.stderr
    assert blocker.read_text() == "keep me"


def test_an_embedding_cache_that_cannot_be_written_still_returns_the_vectors(
        cache: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from da_core.data import load_dataset
    from da_core.embed import embed

    ds = load_dataset("builtin:handwritten-digits?n=100")
    expected = embed(ds, "pixels?pca=0", use_cache=False).vectors
    monkeypatch.setattr(np, "save", _disk_full(np.save))
    with caplog.at_level(logging.WARNING, logger="da_core.cache"):
        got = embed(ds, "pixels?pca=0")
    assert not got.cached and np.array_equal(got.vectors, expected)
    assert any("No space left" in r.getMessage() for r in caplog.records)
    assert _files(cache / "embeddings") == []


def test_a_checkpoint_that_cannot_be_saved_keeps_the_model_in_memory(
        cache: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import torch

    trained: list[int] = []

    def pretrain(**kwargs: Any) -> tuple[Any, models.PretrainedInfo]:
        trained.append(1)
        return models.build_digits_cnn(), models.PretrainedInfo("", "builtin:printed-digits", 1.0, 1, 0.0, "")

    monkeypatch.setattr(models, "pretrain_digits_cnn", pretrain)
    monkeypatch.setattr(torch, "save", _disk_full(torch.save))
    monkeypatch.setattr(models, "_LOADED", {})
    with caplog.at_level(logging.WARNING, logger="da_core.cache"):
        model, info = models.load_digits_cnn()
    assert isinstance(model, torch.nn.Module) and info.sha
    assert any("No space left" in r.getMessage() for r in caplog.records)
    assert _files(cache / "models") == []
    again, _ = models.load_digits_cnn()
    assert again is model and trained == [1]  # not retrained within the process


def test_write_cache_file_removes_its_temporary_file_on_every_failure(tmp_path: Path) -> None:
    target = tmp_path / "x.npz"

    def broken(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise ValueError("a bug in the writer")

    with pytest.raises(ValueError):
        config.write_cache_file(target, broken)  # not a disk problem: it surfaces, but leaves nothing behind
    assert _files(tmp_path) == []
    assert config.write_cache_file(target, lambda tmp: np.savez(tmp, a=np.arange(3)))
    assert _files(tmp_path) == ["x.npz"] and np.load(target)["a"].tolist() == [0, 1, 2]


# -------------------------------------------------------------------------------- output paths


@pytest.mark.parametrize(("args", "fragment"), [
    (["--save-embeddings", "/nonexistent/dir/e.npz"], "does not exist"),
    (["--umap", "{folder}"], "is a folder"),
    (["--umap", "{file}/map.html"], "is not a folder"),
])
def test_gap_checks_its_output_paths_before_any_work(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str],
        fragment: str) -> None:
    import da_core.gap_workflow

    (tmp_path / "a-file").write_text("x")
    args = [a.format(folder=tmp_path, file=tmp_path / "a-file") for a in args]
    monkeypatch.setattr(da_core.gap_workflow, "analyse_gap", lambda *a, **k: pytest.fail("the work started"))
    assert main([*GAP, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and args[1] in err and fragment in err and args[0] in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_augment_uses_the_same_check_before_loading_anything(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import da_core.data

    monkeypatch.setattr(da_core.data, "load_dataset", lambda *a, **k: pytest.fail("the work started"))
    assert main(["augment", "--sheet", "/nonexistent/dir/sheet.png"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--sheet /nonexistent/dir/sheet.png" in err and "does not exist" in err


def test_gap_whose_disk_fills_while_saving_prints_the_metrics_then_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    real = Path.write_bytes

    def write_bytes(self: Path, data: bytes) -> int:
        if self.parent == out:
            real(self, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    assert main([*GAP, "--json", "--save-embeddings", str(out / "e.npz")]) == 2
    captured = capsys.readouterr()
    data = strict_json(captured.out)  # the computed metrics are not lost
    assert "mmd2" in data["metrics"] and data["n_source"] > 0
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "No space left on device" in err and str(out / "e.npz") in err
    assert list(out.iterdir()) == []  # no partial file, no temporary file


def test_gap_writes_exactly_the_named_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "embeddings"  # no .npz: numpy would add one, we do not
    assert main([*GAP, "--json", "--save-embeddings", str(target)]) == 0
    data = strict_json(capsys.readouterr().out)
    with np.load(target, allow_pickle=False) as z:
        assert len(z["source"]) == data["n_source"] and len(z["target"]) == data["n_target"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["embeddings"]


def test_output_helpers(tmp_path: Path) -> None:
    existing = tmp_path / "keep.txt"
    existing.write_text("old")
    assert check_output_path(existing, "--code") == existing and existing.read_text() == "old"
    assert check_output_path(tmp_path / "new.txt", "--code") and not (tmp_path / "new.txt").exists()
    write_output(existing, b"new", "--code")
    assert existing.read_text() == "new" and _files(tmp_path) == ["keep.txt"]
    with pytest.raises(OutputError, match="--code"):
        write_output(tmp_path / "missing" / "x.py", b"", "--code")


def test_an_upload_on_a_full_disk_is_a_clear_error_and_leaves_no_part_file(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from da_core.data.files import save_upload
    from da_core.errors import DatasetError

    real = Path.write_bytes

    def full(self: Path, data: bytes) -> int:
        real(self, data[:3])
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(DatasetError, match="cannot store the upload.*No space left"):
        save_upload(b"PK\x03\x04" + b"x" * 100)
    assert _files(cache / "uploads") == []


def test_umap_compiles_into_a_temporary_folder_when_the_cache_is_a_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from da_core import reduce

    blocker = tmp_path / "cache-file"
    blocker.write_text("keep me")
    monkeypatch.setenv("DA_CACHE_DIR", str(blocker))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    folder = reduce.numba_cache_dir()
    assert not folder.startswith(str(blocker)) and "da-studio-numba" in folder
    reduce.umap_learn_compiled()  # answers instead of raising a CacheError
