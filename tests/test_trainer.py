"""Trainer: config validation, learning on the default pair, stop within one batch, divergence, determinism,
DANN, augmentation hook, data splits."""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
import pytest

from da_core.errors import SpecError
from da_core.train.config import TrainConfig, selection_from_csv
from da_core.train.trainer import Trainer, dann_lambda, prepare_data

SMALL = {"source": "builtin:printed-digits?n=600", "target": "builtin:handwritten-digits?n=600",
         "batch_size": 32, "device": "cpu"}
ROTATION = {"ops": [{"name": "rotation"}], "strength": 0.5, "seed": 0}


def small(**changes: Any) -> TrainConfig:
    return TrainConfig.from_dict({**SMALL, **changes})


class Recorder:
    """Callback keeping every event."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, event: str, payload: dict[str, Any]) -> None:
        self.events.append((event, dict(payload)))

    def steps(self) -> list[dict[str, Any]]:
        return [p for e, p in self.events if e == "step"]

    def of(self, event: str) -> list[dict[str, Any]]:
        return [p for e, p in self.events if e == event]


# ------------------------------------------------------------------------------------------ config


def test_config_json_round_trip() -> None:
    cfg = small(pipeline=ROTATION, strength=0.25, dann=True, lr=1e-3, max_steps=7, source_subset=[1, 2, 3])
    again = TrainConfig.from_json(cfg.to_json())
    assert again == cfg
    assert again.to_dict()["pipeline"] == ROTATION and again.max_steps == 7


@pytest.mark.parametrize(("changes", "field"), [
    ({"lr": -1}, "lr"),
    ({"lr": "fast"}, "lr"),
    ({"mode": "everything"}, "mode"),
    ({"batch_size": 1}, "batch_size"),
    ({"epochs": 1.5}, "epochs"),
    ({"bogus": 1}, "bogus"),
    ({"label_smoothing": 1.0}, "label_smoothing"),
    ({"strength": 2}, "strength"),
    ({"source_subset": [1, -2]}, "source_subset[1]"),
    ({"source_weights": [0, 0]}, "source_weights"),
    ({"source_subset": [1], "source_weights": [1.0]}, "source_subset"),
    ({"pipeline": {"ops": [{"name": "rotation", "degrees_range": [5]}]}}, "pipeline"),
    ({"pipeline": {"ops": [{"name": "no_such_op"}]}}, "pipeline.ops[0].name"),
    ({"dann": True, "mode": "linear"}, "dann"),
    ({"batch_size": 65536}, "batch_size"),
    ({"source_subset": [0, 1, 10**30]}, "source_subset[2]"),
    ({"source_weights": [1e308, 1e308, 1.0]}, "source_weights"),
])
def test_config_errors_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as info:
        TrainConfig.from_dict({**SMALL, **changes})
    assert field in str(info.value)


def test_selection_csv() -> None:
    assert selection_from_csv(b"index\n3\n1\n3\n") == {"source_subset": [1, 3]}
    assert selection_from_csv("index,weight\n0,0.5\n2,2\n") == {"source_weights": [0.5, 0.0, 2.0]}
    with pytest.raises(SpecError, match="index"):
        selection_from_csv(b"row\n1\n")
    with pytest.raises(SpecError, match="index"):  # too large for int64: a config error, not an OverflowError
        selection_from_csv(b"index\n0\n1000000000000000000000000000000\n")
    with pytest.raises(SpecError, match="far past"):  # would allocate a weight per index up to it
        selection_from_csv(b"index,weight\n0,1\n5000000000,1\n")


def test_dann_lambda_schedule() -> None:
    assert dann_lambda(0.0) == 0.0
    assert 0.98 < dann_lambda(1.0) < 1.0
    values = [dann_lambda(p / 10) for p in range(11)]
    assert values == sorted(values)


# ---------------------------------------------------------------------------------------------- data


def test_prepare_data_splits_are_disjoint_and_k_per_class() -> None:
    cfg = small(target_labels_per_class=3)
    data = prepare_data(cfg)
    assert data.classes == [str(i) for i in range(10)]
    counts = np.bincount(data.target_labelled.labels.numpy(), minlength=10)
    assert counts.tolist() == [3] * 10
    # labelled target samples come from the target training split, never from the evaluation split
    lab = {bytes(x.numpy().tobytes()) for x in data.target_labelled.images}
    held = {bytes(x.numpy().tobytes()) for x in data.target_eval.images}
    assert not lab & held
    assert len(data.source_train) + len(data.source_eval) == 600
    assert abs(len(data.target_eval) - 300) <= 10


def test_source_subset_and_weights_index_the_whole_source() -> None:
    full = prepare_data(small())
    data = prepare_data(small(source_subset=list(range(0, 600, 2))))
    assert 0 < len(data.source_train) <= 300
    assert len(data.source_eval) == len(full.source_eval)  # the held-out set does not depend on the selection
    weights = [1.0 if i < 300 else 0.0 for i in range(600)]
    data = prepare_data(small(source_weights=weights))
    assert data.source_weights is not None and len(data.source_weights) == len(data.source_train)
    assert 0 < float((data.source_weights > 0).float().mean()) < 1
    with pytest.raises(SpecError, match="one weight per source sample"):
        prepare_data(small(source_weights=[1.0] * 10))


# ------------------------------------------------------------------------------------------- training


def test_default_run_learns_the_target_and_loss_decreases() -> None:
    rec = Recorder()
    result = Trainer(small(epochs=2), callbacks=[rec]).run()
    assert result.status == "finished"
    final = result.final
    # the default recipe (full fine-tune + 10 labelled target per class) closes much of the gap
    assert final["target_acc"] > final["baseline_target_acc"] + 0.15, final
    assert final["source_acc"] > 0.85
    assert len(result.history) == 2 and result.history[-1]["step"] == final["steps"]
    assert rec.of("start")[0]["baseline"]["target_acc"] == pytest.approx(final["baseline_target_acc"])
    evals = rec.of("eval")
    per_epoch = final["steps"] // 2
    # the baseline, then evals_per_epoch = 2 evaluations in each epoch (half-way and at its end)
    assert [e["step"] for e in evals] == [0, round(per_epoch / 2), per_epoch, per_epoch + round(per_epoch / 2),
                                          2 * per_epoch]
    assert evals[-1]["target_acc"] == pytest.approx(final["target_acc"])
    assert len(result.details["confusion"]) == 10 and sum(map(sum, result.details["confusion"])) > 250

    rec = Recorder()
    result = Trainer(small(head_init="random", max_steps=20, lr=3e-3), callbacks=[rec]).run()
    losses = [p["train_loss"] for p in rec.steps()]
    assert len(losses) == 20
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:3]), losses


def test_stop_flag_ends_within_one_batch_and_keeps_metrics() -> None:
    stop = threading.Event()
    rec = Recorder()

    def stop_at_three(event: str, payload: dict[str, Any]) -> None:
        if event == "step" and payload["step"] == 3:
            stop.set()

    result = Trainer(small(epochs=5), callbacks=[rec, stop_at_three], stop=stop).run()
    assert result.status == "stopped"
    assert [p["step"] for p in rec.steps()] == [1, 2, 3]
    assert result.final["steps"] == 3 and result.final["target_acc"] is not None
    assert result.history and result.history[-1]["step"] == 3
    assert rec.of("end")[0]["status"] == "stopped"


def test_absurd_learning_rate_diverges_and_keeps_metrics() -> None:
    rec = Recorder()
    result = Trainer(small(optimizer="sgd", lr=1e5, momentum=0.9, max_steps=30, head_init="random"),
                     callbacks=[rec]).run()
    assert result.status == "diverged"
    assert "learning rate" in result.message
    assert result.final["steps"] < 30
    assert result.final["train_loss"] is None or math.isfinite(result.final["train_loss"])
    assert len(rec.steps()) == result.final["steps"]  # every step before the bad one was reported
    assert rec.of("end")[0]["status"] == "diverged"


def _trace(cfg: TrainConfig) -> list[dict[str, Any]]:
    rec = Recorder()
    Trainer(cfg, callbacks=[rec]).run()
    keep = ("step", "train_loss", "train_acc", "lr", "source_acc", "target_acc", "domain_loss")
    return [{k: p[k] for k in keep if k in p} for e, p in rec.events if e in ("step", "eval")]


def test_same_seed_same_metrics_on_cpu() -> None:
    cfg = small(max_steps=5, pipeline=ROTATION, strength=0.6)
    first, second = _trace(cfg), _trace(cfg)
    assert first == second
    other = _trace(cfg.replace(seed=1))
    assert other != first


def test_augmentation_hook_strength_zero_is_no_augmentation() -> None:
    plain = _trace(small(max_steps=4))
    zero = _trace(small(max_steps=4, pipeline=ROTATION, strength=0.0))
    strong = _trace(small(max_steps=4, pipeline=ROTATION, strength=1.0))
    assert zero == plain
    assert strong != plain
    # rotating digits by up to ±135° makes the training batches much harder to fit
    loss = lambda trace: np.mean([t["train_loss"] for t in trace if "train_loss" in t])  # noqa: E731
    assert loss(strong) > 2 * loss(plain)


def test_dann_logs_a_domain_loss() -> None:
    rec = Recorder()
    result = Trainer(small(dann=True, max_steps=6, target_labels_per_class=0), callbacks=[rec]).run()
    assert result.status == "finished"
    steps = rec.steps()
    assert all("domain_loss" in p and math.isfinite(p["domain_loss"]) for p in steps)
    lambdas = [p["dann_lambda"] for p in steps]
    assert lambdas[0] == 0.0 and lambdas == sorted(lambdas) and lambdas[-1] > 0.5
    assert 0.1 < steps[0]["domain_loss"] < 2.0  # binary cross-entropy of a fresh discriminator
    assert "domain_loss" in result.final and "domain_loss" in result.history[-1]


def test_linear_probe_leaves_the_backbone_and_the_cached_model_untouched() -> None:
    import torch

    from da_core.models import load_digits_cnn

    cached = load_digits_cnn()[0]
    before = {k: v.clone() for k, v in cached.state_dict().items()}
    trainer = Trainer(small(mode="linear", max_steps=4))
    trainer.run()
    for k, v in trainer.model.backbone.state_dict().items():
        assert torch.equal(v, before[f"features.{k}"]), k
    Trainer(small(max_steps=3)).run()  # a full fine-tune trains a copy
    for k, v in cached.state_dict().items():
        assert torch.equal(v, before[k]), k


# ------------------------------------------------------------------------------------------- tiny data


def test_a_target_with_one_image_per_class_is_refused_before_training() -> None:
    config = small(target="builtin:handwritten-digits?n=10", target_labels_per_class=0)
    with pytest.raises(SpecError, match="single sample.*nothing|none is left to evaluate"):
        prepare_data(config)


def test_classes_too_small_to_hold_out_are_named_and_the_rest_is_scored() -> None:
    from da_core.data.images import make_dataset

    rng = np.random.default_rng(0)
    target = make_dataset(rng.integers(0, 256, (11, 1, 28, 28), dtype=np.uint8), [0] * 10 + [1], ["0", "1"], "t")
    source = make_dataset(rng.integers(0, 256, (40, 1, 28, 28), dtype=np.uint8), np.arange(40) % 2, ["0", "1"], "s")
    config = small(target_labels_per_class=0, max_steps=2, batch_size=8)
    data = prepare_data(config, source, target)
    assert len(data.target_eval) == 5 and set(data.target_eval.labels.tolist()) == {0}
    assert any("classes 1 have too few samples" in note for note in data.notes)
    result = Trainer(config, data).run()
    assert result.status == "finished" and math.isfinite(result.final["target_acc"])
    assert result.details["notes"] == data.notes


def test_a_batch_larger_than_the_data_is_clamped_and_said() -> None:
    rec = Recorder()
    config = small(source="builtin:printed-digits?n=120", target="builtin:handwritten-digits?n=200",
                   batch_size=4096, epochs=1, target_labels_per_class=2)
    result = Trainer(config, callbacks=[rec]).run()
    (start,) = rec.of("start")
    pool = start["sizes"]["source_train"] + start["sizes"]["target_labelled"]
    assert start["batch_size"] == pool < 4096
    assert any(f"batch size 4096 is larger than the {pool} training samples" in n for n in result.details["notes"])
    assert result.status == "finished" and result.final["steps"] == 1


def test_huge_weights_are_used_by_their_ratios() -> None:
    plain = prepare_data(small())
    n = len(plain.source_train) + len(plain.source_eval)
    data = prepare_data(small(source_weights=[1e300, 3e300] * (n // 2)))  # finite, but far past float32
    w = data.source_weights
    assert w is not None and float(w.max()) == 1.0 and sorted(set(w.tolist())) == pytest.approx([1 / 3, 1.0])
