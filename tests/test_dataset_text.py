"""The text form of Dataset: the same subset, split, class alignment, caps, uids and fingerprint as images, a
summary with text-length statistics, and modality checks that name both sides."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from da_core.augment import Pipeline
from da_core.data import Dataset, align_classes, align_pair, check_usable
from da_core.embed import embed, list_embedders
from da_core.errors import DatasetError, ModalityError
from da_core.train.config import TrainConfig
from da_core.train.trainer import Trainer, prepare_data

WORDS = ["good", "bad", "plot", "actor", "great", "boring", "fine", "awful", "story", "music"]


def _texts(n: int, classes: list[str], seed: int = 0, domain: str = "reviews") -> Dataset:
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(3, 12))) for _ in range(n)]
    labels = rng.permutation(np.arange(n) % len(classes))
    meta = pd.DataFrame({"uid": [f"{domain}:{i}" for i in range(n)], "rating": rng.normal(size=n)})
    return Dataset.from_texts(texts, labels, classes, meta, domain)


def test_text_form_holds_strings_and_refuses_bad_input() -> None:
    ds = _texts(30, ["neg", "pos"])
    assert ds.modality == "text" and ds.images is None and len(ds) == 30
    assert ds.content is ds.texts and all(isinstance(t, str) for t in ds.texts)
    assert check_usable(ds) is ds
    with pytest.raises(ValueError, match="either images or texts"):
        Dataset(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(2), ["a"], pd.DataFrame(index=range(2)),
                "x", texts=["a", "b"])
    with pytest.raises(ValueError, match="list of strings"):
        Dataset.from_texts(["a", 3], [0, 1], ["a", "b"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="one label per text"):
        Dataset.from_texts(["a", "b"], [0, 1, 1], ["a", "b"])
    with pytest.raises(DatasetError, match="no texts were loaded"):
        check_usable(Dataset.from_texts([], [], ["a", "b"], domain="empty"))
    with pytest.raises(ModalityError, match="holds text: it has no image shape"):
        _ = ds.shape


def test_take_split_cap_and_uids_follow_the_texts() -> None:
    ds = _texts(60, ["neg", "pos", "mixed"])
    sub = ds.take([5, 2, 40])
    assert sub.texts == [ds.texts[5], ds.texts[2], ds.texts[40]]
    assert sub.uids == ["reviews:5", "reviews:2", "reviews:40"]
    assert sub.labels.tolist() == [int(ds.labels[i]) for i in (5, 2, 40)]
    assert list(sub.meta["rating"]) == [ds.meta["rating"][i] for i in (5, 2, 40)]
    mask = np.zeros(60, dtype=bool)
    mask[[1, 3]] = True
    assert ds.subset(mask).texts == [ds.texts[1], ds.texts[3]]

    rest, held = ds.split(0.25, seed=1)
    assert len(rest) + len(held) == 60 and not set(rest.uids) & set(held.uids)
    assert set(held.counts) == {"neg", "pos", "mixed"} and min(held.counts.values()) >= 1
    for part in (rest, held):  # every text keeps its label and uid
        for uid, text, label in zip(part.uids, part.texts, part.labels.tolist()):
            i = ds.uids.index(uid)
            assert (ds.texts[i], int(ds.labels[i])) == (text, label)

    capped = ds.capped(30, seed=0)
    assert len(capped) == 30 and capped.counts == {"neg": 10, "pos": 10, "mixed": 10}
    assert capped.texts == ds.capped(30, seed=0).texts and capped.texts != ds.capped(30, seed=1).texts
    pos, _, _ = ds.positions_of(capped.uids)
    assert [ds.texts[i] for i in pos] == capped.texts


def test_class_alignment_of_two_text_domains() -> None:
    src = _texts(40, ["neg", "pos", "mixed"], domain="movies")
    tgt = _texts(30, ["pos", "neg"], seed=1, domain="tweets")
    a, b, alignment = align_classes(src, tgt)
    assert alignment.shared == ["neg", "pos"] and alignment.only_source == ["mixed"]
    assert a.classes == b.classes == ["neg", "pos"] and a.modality == b.modality == "text"
    for ds, orig in ((a, src), (b, tgt)):  # labels re-mapped by name, texts kept
        for uid, text, label in zip(ds.uids, ds.texts, ds.labels.tolist()):
            i = orig.uids.index(uid)
            assert orig.texts[i] == text and orig.classes[int(orig.labels[i])] == ds.classes[label]
    pa, pb, pair = align_pair(src, tgt)
    assert pair.shape is None and not pair.conversions and pa.texts == a.texts and pb.texts == b.texts
    assert pair.to_dict()["shape"] is None


def test_fingerprint_hashes_the_text_content() -> None:
    a = _texts(20, ["neg", "pos"])
    assert a.fingerprint == _texts(20, ["neg", "pos"]).fingerprint
    assert a.fingerprint != _texts(20, ["neg", "pos"], seed=3).fingerprint
    changed = Dataset.from_texts([a.texts[0] + "!"] + a.texts[1:], a.labels, a.classes, a.meta, a.domain)
    assert changed.fingerprint != a.fingerprint
    moved = Dataset.from_texts(["ab", "c"], [0, 1], ["x", "y"])  # no ambiguity where one text ends
    assert moved.fingerprint != Dataset.from_texts(["a", "bc"], [0, 1], ["x", "y"]).fingerprint
    relabelled = Dataset.from_texts(a.texts, 1 - a.labels, a.classes, a.meta, a.domain)
    assert relabelled.fingerprint != a.fingerprint
    assert a.take(np.arange(20)).fingerprint == a.fingerprint


def test_summary_fits_the_form() -> None:
    ds = Dataset.from_texts(["one two three", "four", "", "five six"], [0, 1, 0, 1], ["a", "b"], domain="t")
    s = ds.summary()
    assert s["modality"] == "text" and s["n"] == 4 and s["counts"] == {"a": 2, "b": 2}
    assert s["words_mean"] == 1.5 and s["words_min"] == 0 and s["words_max"] == 3 and s["empty"] == 1
    assert s["chars_mean"] == pytest.approx((13 + 4 + 0 + 8) / 4, abs=0.05)
    assert "shape" not in s and "mean" not in s
    images = Dataset(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.tensor([0, 1]), ["a", "b"],
                     pd.DataFrame(index=range(2)), "img").summary()
    assert images["modality"] == "image" and images["shape"] == [1, 4, 4] and "words_mean" not in images


def test_image_things_refuse_text_naming_both() -> None:
    ds = _texts(40, ["neg", "pos"])
    with pytest.raises(ModalityError, match=r"embedder 'digits-cnn' takes image data, but dataset 'reviews' "
                                            r"holds text"):
        embed(ds, "digits-cnn")
    pipeline = Pipeline.from_dict({"ops": [{"name": "rotation"}]})
    with pytest.raises(ModalityError, match=r"augmentation op 'rotation' takes image data, but dataset 'reviews'"):
        pipeline.check_fits(ds)
    config = TrainConfig(source="text-a", target="text-b", epochs=1, device="cpu")
    data = prepare_data(config, ds, _texts(30, ["neg", "pos"], seed=2, domain="tweets"))
    with pytest.raises(ModalityError, match=r"backbone 'digits-cnn' takes image data, but dataset 'reviews'"):
        Trainer(config, data).run()
    assert all(info.modality == "image" for info, _ in list_embedders("image"))
    assert [info.id for info, _ in list_embedders("text")] == ["minilm", "tfidf"]  # the pages offer only these


def test_a_pair_of_two_modalities_is_refused() -> None:
    from da_core.data import load_dataset

    images = load_dataset("builtin:printed-digits?n=40")
    with pytest.raises(ModalityError, match="holds image and target 'reviews' holds text"):
        align_pair(images, _texts(20, [str(i) for i in range(10)]))


def test_a_pipeline_mixing_image_and_text_ops_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from da_core.augment import ops

    text_op = dataclasses.replace(ops.OPS["rotation"], name="word_swap", modality="text")
    monkeypatch.setitem(ops.OPS, "word_swap", text_op)
    text_only = Pipeline.from_dict({"ops": [{"name": "word_swap"}]})
    assert text_only.modality == "text"
    text_only.check_fits(_texts(10, ["neg", "pos"]))  # fits: no error
    with pytest.raises(ModalityError, match="'rotation' is an image op and 'word_swap' a text op"):
        Pipeline.from_dict({"ops": [{"name": "rotation"}, {"name": "word_swap"}]})
    with pytest.raises(ValueError, match="pipeline.ops: 'rotation' is an image op"):
        TrainConfig(pipeline={"ops": [{"name": "rotation"}, {"name": "word_swap"}]}).validate()
