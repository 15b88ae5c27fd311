"""Embedders: the pretrained digits CNN, pixels, torchvision and transformers entries, device, disk cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from da_core import embed as E
from da_core.data import load_dataset
from da_core.embed import EmbedderUnavailable, embed, embed_pair, get_embedder, list_embedders, pick_device
from da_core.models import load_digits_cnn, source_accuracy


@pytest.fixture(scope="module")
def pair() -> tuple:
    return load_dataset("builtin:printed-digits?n=300&seed=3"), load_dataset("builtin:handwritten-digits?n=200")


def test_digits_cnn_is_pretrained_cached_and_accurate(pair: tuple) -> None:
    model, info = load_digits_cnn()
    assert info.source_accuracy >= 0.97
    path = Path(info.path)
    assert path.exists()
    # the checkpoint holds only tensors and strings: loadable with weights_only=True
    blob = torch.load(path, weights_only=True)
    assert set(blob) == {"state_dict", "info"}
    again, info2 = load_digits_cnn()
    assert info2.sha == info.sha
    assert source_accuracy(again, pair[0]) >= 0.95


def test_embeddings_shape_determinism_and_cache(pair: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    src = pair[0]
    first = embed(src, "digits-cnn", use_cache=False)
    assert first.vectors.shape == (len(src), 128) and first.vectors.dtype == np.float32
    assert not first.cached and np.isfinite(first.vectors).all()
    stored = embed(src, "digits-cnn")
    np.testing.assert_allclose(stored.vectors, first.vectors, rtol=1e-5, atol=1e-5)

    def no_model(*_a: object, **_k: object) -> None:
        raise AssertionError("embedded again instead of reading the cache")

    monkeypatch.setattr(E, "run_model", no_model)
    cached = embed(src, "digits-cnn")
    assert cached.cached and np.array_equal(cached.vectors, stored.vectors)
    assert isinstance(cached.vectors, np.memmap)  # paged in from the cache file, not read whole
    cached.vectors[:] = 0.0  # copy-on-write: the caller's change never reaches the file
    assert np.array_equal(embed(src, "digits-cnn").vectors, stored.vectors)


def test_embeddings_separate_the_domains(pair: tuple) -> None:
    xs, xt, info = embed_pair(*pair, "digits-cnn")
    assert xs.shape[1] == xt.shape[1] == 128
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    x = np.concatenate([xs[:200], xt[:200]])
    domain = np.r_[np.zeros(200), np.ones(200)]
    assert cross_val_score(LogisticRegression(max_iter=2000), x, domain, cv=4).mean() > 0.9


def test_pixels_embedder_joint_pca_and_raw(pair: tuple) -> None:
    xs, xt, _ = embed_pair(*pair, "pixels")
    assert xs.shape == (300, 50) and xt.shape == (200, 50)
    raw_s, raw_t, _ = embed_pair(*pair, "pixels?pca=0")
    assert raw_s.shape == (300, 784)
    np.testing.assert_allclose(raw_s[0], pair[0].images[0].flatten().numpy() / 255.0, atol=1e-6)


def test_unknown_embedders_are_refused() -> None:
    with pytest.raises(EmbedderUnavailable, match="unknown embedder"):
        get_embedder("word2vec")
    with pytest.raises(EmbedderUnavailable, match="unknown torchvision architecture"):
        get_embedder("torchvision:resnet9000")


def test_torchvision_entry_says_which_file_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("DA_ALLOW_DOWNLOAD", raising=False)
    emb = get_embedder("torchvision:resnet18")
    reason = emb.unavailable()
    assert reason is not None and "resnet18-" in reason and str(tmp_path / "torch") in reason
    listed = dict((info.id, why) for info, why in list_embedders())
    assert listed["digits-cnn"] is None and listed["torchvision:resnet18"] is not None
    ds = load_dataset("builtin:printed-digits?n=20")
    with pytest.raises(EmbedderUnavailable, match="resnet18-"):
        embed(ds, emb)


def test_torchvision_weights_from_the_hub_cache_are_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from torchvision.models import get_model

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    emb = get_embedder("torchvision:resnet18")
    path = emb.weights_path()
    path.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(get_model("resnet18", weights=None).state_dict(), path)
    assert emb.unavailable() is None
    ds = load_dataset("builtin:printed-digits?n=10")
    out = embed(ds, emb, use_cache=False)
    assert out.vectors.shape == (10, 512)  # the head is removed: penultimate features


def _tiny_vit(folder: Path) -> Path:
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    torch.manual_seed(0)
    config = ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
                       image_size=28, patch_size=7, num_channels=3)
    ViTModel(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": 28, "width": 28}).save_pretrained(folder)
    return folder


def test_hf_model_from_a_local_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    folder = _tiny_vit(tmp_path / "vit")
    seen: list[dict] = []
    original = transformers.AutoModel.from_pretrained

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(dict(kwargs))
        return original(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", spy)
    ds = load_dataset("builtin:textured-digits?n=12")
    out = embed(ds, f"hf:{folder}", use_cache=False)
    assert out.vectors.shape == (12, 32) and np.isfinite(out.vectors).all()
    assert seen and seen[0]["local_files_only"] is True and seen[0]["trust_remote_code"] is False


def test_hf_missing_model_is_unavailable_with_a_hint(tmp_path: Path) -> None:
    emb = get_embedder(f"hf:{tmp_path / 'nothing-here'}")
    assert "save_pretrained" in (emb.unavailable() or "")


def test_device_is_cuda_when_present() -> None:
    dev = pick_device("auto")
    assert dev.type == ("cuda" if torch.cuda.is_available() else dev.type)
    assert pick_device("cpu").type == "cpu"


def test_the_registry_takes_a_text_embedder_through_the_same_contract(tmp_path, monkeypatch) -> None:
    """A sentence-encoder-like entry (lists of strings in, vectors out) needs no special case anywhere."""
    import pandas as pd
    import torch
    from torch import nn

    from da_core.data import Dataset
    from da_core.embed import embedders as registry
    from da_core.errors import ModalityError

    monkeypatch.setenv("DA_CACHE_DIR", str(tmp_path))
    calls: list[int] = []

    class BagOfLetters(registry.Embedder):
        info = registry.EmbedderInfo("letters", "Letter counts", "text", None, "none", dim=26, trainable=False)
        mixed_precision = False

        def load(self, device, progress=None):  # noqa: ANN001, ANN201
            return nn.Identity().to(device)

        def collate(self, items, device):  # noqa: ANN001, ANN201
            calls.append(len(items))
            counts = [[t.lower().count(chr(97 + i)) for i in range(26)] for t in items]
            return torch.tensor(counts, dtype=torch.float32, device=device)

        def preprocess(self, batch):  # noqa: ANN001, ANN201
            return batch

        def batch_size(self, device):  # noqa: ANN001, ANN201
            return 3

    monkeypatch.setitem(registry._EMBEDDERS, "letters", registry.EmbedderEntry(
        "letters", lambda _r, _o: BagOfLetters(), lambda: [BagOfLetters()], "text", "letters"))
    assert [info.id for info, _ in list_embedders("text")] == ["minilm", "tfidf", "letters"]
    assert [e.prefix for e in registry.free_form_embedders("image")] == ["hf:"]
    assert [e.prefix for e in registry.free_form_embedders("text")] == ["hf:"]  # a text encoder's folder too
    assert "letters" not in [info.id for info, _ in list_embedders("image")]
    ds = Dataset.from_texts(["abc", "aaa", "zz", "hello", "b", ""], [0, 1, 0, 1, 0, 1], ["x", "y"],
                            pd.DataFrame(index=range(6)), "t")
    out = embed(ds, "letters", device="cpu")
    assert out.vectors.shape == (6, 26) and calls == [3, 3]  # batches of the content, through collate
    assert out.vectors[1, 0] == 3 and out.vectors[2, 25] == 2 and not out.vectors[5].any()
    assert embed(ds, "letters", device="cpu").cached and calls == [3, 3]
    images = get_embedder("digits-cnn")
    with pytest.raises(ModalityError, match="embedder 'letters' takes text data"):
        from da_core.data import load_dataset

        embed(load_dataset("builtin:printed-digits?n=20"), "letters")
    with pytest.raises(Exception, match="no trainable layers"):
        BagOfLetters().backbone(["x", "y"], torch.device("cpu"))
    assert images.info.dim == 128 and images.info.trainable and "cpu" in images.info.devices
