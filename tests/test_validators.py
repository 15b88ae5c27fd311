"""Validators: IWV and DEV reduce to source accuracy under uniform weights; on constructed models of known quality
each validator orders them as its definition says; every evaluation of a run records them, and each run reports
the evaluation each validator would pick."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from da_core.train.validators import ValidationInputs, best_by, importance_weights, score_all, validators

K = 3


def _onehot_logits(pred: torch.Tensor, k: int = K, scale: float = 8.0) -> torch.Tensor:
    return torch.nn.functional.one_hot(pred, k).float() * scale


def _inputs(source_pred: torch.Tensor, source_labels: torch.Tensor, target_logits: torch.Tensor | None = None,
            weights: np.ndarray | None = None, target_labels: torch.Tensor | None = None) -> ValidationInputs:
    target = target_logits if target_logits is not None else torch.zeros(4, K)
    return ValidationInputs(_onehot_logits(source_pred), source_labels, target, target_labels, weights)


def test_iwv_and_dev_with_uniform_weights_are_the_source_accuracy() -> None:
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(K, (200,), generator=gen)
    pred = torch.where(torch.rand(200, generator=gen) < 0.7, labels, (labels + 1) % K)
    acc = float((pred == labels).float().mean())
    for weights in (None, np.ones(200)):
        scores = score_all(_inputs(pred, labels, weights=weights))
        assert scores["val_source_acc"] == pytest.approx(acc)
        assert scores["val_iwv"] == pytest.approx(acc) and scores["val_dev"] == pytest.approx(acc)
    assert score_all(_inputs(pred, labels, weights=np.full(200, 2.5)))["val_iwv"] == pytest.approx(acc)  # ratios only


def test_iwv_and_dev_prefer_the_model_right_on_target_like_source_samples() -> None:
    labels = torch.zeros(100, dtype=torch.long)
    w = np.r_[np.full(50, 1.8), np.full(50, 0.2)]  # the first half looks like the target
    right_on_target_like = torch.cat([torch.zeros(50), torch.ones(50)]).long()
    right_on_source_like = torch.cat([torch.ones(50), torch.zeros(50)]).long()
    a = score_all(_inputs(right_on_target_like, labels, weights=w))
    b = score_all(_inputs(right_on_source_like, labels, weights=w))
    assert a["val_source_acc"] == b["val_source_acc"] == 0.5
    assert a["val_iwv"] == pytest.approx(0.9) and b["val_iwv"] == pytest.approx(0.1)
    assert a["val_dev"] > b["val_dev"]


def test_dev_applies_its_control_variate() -> None:
    rng = np.random.default_rng(1)
    w = rng.gamma(2.0, 0.5, 300)  # raw ratios: their mean is not exactly 1
    labels = torch.zeros(300, dtype=torch.long)
    pred = torch.from_numpy((rng.random(300) < 0.3 + 0.2 * (w > 1)).astype(np.int64))
    loss = w * (pred != labels).numpy()
    eta = -np.cov(loss, w, ddof=1)[0, 1] / np.var(w, ddof=1)
    expected = 1 - (loss.mean() + eta * w.mean() - eta)
    assert score_all(_inputs(pred, labels, weights=w))["val_dev"] == pytest.approx(expected)
    assert not math.isclose(expected, 1 - loss.mean())


def test_entropy_im_and_snd_order_models_of_known_quality() -> None:
    gen = torch.Generator().manual_seed(2)
    classes = torch.arange(90) % K
    confident_diverse = _onehot_logits(classes)  # sure of each sample, all classes used
    collapsed = _onehot_logits(torch.zeros(90, dtype=torch.long))  # sure, but one class for everything
    unsure = torch.randn(90, K, generator=gen) * 0.3  # close to uniform, no structure
    s = {name: score_all(ValidationInputs(torch.zeros(2, K), torch.zeros(2, dtype=torch.long), logits))
         for name, logits in (("diverse", confident_diverse), ("collapsed", collapsed), ("unsure", unsure))}
    assert s["diverse"]["val_entropy"] < s["unsure"]["val_entropy"]
    assert s["collapsed"]["val_entropy"] < s["unsure"]["val_entropy"]
    assert s["diverse"]["val_im"] == pytest.approx(math.log(K), abs=0.01)
    assert s["collapsed"]["val_im"] == pytest.approx(0.0, abs=0.01) and s["unsure"]["val_im"] < 0.1
    torch.manual_seed(2)
    scattered = torch.log(torch.distributions.Dirichlet(torch.ones(K)).sample((90,)))  # spread over the simplex
    snd_scattered = score_all(ValidationInputs(torch.zeros(2, K), torch.zeros(2, dtype=torch.long),
                                               scattered))["val_snd"]
    assert s["diverse"]["val_snd"] == pytest.approx(math.log(29), abs=1e-3)  # each sees its 29 cluster mates
    assert s["diverse"]["val_snd"] > snd_scattered  # tight clusters are denser neighbourhoods than a spread
    # and, as its definition has it, predictions that all look alike (near uniform) are the densest of all: SND
    # cannot tell "unsure about everything" from "well clustered", one reason to read several validators
    assert s["unsure"]["val_snd"] > s["diverse"]["val_snd"]


def test_the_oracle_reads_target_labels_only_when_there_are_some() -> None:
    labels = torch.tensor([0, 1, 2, 2])
    with_labels = score_all(ValidationInputs(torch.zeros(2, K), torch.zeros(2, dtype=torch.long),
                                             _onehot_logits(torch.tensor([0, 1, 2, 0])), labels))
    assert with_labels["val_target_acc"] == 0.75
    assert score_all(ValidationInputs(torch.zeros(2, K), torch.zeros(2, dtype=torch.long),
                                      _onehot_logits(labels)))["val_target_acc"] is None
    assert [v.name for v in validators().values() if v.oracle] == ["target-acc"]
    assert "target-acc" not in validators(include_oracle=False)


def test_best_by_picks_each_validators_best_evaluation() -> None:
    history = [{"step": 0, "target_acc": 0.3, "val_source_acc": 0.99, "val_entropy": 0.9, "val_im": 0.2},
               {"step": 5, "target_acc": 0.6, "val_source_acc": 0.95, "val_entropy": 0.4, "val_im": 0.8},
               {"step": 9, "target_acc": 0.5, "val_source_acc": 0.97, "val_entropy": 0.5, "val_im": 0.8}]
    picks = best_by(history)
    assert picks["source-acc"] == {"step": 0, "score": 0.99, "target_acc": 0.3}
    assert picks["entropy"]["step"] == 5  # lower is better
    assert picks["im"]["step"] == 5  # the first of ties
    assert "snd" not in picks  # not scored in this history


def test_importance_weights_rise_where_the_target_lies() -> None:
    gen = torch.Generator().manual_seed(3)
    source = torch.cat([torch.randn(150, 4, generator=gen), torch.randn(150, 4, generator=gen) + 3])
    target = torch.randn(200, 4, generator=gen) + 3
    w = importance_weights(source, target)
    assert w.shape == (300,) and (w >= 0).all() and w[150:].mean() > 5 * w[:150].mean()


def test_every_evaluation_of_a_run_records_the_validators() -> None:
    from da_core.train.config import TrainConfig
    from da_core.train.trainer import Trainer

    result = Trainer(TrainConfig.from_dict({"source": "builtin:printed-digits?n=400",
                                            "target": "builtin:handwritten-digits?n=400", "max_steps": 6,
                                            "batch_size": 32, "device": "cpu", "evals_per_epoch": 3})).run()
    metric_names = {v.metric for v in validators().values()}
    assert all(metric_names <= set(h) for h in result.history)
    final = result.final
    assert set(final["validators"]) == metric_names
    assert final["validators"]["val_target_acc"] == pytest.approx(final["target_acc"])
    assert final["validators"]["val_source_acc"] == pytest.approx(final["source_acc"])
    assert set(final["best_by"]) == set(validators())
    assert final["best_by"]["target-acc"]["score"] == pytest.approx(final["best_by"]["target-acc"]["target_acc"])
