"""Sample identity: every sample has a uid that survives subsets, caps, class alignment and splits; a selection
exported from the Gap map names samples by uid and trains on exactly those source samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _helpers import strict_json
from PIL import Image
from test_tvsets import make_mnist

from da_core.data import align_pair, load_dataset
from da_core.errors import SpecError
from da_core.gap_workflow import analyse_gap, selection_table
from da_core.train.config import TrainConfig, read_selection
from da_core.train.trainer import prepare_data

SOURCE = "builtin:printed-digits?n=600"
TARGET = "builtin:handwritten-digits?n=400"


def test_uids_are_set_at_load_time_and_survive_every_transformation(tmp_path: Path) -> None:
    src = load_dataset(SOURCE)
    assert src.uids[:3] == ["0", "1", "2"] and len(set(src.uids)) == len(src)  # the generator index
    hand = load_dataset(TARGET)
    assert all(u.startswith("uci:") for u in hand.uids) and len(set(hand.uids)) == len(hand)
    for digit in ("3", "7"):
        (tmp_path / "f" / digit).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((9, 9), 40 * i, np.uint8)).save(tmp_path / "f" / digit / f"{i}.png")
    folder = load_dataset(f"folder:{tmp_path / 'f'}")
    assert sorted(folder.uids) == sorted(f"{d}/{i}.png" for d in "37" for i in range(3))  # relative paths
    make_mnist(tmp_path / "m", n=20)
    mnist = load_dataset(f"torchvision:MNIST?root={tmp_path / 'm'}&n=10")
    assert all(u.startswith("train:") for u in mnist.uids) and len(set(mnist.uids)) == 10

    capped = src.capped(200, seed=3)
    assert set(capped.uids) <= set(src.uids)
    for i in (0, 57, 199):  # the same sample under the same uid
        j = src.uids.index(capped.uids[i])
        assert np.array_equal(capped.images[i].numpy(), src.images[j].numpy())
    rest, held = capped.split(0.3, seed=1)
    assert sorted(rest.uids + held.uids) == sorted(capped.uids)
    s, t, _ = align_pair(src.subset(np.flatnonzero(src.labels.numpy() < 5)), load_dataset(
        "builtin:textured-digits?n=200"))
    assert set(s.uids) <= set(src.uids) and len(t.uids) == len(set(t.uids))  # kept through conversion


def test_a_gap_map_selection_trains_on_exactly_the_selected_source_samples() -> None:
    source, target = load_dataset(SOURCE), load_dataset(TARGET)
    s, t, _ = align_pair(source, target)
    analysis = analyse_gap(s, t, "pixels", max_samples=250, n_permutations=10, n_boot=10, device="cpu")
    rng = np.random.default_rng(0)
    rows = rng.choice(len(analysis.source) + len(analysis.target), 120, replace=False)  # a lasso over both
    table = selection_table(analysis, rows, {"source": SOURCE, "target": TARGET},
                            {"source": source.fingerprint, "target": target.fingerprint})
    chosen = set(table.loc[table["domain"] == "source", "uid"])
    n_target_rows = int((table["domain"] == "target").sum())
    assert 0 < len(chosen) < 120 and n_target_rows > 0

    selection = read_selection(table.to_csv(index=False), source)
    assert f"{n_target_rows} target rows left out" in " ".join(selection.notes)
    config = TrainConfig.from_dict({"source": SOURCE, "target": TARGET, "device": "cpu", **selection.config})
    data = prepare_data(config)
    trained = set(data.source_train.uids)
    held_out = set(prepare_data(TrainConfig.from_dict({"source": SOURCE, "target": TARGET})).source_eval.uids)
    assert trained == chosen - held_out  # exactly the selected source samples (held-out ones are never trained)
    # the same samples, pixel for pixel (positions in the capped map would have pointed elsewhere)
    for uid in list(trained)[:10]:
        a = data.source_train.images[data.source_train.uids.index(uid)]
        b = analysis.source.images[analysis.source.uids.index(uid)]
        assert np.array_equal(a.numpy(), b.numpy())


def test_a_selection_from_another_dataset_or_an_old_export_is_refused() -> None:
    source = load_dataset(SOURCE)
    other = load_dataset("builtin:printed-digits?n=600&seed=1")
    csv = f"domain,uid,fingerprint\nsource,3,{other.fingerprint}\n"
    with pytest.raises(SpecError, match="made on another dataset"):
        read_selection(csv, source)
    with pytest.raises(SpecError, match="older version"):  # the Gap map's export before uids
        read_selection("row,domain,class,index\n0,source,3,5\n", source)
    with pytest.raises(SpecError, match="source dataset is needed"):
        read_selection("uid\n3\n")
    sel = read_selection(f"domain,uid,fingerprint\nsource,3,{source.fingerprint}\nsource,3,{source.fingerprint}\n"
                         f"source,nope,{source.fingerprint}\n", source)
    assert sel.config == {"source_subset": [3]}
    assert any("1 uids are not in this source" in n for n in sel.notes)
    assert any("1 repeated rows" in n for n in sel.notes)
    with pytest.raises(SpecError, match="none of its"):
        read_selection("uid\nnope\n", source)
    weights = read_selection("uid,weight\n2,0.5\n4,2\n", source).config["source_weights"]
    assert len(weights) == len(source) and weights[2] == 0.5 and weights[4] == 2.0 and sum(weights) == 2.5


def test_train_command_takes_a_selection_by_uid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from da_core.cli import main

    source = load_dataset(SOURCE)
    uids = [str(u) for u in range(0, 600, 3)]
    path = tmp_path / "sel.csv"
    path.write_text("domain,uid,fingerprint\n" + "".join(f"source,{u},{source.fingerprint}\n" for u in uids)
                    + "target,uci:1,x\n")
    code = main(["train", "--source", SOURCE, "--target", TARGET, "--selection", str(path), "--max-steps", "2",
                 "--device", "cpu", "--json"])
    captured = capsys.readouterr()
    out = strict_json(captured.out)
    assert code == 0 and out["status"] == "finished"
    assert "1 target rows left out" in captured.err
    from da_core.train.store import get_store

    assert get_store().get_run(out["run_id"]).config["source_subset"] == sorted(int(u) for u in uids)
