"""The trainer's parts on their own: the data plan (sampling, labelled-target share, budget, collate), the
evaluation schedule, the source-only baseline step, and objectives as strategies (a new one plugs in)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from da_core.train import trainer as trainer_mod
from da_core.train.config import TrainConfig
from da_core.train.data import DataPlan, prepare_data
from da_core.train.evaluation import Evaluator, confusion, per_class_accuracy
from da_core.train.objectives import Objective, StepInputs, StepLoss, objective_for, objectives
from da_core.train.trainer import Trainer

SMALL = {"source": "builtin:printed-digits?n=300", "target": "builtin:handwritten-digits?n=300",
         "batch_size": 32, "device": "cpu", "epochs": 1}


def _plan(**changes: Any) -> tuple[DataPlan, TrainConfig]:
    config = TrainConfig.from_dict({**SMALL, **changes})
    data = prepare_data(config)
    return DataPlan(data, config, torch.device("cpu")), config


def test_plan_shuffles_the_source_without_labelled_target() -> None:
    plan, _ = _plan(target_labels_per_class=0)
    assert plan.probs is None and len(plan.pool_x) == plan.n_source
    batches = plan.epoch_batches(torch.Generator().manual_seed(0))
    seen = torch.cat(batches)
    assert len(set(seen.tolist())) == len(seen) and min(len(b) for b in batches) >= 2  # a permutation, no singleton
    again = plan.epoch_batches(torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(batches, again))
    batch = plan.collate(batches[0])
    assert batch.inputs.dtype == torch.uint8 and torch.equal(batch.labels, plan.pool_y[batches[0]])


def test_plan_draws_the_labelled_target_share() -> None:
    plan, config = _plan(target_labels_per_class=5, target_share=0.3, epochs=20)
    n_src = plan.n_source
    assert len(plan.pool_x) == n_src + 50 and plan.total == 20 * plan.steps_per_epoch
    drawn = torch.cat(plan.epoch_batches(torch.Generator().manual_seed(1)))
    share = float((drawn >= n_src).float().mean())
    assert abs(share - config.target_share) < 0.08
    assert float(plan.probs[n_src:].sum()) == pytest.approx(0.3)


def test_plan_clamps_the_batch_and_says_so() -> None:
    plan, _ = _plan(batch_size=4096, target_labels_per_class=0)
    assert plan.batch_size == plan.n_source and plan.steps_per_epoch == 1
    assert any("larger than the" in note for note in plan.notes)


def test_evaluation_schedule_and_scores() -> None:
    assert Evaluator.mid_epoch_steps(0, 10, 1) == set()
    assert Evaluator.mid_epoch_steps(10, 10, 2) == {15}
    assert Evaluator.mid_epoch_steps(0, 9, 3) == {3, 6}
    plan, _ = _plan()
    events: list[tuple[str, dict[str, Any]]] = []
    evaluate = Evaluator(plan, lambda x: torch.zeros(len(x), dtype=torch.int64), lambda e, p: events.append((e, p)))
    metrics = evaluate(7, 1)
    truth_s, truth_t = plan.source_eval[1], plan.target_eval[1]
    assert metrics["source_acc"] == pytest.approx(float((truth_s == 0).float().mean()))
    assert metrics["target_acc"] == pytest.approx(float((truth_t == 0).float().mean()))
    assert events == [("eval", {"step": 7, "epoch": 1, **metrics})] and evaluate.last_step == 7
    pred, labels = torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2])
    assert confusion(pred, labels, 3) == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert per_class_accuracy(pred, labels, 4) == [1.0, 1.0, 0.5, None]


def test_objectives_are_registry_entries_chosen_by_the_config() -> None:
    assert {"cross-entropy", "dann"} <= set(objectives())
    assert objective_for(TrainConfig()).name == "cross-entropy"
    assert objective_for(TrainConfig(dann=True)).name == "dann"
    assert objectives()["dann"].epoch_means == ("domain_loss",)


def test_a_new_objective_is_one_class(monkeypatch: pytest.MonkeyPatch) -> None:
    """A strategy that only ever trains the head towards class 0 plugs in without touching the trainer."""
    calls: list[float] = []

    class AlwaysZero(Objective):
        name = "always-zero"
        label = "Always class 0"

        def loss(self, step: StepInputs) -> StepLoss:
            calls.append(step.progress)
            logits = step.head(step.features(step.x))
            loss = torch.nn.functional.cross_entropy(logits, torch.zeros_like(step.batch.labels))
            return StepLoss(loss, loss, logits, {"zero_share": float((logits.argmax(1) == 0).float().mean())})

    monkeypatch.setattr(trainer_mod, "objective_for", lambda _config: AlwaysZero)
    result = Trainer(TrainConfig.from_dict({**SMALL, "lr": 0.05, "head_init": "random"})).run()
    assert result.status == "finished" and len(calls) == result.final["steps"]
    assert calls == sorted(calls) and calls[0] == 0.0 and calls[-1] < 1.0
    confusion_matrix = np.array(result.details["confusion"])
    assert confusion_matrix[:, 0].sum() > 0.9 * confusion_matrix.sum()  # it learned what it was told


def test_the_baseline_is_its_own_step() -> None:
    """digits-cnn brings its own head for the digits; the probe is fitted when asked (head_init=probe)."""
    from da_core.embed import get_embedder
    from da_core.train.baseline import source_only_baseline

    plan, config = _plan()
    bb = get_embedder("digits-cnn").backbone([str(i) for i in range(10)], torch.device("cpu"))
    assert bb.head is not None

    @torch.no_grad()
    def features(x: torch.Tensor) -> torch.Tensor:
        return bb.module.eval()(bb.preprocess(x)).flatten(1)

    own = source_only_baseline(bb, plan, config, 10, features, None)
    assert torch.equal(own.head.weight, bb.head.weight) and not own.head.weight.requires_grad
    probe = source_only_baseline(bb, plan, config.replace(head_init="probe"), 10, features, None)
    assert not torch.equal(probe.head.weight, bb.head.weight)
    assert own.metrics["source_acc"] > 0.9 and probe.metrics["source_acc"] > 0.9
    assert own.affinity is None and own.seconds >= 0


def test_augmentation_goes_where_augment_on_says() -> None:
    from types import SimpleNamespace

    from da_core.train.data import Batch

    plan, _ = _plan(target_labels_per_class=2, target_share=0.5)
    idx = torch.cat([torch.arange(4), torch.arange(plan.n_source, plan.n_source + 4)])
    batch = plan.collate(idx)
    assert batch.from_target.tolist() == [False] * 4 + [True] * 4

    def brighten(b: Batch, gen: torch.Generator, strength: float | None = None) -> Batch:
        return Batch(torch.full_like(b.inputs, 255), b.labels, None, b.from_target)

    run = SimpleNamespace(augment=brighten, aug_gen=torch.Generator(), k=10)
    for where, changed in (("both", [True] * 8), ("target", [False] * 4 + [True] * 4),
                           ("source", [True] * 4 + [False] * 4)):
        trainer = Trainer(TrainConfig.from_dict({**SMALL, "augment_on": where}))
        out = trainer._augment(run, Batch(batch.inputs, batch.labels, from_target=batch.from_target))
        assert [bool((out.inputs[i] == 255).all()) for i in range(8)] == changed, where
    assert not TrainConfig.from_dict({**SMALL, "pipeline": {"ops": [{"name": "rotation"}]}, "strength": 0.5,
                                      "augment_on": "target", "target_labels_per_class": 0}).augmented


def test_a_run_reports_its_learned_feature_gap() -> None:
    result = Trainer(TrainConfig.from_dict({**SMALL, "max_steps": 3, "target_labels_per_class": 2})).run()
    gap = result.final["feature_mmd2"]
    assert gap is not None and 0 < gap < 2  # printed and handwritten digits stay apart after 3 steps
