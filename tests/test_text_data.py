"""The text built-ins (the VADER ground-truth corpora fetched at set-up): labels by the sign of the rating with a
neutral margin or class, n and seed, the rating in meta; the fetch step's checksums (a failure leaves no file);
and the default text pair's real gap."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from da_core import config
from da_core.data import DEFAULT_TEXT_SOURCE, DEFAULT_TEXT_TARGET, load_dataset, vader
from da_core.errors import DatasetError

GENRES = {"reviews-products": "products", "reviews-movies": "movies", "editorials-news": "editorials",
          "tweets": "tweets"}


def test_the_corpora_are_in_the_cache_after_set_up() -> None:
    # `make setup` runs `python -m da_core fetch-text`; conftest copies its files into the session's cache
    assert vader.corpora_present(), f"run {vader.FETCH_COMMAND} (make setup does)"


@pytest.mark.parametrize("name", list(GENRES))
def test_each_builtin_labels_real_texts_by_the_sign_of_their_rating(name: str) -> None:
    table = vader.read_corpus(GENRES[name])
    assert len(table) == vader.CORPORA[GENRES[name]][2]  # every line of the file, CRLF ends stripped
    ds = load_dataset(f"builtin:{name}")
    assert ds.modality == "text" and ds.classes == ["negative", "positive"]
    ratings = ds.meta["rating"].to_numpy()
    labels = ds.labels.numpy()
    assert (ratings[labels == 0] <= -0.5).all() and (ratings[labels == 1] >= 0.5).all()
    assert len(ds) == int((np.abs(table["rating"]) >= 0.5).sum())  # |rating| < 0.5 dropped as neutral
    assert not any("\r" in t or not t.strip() for t in ds.texts)
    assert len(set(ds.uids)) == len(ds) and ds.uids[0].startswith(GENRES[name] + ":")
    by_uid = dict(zip(GENRES[name] + ":" + table["vader_id"], table["text"]))
    assert all(by_uid[u] == t for u, t in zip(ds.uids[:50], ds.texts[:50]))
    assert any("dropped as neutral" in note for note in ds.report.notes)


def test_margin_neutral_class_n_and_seed() -> None:
    full = load_dataset("builtin:tweets?neutral=1")
    assert full.classes == ["negative", "neutral", "positive"] and len(full) == 4200
    r, y = full.meta["rating"].to_numpy(), full.labels.numpy()
    assert (np.abs(r[y == 1]) < 0.5).all() and (r[y == 0] <= -0.5).all() and (r[y == 2] >= 0.5).all()
    strict = load_dataset("builtin:tweets?margin=2")
    assert (np.abs(strict.meta["rating"]) >= 2).all() and len(strict) < len(load_dataset("builtin:tweets"))
    assert len(load_dataset("builtin:tweets?margin=0")) == int((vader.read_corpus("tweets")["rating"] != 0).sum())
    a = load_dataset("builtin:reviews-movies?n=200&seed=1")
    b = load_dataset("builtin:reviews-movies?n=200&seed=1")
    c = load_dataset("builtin:reviews-movies?n=200&seed=2")
    assert len(a) == 200 and a.texts == b.texts and a.texts != c.texts
    whole = load_dataset("builtin:reviews-movies").counts
    assert abs(a.counts["positive"] / 200 - whole["positive"] / sum(whole.values())) < 0.02  # stratified


def test_label_ratings_by_sign() -> None:
    labels, classes = vader.label_ratings(np.array([-2.0, -0.4, 0.0, 0.4, 0.5, -0.5]))
    assert classes == ["negative", "positive"] and labels.tolist() == [0, -1, -1, -1, 1, 0]
    labels, classes = vader.label_ratings(np.array([-2.0, -0.4, 0.0, 3.0]), margin=0.5, neutral=True)
    assert classes == ["negative", "neutral", "positive"] and labels.tolist() == [0, 1, 1, 2]


def test_missing_corpora_say_which_command_fetches_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DA_CACHE_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match="python -m da_core fetch-text"):
        load_dataset("builtin:tweets")


def _fake_sdist(path: Path, files: dict[str, bytes]) -> Path:
    """A tar.gz laid out like the vadersentiment sdist, holding the inner archive with ``files``."""
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"hutto_ICWSM_2014/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(vader.INNER_ARCHIVE)
        info.size = len(inner.getvalue())
        tar.addfile(info, io.BytesIO(inner.getvalue()))
    return path


def _left(tmp_path: Path) -> list[str]:
    text = tmp_path / "cache" / "text"
    return sorted(p.name for p in text.rglob("*")) if text.exists() else []


def test_fetch_refuses_a_bad_checksum_and_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DA_CACHE_DIR", str(tmp_path / "cache"))
    sdist = _fake_sdist(tmp_path / vader.SDIST_NAME, {name: b"1\t2.0\tgood\r\n" for name, _, _ in
                                                      vader.CORPORA.values()})
    with pytest.raises(DatasetError, match="checksum mismatch for vaderSentiment-3.3.2.tar.gz.*nothing was extracted"):
        vader.fetch_corpora(sdist)
    assert _left(tmp_path) == []
    # the sdist passes (its own sha given), but the files inside are not the pinned ones: still nothing left
    with pytest.raises(DatasetError, match="checksum mismatch for .*GroundTruth.txt"):
        vader.fetch_corpora(sdist, sdist_sha256=vader._sha256(sdist))
    assert _left(tmp_path) == []
    with pytest.raises(DatasetError, match="lacks"):
        broken = _fake_sdist(tmp_path / "other.tar.gz", {"tweets_GroundTruth.txt": b"x"})
        vader.fetch_corpora(broken, sdist_sha256=vader._sha256(broken))
    assert _left(tmp_path) == []


def test_fetch_extracts_only_the_ground_truth_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = config.text_corpora_dir()
    files = {name: (real / name).read_bytes() for name, _, _ in vader.CORPORA.values()}
    files["vader_sentiment_lexicon.txt"] = b"not wanted"
    sdist = _fake_sdist(tmp_path / vader.SDIST_NAME, files)
    monkeypatch.setenv("DA_CACHE_DIR", str(tmp_path / "cache"))
    done = vader.fetch_corpora(sdist, sdist_sha256=vader._sha256(sdist))
    assert done["status"] == "fetched" and vader.corpora_present()
    assert _left(tmp_path) == sorted(["vader-3.3.2", *(n for n, _, _ in vader.CORPORA.values())])
    assert vader.fetch_corpora()["status"] == "present"  # quick, and no download, when they are there
    assert len(load_dataset("builtin:tweets?neutral=1")) == 4200


def test_the_default_text_pair_has_a_real_gap() -> None:
    from da_core.gap import mmd2, mmd2_test
    from da_core.gap_workflow import embed_for_gap
    from da_core.probe import fit_linear_probe

    source = load_dataset(f"{DEFAULT_TEXT_SOURCE}?n=500")
    target = load_dataset(f"{DEFAULT_TEXT_TARGET}?n=500")
    pair = embed_for_gap(source, target, max_samples=None)
    assert pair.embedder == "minilm"  # the text default
    value, p, bandwidth = mmd2_test(pair.xs, pair.xt, n_permutations=200, device="cpu")
    halves = np.random.default_rng(0).permutation(len(pair.xs))
    baseline = mmd2(pair.xs[halves[:250]], pair.xs[halves[250:]], bandwidth, device="cpu")
    assert p < 0.01 and value > 5 * max(baseline, 1e-6)  # the genres separate; two halves of one do not
    # a probe trained on movie reviews does much worse on held-out tweets than one trained on tweets: the gap
    # that adaptation can close (benchmarks/text_transfer_table.py measures it on the whole corpora)
    train, held = pair.target.split(0.3, seed=0)
    pos = {u: i for i, u in enumerate(pair.target.uids)}
    tr, te = (np.array([pos[u] for u in part.uids]) for part in (train, held))
    yt = pair.target.labels.numpy()
    from_source = fit_linear_probe(pair.xs, pair.source.labels.numpy(), 2).predict(pair.xt[te])
    from_target = fit_linear_probe(pair.xt[tr], yt[tr], 2).predict(pair.xt[te])
    assert (from_source == yt[te]).mean() < (from_target == yt[te]).mean() - 0.1


def test_fetch_without_network_says_how_to_do_it_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    calls: list[list[str]] = []

    def offline(cmd: list[str], **_kw: object) -> subprocess.CompletedProcess:
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: Could not find a version that satisfies the requirement")

    monkeypatch.setenv("DA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(vader.subprocess, "run", offline)
    with pytest.raises(DatasetError, match=r"pip could not download vadersentiment==3\.3\.2 .*--sdist PATH"):
        vader.fetch_corpora()
    assert calls and calls[0][-1] == "vadersentiment==3.3.2" and ":all:" in calls[0]  # the sdist, not the wheel
    assert _left(tmp_path) == []
