"""Where two domains meet (da_core.data.pair): one class set and one image shape, the same rule everywhere.

The matrix covers grey/RGB x sizes from built-ins, folders and torchvision files on disk; each pair must
train (plain, labelled target and DANN), map (pixel features and the digits CNN) and preview.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from _helpers import strict_json
from PIL import Image
from test_tvsets import make_mnist, make_svhn, make_usps

from da_core.augment import default_pipeline
from da_core.augment.editor import pick_rows
from da_core.augment.preview import contact_sheet, sheet_png
from da_core.data import align_pair, describe_alignment, load_dataset
from da_core.data.images import make_dataset
from da_core.train.config import TrainConfig
from da_core.train.trainer import Trainer, prepare_data


def _toy(c: int, size: int, classes: list[str], n_per_class: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = n_per_class * len(classes)
    images = rng.integers(0, 256, (n, c, size, size), dtype=np.uint8)
    return make_dataset(images, np.arange(n) % len(classes), classes, f"toy-{c}x{size}")


def test_grey_and_rgb_of_other_sizes_meet_as_rgb_at_the_source_size() -> None:
    src, tgt = _toy(1, 28, ["0", "1", "2"]), _toy(3, 64, ["1", "2", "3"])
    s, t, al = align_pair(src, tgt)
    assert s.shape == t.shape == (3, 28, 28) == al.shape
    assert al.shared == ["1", "2"] and al.only_source == ["0"] and al.only_target == ["3"]
    assert al.source_shape == (1, 28, 28) and al.target_shape == (3, 64, 64)
    assert al.conversions == ["source: grey replicated to RGB (the other domain is in colour)",
                              "target: resized from 64×64 to 28×28 px (the source's size)"]
    assert "grey 28×28" in describe_alignment(al) and "RGB 64×64" in describe_alignment(al)
    # grey replicated: the three channels are the original grey values, nothing lost
    kept = src.subset(np.flatnonzero(src.labels.numpy() > 0))
    assert torch.equal(s.images[:, 0], kept.images[:, 0]) and torch.equal(s.images[:, 2], kept.images[:, 0])
    assert s.fingerprint != kept.fingerprint  # converted data gets its own cache key


def test_equal_shapes_are_left_alone() -> None:
    src, tgt = _toy(1, 16, ["a", "b"]), _toy(1, 16, ["a", "b"], seed=1)
    s, t, al = align_pair(src, tgt)
    assert s is src and t is tgt and not al.converted and describe_alignment(al) == ""


def test_rgb_source_takes_a_grey_target_of_another_size() -> None:
    s, t, al = align_pair(_toy(3, 32, ["a", "b"]), _toy(1, 16, ["a", "b"]))
    assert s.shape == t.shape == (3, 32, 32)
    assert al.conversions == ["target: grey replicated to RGB (the other domain is in colour) and resized from "
                              "16×16 to 32×32 px (the source's size)"]


# --------------------------------------------------------------------------------------------- the matrix


def _folder(root: Path, mode: str, size: int, n: int = 6) -> str:
    rng = np.random.default_rng(3)
    for digit in ("1", "6", "7"):
        (root / digit).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            arr = rng.integers(0, 256, (size, size, 3) if mode == "RGB" else (size, size), dtype=np.uint8)
            Image.fromarray(arr, mode).save(root / digit / f"{i}.png")
    return f"folder:{root}"


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("pairs")
    make_mnist(base / "mnist", n=40)
    make_usps(base / "usps")
    make_svhn(base / "svhn")
    return {
        "printed (grey 28)": "builtin:printed-digits?n=200",
        "printed (grey 16)": "builtin:printed-digits?n=200&size=16",
        "textured (RGB 28)": "builtin:textured-digits?n=200",
        "folder (RGB 64)": _folder(base / "rgb", "RGB", 40),
        "folder (grey 12)": _folder(base / "grey", "L", 20) + "?size=12",
        "MNIST files (grey 28)": f"torchvision:MNIST?root={base / 'mnist'}",
        "USPS files (grey 16)": f"torchvision:USPS?root={base / 'usps'}",
        "SVHN files (RGB 32)": f"torchvision:SVHN?root={base / 'svhn'}",
    }


PAIRS = [
    ("printed (grey 28)", "textured (RGB 28)"),
    ("printed (grey 28)", "folder (RGB 64)"),
    ("printed (grey 16)", "folder (grey 12)"),
    ("textured (RGB 28)", "printed (grey 16)"),
    ("folder (RGB 64)", "printed (grey 28)"),
    ("SVHN files (RGB 32)", "USPS files (grey 16)"),
    ("MNIST files (grey 28)", "SVHN files (RGB 32)"),
    ("USPS files (grey 16)", "textured (RGB 28)"),
]


@pytest.mark.parametrize(("src_name", "tgt_name"), PAIRS, ids=[f"{a} -> {b}" for a, b in PAIRS])
def test_pair_matrix_trains_maps_and_previews(specs: dict[str, str], src_name: str, tgt_name: str) -> None:
    from da_core.gap_workflow import analyse_gap

    source, target = load_dataset(specs[src_name]), load_dataset(specs[tgt_name])
    src, tgt, alignment = align_pair(source, target)
    assert src.shape == tgt.shape == alignment.shape
    assert alignment.converted == (source.shape != target.shape)

    # training: labelled target samples are concatenated with source samples; DANN batches both domains
    for extra in ({"target_labels_per_class": 1}, {"target_labels_per_class": 0, "dann": True}):
        config = TrainConfig.from_dict({"source": specs[src_name], "target": specs[tgt_name], "max_steps": 2,
                                        "batch_size": 8, "device": "cpu", **extra})
        data = prepare_data(config)
        result = Trainer(config, data).run()
        assert result.status == "finished", result.message
        assert np.isfinite(result.final["target_acc"])
        assert result.details["conversions"] == alignment.conversions

    # the map: pixel features need one length for both domains; the digits CNN takes either
    for embedder in ("pixels", "digits-cnn"):
        gap = analyse_gap(src, tgt, embedder, max_samples=60, n_permutations=10, n_boot=10, device="cpu")
        assert gap.xs.shape[1] == gap.xt.shape[1] and np.isfinite(gap.metrics["mmd2"].value)

    # previews and the lab's target column
    rows = pick_rows(src, tgt, n=4, seed=0)
    assert rows.target_images.shape[1:] == rows.images.shape[1:]
    sheet = contact_sheet(default_pipeline(), rows.images, strengths=(0.0, 0.5))
    assert sheet_png(sheet, rows.target_images).startswith(b"\x89PNG")


def test_train_command_on_a_grey_to_rgb_pair_says_what_it_converted(capsys: pytest.CaptureFixture[str]) -> None:
    from da_core.cli import main

    code = main(["train", "--source", "builtin:printed-digits?n=200", "--target", "builtin:textured-digits?n=200",
                 "--max-steps", "2", "--device", "cpu", "--json"])
    out = strict_json(capsys.readouterr().out)
    assert code == 0 and out["status"] == "finished"
    assert out["conversions"] == ["source: grey replicated to RGB (the other domain is in colour)"]
    from da_core.train.store import get_store

    run = get_store().get_run(out["run_id"])
    assert run.details["conversions"] == out["conversions"]  # kept with the run's record


@pytest.mark.parametrize("command", ["gap", "augment"])
def test_gap_and_augment_commands_take_a_mixed_pair_and_say_what_they_converted(
        command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from da_core.cli import main

    folder = _folder(tmp_path / "rgb", "RGB", 40)
    args = [command, "--source", "builtin:printed-digits?n=200", "--target", folder, "--embedder", "pixels",
            "--max-samples", "60", "--json"]
    args += ["--permutations", "10"] if command == "gap" else ["--strengths", "0,0.5"]
    assert main(args) == 0
    captured = capsys.readouterr()
    out = strict_json(captured.out)
    assert out["alignment"]["shape"] == [3, 28, 28] and out["alignment"]["target_shape"] == [3, 64, 64]
    assert "Target: resized from 64×64 to 28×28 px" in captured.err
    assert "using the 3 classes both domains share" in captured.err
