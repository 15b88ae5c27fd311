"""Text runs through the trainer: MiniLM with a linear head, in full and with LoRA adapters (peft); the base
weights stay untouched under LoRA and move under full fine-tuning; text augmentation on the fly is seeded;
the text defaults; DANN on text features."""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Any

import numpy as np
import pytest
import torch

from da_core.data import load_dataset
from da_core.errors import SpecError
from da_core.train.config import TEXT_DEFAULTS, TrainConfig, config_for, pair_config
from da_core.train.trainer import Trainer, prepare_data

PAIR = {"source": "builtin:reviews-movies", "target": "builtin:tweets"}
SHORT = {**PAIR, "device": "cpu", "batch_size": 16, "max_steps": 12, "eval_samples": 120, "max_length": 48,
         "target_labels_per_class": 4, "evals_per_epoch": 1}
EDA = {"ops": [{"name": "synonym_replacement"}, {"name": "random_deletion"}], "strength": 0.45, "seed": 0}


def _part(spec: str, per_class: int) -> Any:
    ds = load_dataset(spec)
    labels = ds.labels.numpy()
    rng = np.random.default_rng(0)
    keep = np.sort(np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in (0, 1)]))
    return ds.take(keep)


@cache
def _pair() -> tuple[Any, Any]:
    """Small parts of the default text pair (movie reviews -> tweets), so each run takes seconds."""
    return _part(PAIR["source"], 200), _part(PAIR["target"], 150)


def _run(**changes: Any) -> tuple[Trainer, Any]:
    config = config_for("text", {**SHORT, **changes})
    source, target = _pair()
    trainer = Trainer(config, prepare_data(config, source, target))
    return trainer, trainer.run()


def _digest(model: torch.nn.Module, skip: str | None = None) -> dict[str, str]:
    """Each parameter's hash by its name in the original model (peft's ``base_layer`` wrapping removed)."""
    out = {}
    for name, p in model.named_parameters():
        if skip is not None and skip in name:
            continue
        out[name.replace(".base_layer", "")] = hashlib.blake2b(p.detach().cpu().numpy().tobytes()).hexdigest()
    return out


def _majority(trainer: Trainer) -> float:
    labels = trainer.data.target_eval.labels.numpy()
    return float(np.bincount(labels).max() / len(labels))


def test_lora_trains_only_the_adapters_and_beats_chance() -> None:
    from da_core.embed import get_embedder

    fresh = _digest(get_embedder("minilm").backbone(["negative", "positive"], torch.device("cpu")).module)
    trainer, result = _run(mode="lora", lora_rank=4, lora_alpha=8)
    assert result.status == "finished", result.message
    after = _digest(trainer.model.backbone, skip="lora_")
    assert after == fresh  # every base weight as loaded: only the adapters changed
    adapters = [n for n, p in trainer.model.backbone.named_parameters() if p.requires_grad]
    assert adapters and all("lora_" in n for n in adapters)
    assert {n.split(".lora_A")[0].rsplit(".", 1)[-1] for n in adapters if "lora_A" in n} == {"query", "value"}
    counts = result.details["parameters"]
    # rank 4 on query and value (384 -> 384) in 6 layers, plus the 2-class head
    assert counts["trainable"] == 6 * 2 * 4 * (384 + 384) + 384 * 2 + 2
    assert counts["total"] > 22_000_000 and counts["share"] < 0.005
    assert result.final["trainable_params"] == counts["trainable"]
    assert result.final["target_acc"] > max(0.5, _majority(trainer))


def test_full_fine_tuning_changes_the_encoder_and_beats_chance() -> None:
    from da_core.embed import get_embedder

    fresh = _digest(get_embedder("minilm").backbone(["negative", "positive"], torch.device("cpu")).module)
    trainer, result = _run(mode="full")
    assert result.status == "finished", result.message
    after = _digest(trainer.model.backbone)
    assert after.keys() == fresh.keys()
    changed = [n for n in fresh if after[n] != fresh[n]]
    assert len(changed) > len(fresh) // 2  # the encoder itself learned
    assert result.details["parameters"]["share"] == 1.0
    assert result.final["target_acc"] > max(0.5, _majority(trainer))


def test_a_linear_head_on_the_frozen_encoder_is_seeded_also_with_text_augmentation() -> None:
    first = _run(mode="linear", pipeline=EDA, augment_on="target", seed=3)[1]
    again = _run(mode="linear", pipeline=EDA, augment_on="target", seed=3)[1]
    other = _run(mode="linear", pipeline=EDA, augment_on="target", seed=4)[1]
    assert first.status == "finished"
    assert first.final["train_loss"] == again.final["train_loss"]
    assert first.final["target_acc"] == again.final["target_acc"]
    assert first.final["train_loss"] != other.final["train_loss"]
    assert first.details["parameters"]["trainable"] == 384 * 2 + 2
    assert first.final["affinity"] is not None and 0.5 < first.final["affinity"] <= 1.2


def test_text_augmentation_edits_only_the_rows_augment_on_names() -> None:
    from da_core.train.augmenting import Augmenter
    from da_core.train.data import Batch, DataPlan

    config = config_for("text", {**SHORT, "pipeline": {**EDA, "strength": 1.0}, "augment_on": "target"})
    source, target = _pair()
    data = prepare_data(config, source, target)
    trainer = Trainer(config, data)
    from da_core.embed import get_embedder

    bb = get_embedder("minilm").backbone(data.classes, torch.device("cpu"))
    plan = DataPlan(data, config, torch.device("cpu"), bb.encode)
    idx = torch.cat([torch.arange(4), torch.arange(plan.n_source, plan.n_source + 4)])
    batch = plan.collate(idx)
    assert batch.texts is not None and batch.from_target.tolist() == [False] * 4 + [True] * 4
    run = type("R", (), {"augment": Augmenter(config, data, plan), "aug_gen": torch.Generator().manual_seed(0),
                         "k": 2})()
    out = trainer._augment(run, Batch(batch.inputs, batch.labels, from_target=batch.from_target, texts=batch.texts))
    assert out.texts[:4] == batch.texts[:4] and out.texts[4:] != batch.texts[4:]
    assert torch.equal(out.inputs[:4], batch.inputs[:4])
    assert torch.equal(out.inputs[4:], plan.encode(out.texts[4:]))  # the edited texts, tokenized again


def test_dann_on_text_features_logs_its_domain_loss() -> None:
    _, result = _run(mode="lora", dann=True, max_steps=4)
    assert result.status == "finished" and result.history
    assert 0 < result.history[-1]["domain_loss"] < 5


def test_a_text_pair_starts_from_the_text_defaults() -> None:
    config = pair_config(dict(PAIR))
    assert config.backbone == "minilm" and config.mode == TEXT_DEFAULTS["mode"]
    assert config.max_steps == TEXT_DEFAULTS["max_steps"] and config.eval_samples == 500
    assert pair_config({**PAIR, "lr": 0.005}).lr == 0.005  # a given field keeps its value
    image = pair_config({})
    assert image.backbone == "digits-cnn" and image.eval_samples is None


@pytest.mark.parametrize(("changes", "message"), [
    ({"lora_rank": 0}, "lora_rank: must be in"),
    ({"lora_alpha": 0}, "lora_alpha: must be in"),
    ({"lora_targets": []}, "lora_targets: expected a non-empty list"),
    ({"lora_targets": "query"}, "lora_targets: expected a non-empty list"),
    ({"eval_samples": 3}, "eval_samples: must be in"),
    ({"dann": True, "mode": "linear"}, "needs mode 'full' or 'lora'"),
])
def test_bad_text_options_name_their_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        TrainConfig.from_dict({**PAIR, **changes})


def test_lora_on_modules_the_model_lacks_names_its_layers() -> None:
    with pytest.raises(SpecError, match="no module named 'attn'.*query"):
        _run(mode="lora", lora_targets=["attn"])
    with pytest.raises(SpecError, match="lora_targets: this backbone has no default modules"):
        Trainer(TrainConfig.from_dict({"source": "builtin:printed-digits?n=200",
                                       "target": "builtin:handwritten-digits?n=200", "mode": "lora",
                                       "device": "cpu"})).run()


def test_eval_samples_scores_a_fixed_stratified_part() -> None:
    config = config_for("text", {**SHORT, "eval_samples": 50})
    source, target = _pair()
    a, b = prepare_data(config, source, target), prepare_data(config.replace(seed=9), source, target)
    assert len(a.target_eval) == 50 and a.target_eval.uids == b.target_eval.uids
    shares = np.bincount(a.target_eval.labels.numpy()) / 50
    full = prepare_data(config.replace(eval_samples=None), source, target).target_eval.labels.numpy()
    assert np.allclose(shares, np.bincount(full) / len(full), atol=0.03)
    assert any("scored on 50 of the" in note for note in a.notes)


def test_adversarial_training_on_text_perturbs_the_word_embeddings_and_robustness_is_measured() -> None:
    steps: list[dict] = []
    config = config_for("text", {**SHORT, "mode": "lora", "max_steps": 3, "objective": "adversarial",
                                 "strength": 1.0, "adv_share": 1.0, "robust_samples": 20})
    source, target = _pair()
    result = Trainer(config, prepare_data(config, source, target),
                     callbacks=[lambda e, p: steps.append(p) if e == "step" else None]).run()
    assert result.status == "finished"
    assert [p["adv_eps"] for p in steps] == [pytest.approx(0.1)] * 3  # strength 1 x the text scale: FGM ran
    rob = result.final["robustness"]
    assert rob["attacks"] == ["fgm"] and rob["samples"] == 20
    assert list(rob["corruption_by_kind"]) == ["char_noise"] and len(rob["corruption_by_kind"]["char_noise"]) == 5
    assert rob["adv_curve"][0]["acc"] == rob["clean_acc"]
    assert rob["adv_curve"][-1]["acc"] <= rob["clean_acc"]
