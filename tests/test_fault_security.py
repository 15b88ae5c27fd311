"""Fault suite, security: paths outside DA_DATA_ROOT are refused by the library, on the command line and in
the page; model, checkpoint, cache and dataset files are never unpickled into arbitrary objects; uploads are
size-capped.

A pickle "payload" here is an object whose ``__reduce__`` calls ``os.system("touch MARKER")``: if any loader
unpickled it, the marker file would appear.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shlex
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _fault import Sandbox, encode, outcome, sandbox, write_files, zip_bytes
from PIL import Image

from da_core import config
from da_core.cli import main
from da_core.data import load_dataset
from da_core.data.files import save_upload
from da_core.errors import DatasetError, SecurityError

ROOT = Path(__file__).resolve().parents[1]


class Payload:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def png(value: int) -> bytes:
    return encode(Image.new("L", (4, 4), value), "PNG")


TWO_CLASSES = {"a/1.png": png(10), "a/2.png": png(20), "b/1.png": png(200), "b/2.png": png(210)}


@pytest.fixture()
def box() -> Iterator[Sandbox]:
    """A sandbox whose data/ folder is DA_DATA_ROOT."""
    with sandbox(data_root=True) as b:
        yield b


# ------------------------------------------------------------------------------- paths outside the root


@pytest.fixture()
def escape_link(box: Sandbox) -> Path:
    """A link inside DA_DATA_ROOT to /etc."""
    (box.data / "etc-link").symlink_to("/etc", target_is_directory=True)
    return box.data / "etc-link"


OUTSIDE = ["folder:/etc", "folder:/", "folder:~", "folder:../outside", "folder:etc-link", "folder:etc-link/ssl",
           "zip:/etc/passwd", "zip:../x.zip", "torchvision:MNIST?root=/etc", "torchvision:CIFAR10?root=.."]


@pytest.mark.parametrize("spec", OUTSIDE)
def test_paths_outside_the_data_root_are_refused_before_anything_is_read(
        box: Sandbox, escape_link: Path, monkeypatch: pytest.MonkeyPatch, spec: str) -> None:
    (box.root / "outside").mkdir()
    write_files(box.root / "outside", TWO_CLASSES)

    def forbidden(*args, **kwargs):
        raise AssertionError("a path outside DA_DATA_ROOT was opened before it was refused")

    with monkeypatch.context() as mp:
        for target, name in ((os, "scandir"), (zipfile.ZipFile, "__init__"), (Path, "read_bytes")):
            mp.setattr(target, name, forbidden)
        _, err = outcome(lambda: load_dataset(spec))
    assert isinstance(err, SecurityError), err
    assert f"outside DA_DATA_ROOT={box.data}" in str(err)
    assert "passwd" not in str(err) or "passwd" in spec  # nothing about the folder's content leaks


def test_inside_the_root_still_loads(box: Sandbox) -> None:
    write_files(box.data / "ds", TWO_CLASSES)
    assert len(load_dataset("folder:ds?size=8")) == 4


def test_command_line_refuses_a_folder_outside_the_root_in_one_line(box: Sandbox) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DA_DATA_ROOT": str(box.data)}
    proc = subprocess.run([sys.executable, "-m", "da_core", "describe", "folder:/etc"], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: folder '/etc' is outside DA_DATA_ROOT=")


@pytest.mark.parametrize("spec", ["zip:/etc/passwd", "torchvision:MNIST?root=/etc", "folder:%00",
                                  "folder:~no-such-user-da", "zip:" + "x" * 5000, "folder:ds?size=%FF"])
def test_command_line_bad_paths_exit_2_with_one_line(box: Sandbox, capsys: pytest.CaptureFixture[str],
                                                     spec: str) -> None:
    assert main(["describe", spec, "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and captured.err.startswith("error: ")


# ------------------------------------------------------------------------------------------------- page


@pytest.fixture()
def page(box: Sandbox):
    """The Datasets page with a source spec that fails fast (no built-in is generated)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "datasets.py"), default_timeout=60)
    at.session_state["source_spec"] = "folder:/etc"
    at.session_state["target_spec"] = "folder:/etc"
    return at.run()


def _errors(at) -> str:
    return " | ".join(e.value for e in at.error)


def test_page_refuses_outside_paths_typed_as_spec_strings(page) -> None:
    assert page.selectbox(key="source_kind").value == "Spec string"
    for spec in ("folder:/etc", "zip:/etc/passwd", "torchvision:STL10?root=/etc", "folder:%00"):
        page.text_input(key="source_spec_text").set_value(spec).run()
        assert not page.exception, [e.value for e in page.exception]
        errors = _errors(page)
        assert "Cannot load the dataset pair" in errors and "Traceback" not in errors
        assert ("outside DA_DATA_ROOT" if "%" not in spec else "not a usable path") in errors, errors


def test_page_refuses_an_upload_over_the_cap_and_stores_nothing(page, box: Sandbox,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DA_MAX_UPLOAD_BYTES", "2000")
    page.selectbox(key="source_kind").set_value("ZIP upload").run()
    page.file_uploader(key="source_zip").set_value(("big.zip", bytes(5000), "application/zip")).run()
    assert not page.exception, [e.value for e in page.exception]
    assert "upload refused: 5,000 bytes is over the cap of 2,000 bytes (DA_MAX_UPLOAD_BYTES)" in _errors(page)
    assert list(config.uploads_dir().iterdir()) == []


def test_page_refuses_an_uploaded_zip_slip(page) -> None:
    evil = zip_bytes({**TWO_CLASSES, "../../escape.png": png(1)})
    page.selectbox(key="source_kind").set_value("ZIP upload").run()
    page.file_uploader(key="source_zip").set_value(("evil.zip", evil, "application/zip")).run()
    assert not page.exception, [e.value for e in page.exception]
    assert "'../../escape.png' points outside the archive folder" in _errors(page)


# ---------------------------------------------------------------------------------------------- uploads


def test_upload_cap_refuses_past_the_cap_and_writes_nothing(box: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    data = zip_bytes(TWO_CLASSES)
    monkeypatch.setenv("DA_MAX_UPLOAD_BYTES", str(len(data) - 1))
    _, err = outcome(lambda: save_upload(data))
    assert isinstance(err, SecurityError) and "nothing was stored" in str(err)
    assert list(config.uploads_dir().iterdir()) == []  # not even a partial file
    monkeypatch.setenv("DA_MAX_UPLOAD_BYTES", str(len(data)))  # exactly at the cap: stored, once
    first, again = save_upload(data), save_upload(data)
    assert first == again and first.read_bytes() == data and list(config.uploads_dir().iterdir()) == [first]
    assert len(load_dataset(f"zip:{first}?size=8")) == 4  # an upload is readable even with DA_DATA_ROOT set


def test_default_upload_cap_matches_the_servers_limit() -> None:
    tomllib = pytest.importorskip("tomllib")
    server = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]
    assert server << 20 == config.DEFAULT_MAX_UPLOAD_BYTES


# ------------------------------------------------------------------------------ checkpoints and pickles


@pytest.fixture()
def marker(box: Sandbox) -> Iterator[Path]:
    path = box.root / "pwned"
    yield path
    assert not path.exists(), "a pickled payload was executed"


def _malicious_checkpoints(marker: Path) -> dict[str, bytes]:
    import torch

    buf = io.BytesIO()
    torch.save({"state_dict": {"w": torch.zeros(2)}, "info": "{}", "extra": Payload(marker)}, buf)
    return {"torch-zip": buf.getvalue(), "plain-pickle": pickle.dumps(Payload(marker))}


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("kind", ["torch-zip", "plain-pickle"])
def test_digits_cnn_checkpoint_with_a_payload_is_refused_and_retrained(
        box: Sandbox, marker: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    import torch

    from da_core import models

    trained: list[int] = []

    def quick_pretrain(progress=None):  # the retraining itself is not under test: keep it instant
        trained.append(1)
        return models.build_digits_cnn(), models.PretrainedInfo("", "stub", 0.5, 0, 0.0, "")

    monkeypatch.setattr(models, "pretrain_digits_cnn", quick_pretrain)
    path = models._checkpoint_path()
    assert box.cache in path.parents
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_malicious_checkpoints(marker)[kind])
    model, info = models.load_digits_cnn()
    assert trained == [1] and info.source_spec == "stub"
    blob = torch.load(path, map_location="cpu", weights_only=True)  # replaced by a plain tensor checkpoint
    assert set(blob) == {"state_dict", "info"} and json.loads(blob["info"])["sha"] == info.sha


def test_torchvision_weights_with_a_payload_are_refused(box: Sandbox, marker: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from da_core.embed.embedders import EmbedderUnavailable, get_embedder

    monkeypatch.setenv("TORCH_HOME", str(box.root / "torch"))
    emb = get_embedder("torchvision:resnet18")
    weights = emb.weights_path()
    weights.parent.mkdir(parents=True)
    weights.write_bytes(_malicious_checkpoints(marker)["torch-zip"])
    with pytest.raises(EmbedderUnavailable, match="pickled Python objects") as err:
        emb.load(torch.device("cpu"))
    assert "\n" not in str(err.value)
    torch.save({"fc.weight": torch.zeros(1)}, weights)  # loadable, but another model's weights
    with pytest.raises(EmbedderUnavailable, match=r"RuntimeError: Error\(s\) in loading state_dict"):
        emb.load(torch.device("cpu"))


def test_hf_model_folder_never_unpickles_nor_runs_its_code(box: Sandbox, marker: Path) -> None:
    import torch
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    from da_core.embed.embedders import EmbedderUnavailable, get_embedder

    folder = box.data / "vit"
    cfg = ViTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                    image_size=16, patch_size=8)
    ViTModel(cfg).save_pretrained(folder)
    ViTImageProcessor(size={"height": 16, "width": 16}).save_pretrained(folder)
    safetensors = (folder / "model.safetensors").read_bytes()
    # 1. pickled weights (pytorch_model.bin) holding a payload
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(_malicious_checkpoints(marker)["torch-zip"])
    with pytest.raises(EmbedderUnavailable, match="pickled Python objects"):
        get_embedder(f"hf:{folder}").load(torch.device("cpu"))
    # 2. a model whose config asks for its own code (auto_map): refused, the code never imported
    (folder / "pytorch_model.bin").unlink()
    (folder / "model.safetensors").write_bytes(safetensors)
    config_json = json.loads((folder / "config.json").read_text())
    config_json.update(model_type="evil-net", auto_map={"AutoConfig": "evil.Cfg", "AutoModel": "evil.Model"})
    (folder / "config.json").write_text(json.dumps(config_json))
    (folder / "evil.py").write_text(f"import os\nos.system({f'touch {shlex.quote(str(marker))}'!r})\n")
    with pytest.raises(EmbedderUnavailable, match="cannot load"):
        get_embedder(f"hf:{folder}").load(torch.device("cpu"))


def test_embedding_cache_with_a_payload_or_damage_is_recomputed(box: Sandbox, marker: Path) -> None:
    from da_core.embed import _cache_path, embed
    from da_core.embed.embedders import get_embedder

    ds = load_dataset(f"folder:{write_files(box.data / 'ds', TWO_CLASSES)}?size=8")
    emb = get_embedder("pixels")
    fresh = embed(ds, emb)
    path = _cache_path(ds, emb)
    assert path.exists() and box.cache in path.parents
    for damage in (lambda p: np.save(p, np.array([Payload(marker)], dtype=object), allow_pickle=True),
                   lambda p: p.write_bytes(b""), lambda p: np.save(p, np.float32(1))):
        damage(path)
        again = embed(ds, emb)
        assert not again.cached and np.array_equal(again.vectors, fresh.vectors)
    assert embed(ds, emb).cached  # the recomputed vectors were stored again


def _cifar(root: Path, batch: bytes | None = None, meta: bytes | None = None) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    good = pickle.dumps({"data": np.zeros((4, 3072), np.uint8), "labels": [0, 1, 0, 1]})
    for name in [f"data_batch_{i}" for i in range(1, 6)]:
        (folder / name).write_bytes(batch if batch is not None and name == "data_batch_1" else good)
    if meta is not None:
        (folder / "batches.meta").write_bytes(meta)


def test_cifar_files_with_payloads_are_refused(box: Sandbox, marker: Path) -> None:
    """Beyond test_tvsets' payload in a batch dict: an object array, a hand-written GLOBAL opcode in the
    class-name file, and a payload passed as an argument to an allowed numpy global."""
    cmd = f"touch {shlex.quote(str(marker))}"
    cases = {
        "object-array": ({"batch": pickle.dumps({"data": np.array([Payload(marker)], dtype=object),
                                                  "labels": [0]})}, "data_batch_1"),
        "protocol-0-meta": ({"meta": f"cos\nsystem\n(V{cmd}\ntR.".encode()}, "batches.meta"),
        "inside-an-allowed-numpy-call": ({"batch": b"cnumpy.core.multiarray\n_reconstruct\n(cos\nsystem\n"
                                                   + f"(V{cmd}\ntRS'b'\ntR.".encode()}, "data_batch_1"),
    }
    for i, (files, culprit) in enumerate(cases.values()):
        root = box.data / f"cifar{i}"
        _cifar(root, **files)
        _, err = outcome(lambda root=root: load_dataset(f"torchvision:CIFAR10?root={root}"))
        assert isinstance(err, DatasetError) and culprit in str(err) and "not allowed" in str(err), err

