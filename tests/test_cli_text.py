"""The command line on text specs: ``describe`` reports ``modality`` and text lengths, ``gap`` and ``select`` give
the JSON shapes they give for images (the embedder defaults to the modality's), ``fetch-text`` is quick when the
corpora are there, and a mixed image/text pair is one line, exit 2."""

from __future__ import annotations

import json

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
