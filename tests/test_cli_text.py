"""The command line on text specs: ``describe`` reports ``modality`` and text lengths, ``gap`` and ``select`` give
the JSON shapes they give for images (the embedder defaults to the modality's), ``fetch-text`` is quick when the
corpora are there, and a mixed image/text pair is one line, exit 2."""

from __future__ import annotations

import json
from typing import Any

import pytest

from da_core.cli import main

SOURCE = "builtin:reviews-movies?n=120"
TARGET = "builtin:tweets?n=80"


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_describe_a_text_builtin(capsys: pytest.CaptureFixture[str]) -> None:
    info = _json(capsys, ["describe", "builtin:tweets?n=50", "--json"])
    assert info["modality"] == "text" and info["n"] == 50 and set(info["counts"]) == {"negative", "positive"}
    assert info["words_min"] >= 1 and "shape" not in info
    image = _json(capsys, ["describe", "builtin:printed-digits?n=20", "--json"])
    assert image["modality"] == "image" and image["shape"] == [1, 28, 28]
    assert main(["describe", "builtin:editorials-news?n=40"]) == 0
    out = capsys.readouterr().out
    assert "(text)" in out and "words per text" in out and "negative=" in out


def test_gap_and_select_on_a_text_pair(capsys: pytest.CaptureFixture[str]) -> None:
    # tfidf at 16 dimensions keeps the metrics' bootstraps quick; the Gap page's test covers minilm there
    gap = _json(capsys, ["gap", "--source", SOURCE, "--target", TARGET, "--embedder", "tfidf?dim=16",
                         "--permutations", "50", "--json"])
    assert gap["embedder"] == "tfidf?dim=16" and gap["n_source"] == 120 and gap["n_target"] == 80
    assert "mmd2" in gap["metrics"] and "probe" in gap and gap["alignment"]["shape"] is None
    sel = _json(capsys, ["select", "--source", SOURCE, "--target", TARGET, "--method", "dsir", "--top", "0.5",
                         "--json"])
    assert sel["method"] == "dsir" and sel["embedder"] == "minilm" and sel["n_selected"] == 60  # text's default
    assert {"gap_before", "gap_after", "random_baseline", "curve", "notes"} <= set(sel)


def test_text_mistakes_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gap", "--source", SOURCE, "--target", "builtin:printed-digits?n=20"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a pair needs two domains of one modality" in err[0]
    assert main(["select", "--source", "builtin:printed-digits?n=30", "--target", "builtin:printed-digits?n=30",
                 "--method", "dsir"]) == 2
    assert "selector 'dsir' takes text data" in capsys.readouterr().err


def test_fetch_text_is_quick_when_present(capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(capsys, ["fetch-text", "--json"])
    assert out["status"] == "present" and len(out["files"]) == 4


def test_augment_on_a_text_pair(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    code = tmp_path / "aug.py"
    out = _json(capsys, ["augment", "--source", SOURCE, "--target", TARGET, "--strengths", "0,0.45,1",
                         "--embedder", "tfidf?dim=16", "--code", str(code), "--json"])
    assert out["embedder"] == "tfidf?dim=16" and [r["strength"] for r in out["results"]] == [0, 0.45, 1]
    assert out["results"][0]["affinity"] == 1.0 and out["results"][0]["label_flip_rate"] == 0
    assert out["synonym_source"] and len(out["examples"]) == 6
    still = [e for e in out["examples"] if e["strength"] == 0]
    assert all(e["augmented"] == e["original"] for e in still)
    assert any(e["augmented"] != e["original"] for e in out["examples"] if e["strength"] == 1)
    namespace: dict[str, Any] = {}
    exec(compile(code.read_text(), str(code), "exec"), namespace)  # the exported code runs and is seeded
    text = "the acting is wooden and the plot never gets going , a long and dull film"
    assert namespace["augment"]([text]) == namespace["augment"]([text]) != [text]
    assert main(["augment", "--source", SOURCE, "--target", TARGET, "--sheet", str(tmp_path / "s.png")]) == 2
    assert "a contact sheet shows images" in capsys.readouterr().err


def test_train_sweep_and_compare_on_a_text_pair(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"max_steps": 3, "batch_size": 8, "eval_samples": 30, "evals_per_epoch": 1,
                                  "device": "cpu"}))
    run = _json(capsys, ["train", "--source", SOURCE, "--target", TARGET, "--config", str(config), "--mode", "lora",
                         "--lora-rank", "2", "--lora-targets", "query,key,value", "--json"])
    assert run["status"] == "finished" and run["final"]["steps"] == 3
    assert run["final"]["trainable_params"] == 6 * 3 * 2 * (384 + 384) + 384 * 2 + 2
    sweep = _json(capsys, ["sweep", "--source", SOURCE, "--target", TARGET, "--config", str(config), "--mode",
                           "linear", "--strengths", "0,0.5", "--seeds", "1", "--json"])
    assert sweep["status"] == "finished" and [r["strength"] for r in sweep["summary"]] == [0, 0.5]
    study = _json(capsys, ["compare", "--source", SOURCE, "--target", TARGET, "--config", str(config), "--arms",
                           "source-only,selected,augmented", "--method", "dsir", "--seeds", "1", "--strength", "0.45",
                           "--json"])
    arms = {a["name"]: a for a in study["arms"]}
    assert set(arms) == {"source-only", "selected", "augmented"} and all(a["n"] == 1 for a in arms.values())
    assert "dsir" in arms["selected"]["title"] and "s=0.45" in arms["augmented"]["title"]
