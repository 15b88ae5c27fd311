"""Tuning: the space's JSON and its checks, the validators' agreement with the truth, a small search end to end
(every trial a recorded run of the search), and a pruned trial kept as pruned with its metrics so far."""

from __future__ import annotations

import json
from typing import Any

import pytest

from da_core.errors import SpecError
from da_core.train.config import TrainConfig
from da_core.train.store import get_store
from da_core.tune import TuneSpec, agreement, default_space, parse_space, run_tune
from da_core.tune import runner as tune_runner

SMALL = {"source": "builtin:printed-digits?n=300", "target": "builtin:handwritten-digits?n=300", "max_steps": 4,
         "batch_size": 32, "device": "cpu", "evals_per_epoch": 2}


def test_the_space_reads_its_json_and_names_mistakes() -> None:
    space = parse_space({"lr": {"low": 1e-4, "high": 1e-2, "log": True}, "batch_size": {"choices": [16, 32]}})
    assert space["lr"].grid() == [0.0001, 0.001, 0.01] and space["batch_size"].grid() == [16, 32]
    assert parse_space({k: d.to_dict() for k, d in space.items()}) == space
    for bad, message in (({"epochs": {"low": 1, "high": 2}}, "'epochs' cannot be tuned"),
                         ({"lr": {"low": 0, "high": 1, "log": True}}, "a log axis needs low > 0"),
                         ({"lr": {"low": 2, "high": 1}}, "low must be below high"),
                         ({"lr": {"low": "a", "high": 1}}, r"space.lr.low: expected a number"),
                         ({"lr": {"lo": 1}}, "unknown field 'lo'"), ({}, "non-empty")):
        with pytest.raises(SpecError, match=message):
            parse_space(bad)
    with pytest.raises(SpecError, match=r"space.label_smoothing: 1.0 would not make a valid run"):
        TuneSpec(TrainConfig.from_dict(SMALL), parse_space({"label_smoothing": {"low": 0, "high": 1}})).validate()
    with pytest.raises(SpecError, match="validator: unknown 'accuracy'"):
        TuneSpec(TrainConfig.from_dict(SMALL), validator="accuracy").validate()


def test_the_default_space_follows_what_the_config_uses() -> None:
    plain = default_space(TrainConfig.from_dict({**SMALL, "target_labels_per_class": 0}))
    assert set(plain) == {"lr", "batch_size", "weight_decay", "label_smoothing"} and plain["lr"].log
    rich = default_space(TrainConfig.from_dict({**SMALL, "dann": True, "pipeline": {"ops": [{"name": "rotation"}]}}))
    assert {"strength", "dann_weight", "target_share"} <= set(rich)


def _trial(number: int, acc: float, **scores: float) -> dict[str, Any]:
    return {"number": number, "state": "COMPLETE", "target_acc": acc, "params": {},
            "validators": {k.replace("_", "-"): v for k, v in scores.items()}}


def test_agreement_is_rank_correlation_and_regret() -> None:
    trials = [_trial(0, 0.5, source_acc=0.99, entropy=0.2, im=0.1), _trial(1, 0.7, source_acc=0.95, entropy=0.5,
                                                                            im=0.5),
              _trial(2, 0.9, source_acc=0.90, entropy=0.9, im=0.9)]
    a = agreement(trials)
    assert a["im"] == {"spearman": pytest.approx(1.0), "regret": pytest.approx(0.0)}
    assert a["source-acc"]["spearman"] == pytest.approx(-1.0)
    assert a["source-acc"]["regret"] == pytest.approx(0.4)  # it picks trial 0: 0.9 - 0.5
    assert a["entropy"]["spearman"] == pytest.approx(-1.0)  # lower entropy picked the worse trials here
    assert a["entropy"]["regret"] == pytest.approx(0.4)
    assert agreement([_trial(0, 0.5, im=0.1)])["im"]["spearman"] is None  # one trial: no ranking
    assert agreement([{**_trial(0, 0.5, im=0.1), "target_acc": None}]) == {}


def test_a_small_search_runs_end_to_end_and_every_trial_is_a_run() -> None:
    spec = TuneSpec(TrainConfig.from_dict(SMALL), parse_space({"lr": {"low": 1e-3, "high": 2e-2, "log": True}}),
                    validator="source-acc", sampler="tpe", pruner="none", trials=3, seed=1)
    seen: list[dict[str, Any]] = []
    result = run_tune(spec, on_trial=seen.append)
    assert result["status"] == "finished" and [t["number"] for t in result["trials"]] == [0, 1, 2] == \
        [t["number"] for t in seen]
    assert all(t["state"] == "COMPLETE" and 1e-3 <= t["params"]["lr"] <= 2e-2 for t in result["trials"])
    store = get_store()
    search = store.get_sweep(result["search_id"])
    assert search.kind == "tune" and search.status == "finished"
    runs = store.list_runs(sweep_id=result["search_id"])
    assert sorted(r.id for r in runs) == sorted(t["run_id"] for t in result["trials"])
    for trial in result["trials"]:
        run = store.get_run(trial["run_id"])
        assert run.config["lr"] == trial["params"]["lr"] and run.config["extra"]["trial"] == trial["number"]
        assert trial["validators"]["source-acc"] == pytest.approx(run.final["validators"]["val_source_acc"])
    best = result["best"]["source-acc"]
    assert best["score"] == max(t["validators"]["source-acc"] for t in result["trials"])
    assert set(result["agreement"]) >= {"source-acc", "iwv", "im"}
    json.dumps(result)  # strict JSON


def test_a_pruned_trial_is_recorded_as_pruned_with_its_metrics_so_far(monkeypatch: pytest.MonkeyPatch) -> None:
    import optuna

    class Pruner(optuna.pruners.BasePruner):
        """Keeps trial 0 and prunes every later trial at its first report."""

        def prune(self, study: Any, trial: Any) -> bool:
            return trial.number > 0

    monkeypatch.setattr(tune_runner, "_pruner", lambda spec: Pruner())
    config = TrainConfig.from_dict({**SMALL, "max_steps": 12, "evals_per_epoch": 4, "batch_size": 16})
    result = run_tune(TuneSpec(config, parse_space({"lr": {"low": 1e-3, "high": 1e-2}}), trials=2, sampler="random"))
    kept, pruned = result["trials"]
    assert kept["state"] == "COMPLETE" and pruned["state"] == "PRUNED" and "pruned by" in pruned["message"]
    study = optuna.load_study(study_name=result["study"], storage=tune_runner.optuna_storage())
    assert [t.state.name for t in study.trials] == ["COMPLETE", "PRUNED"]
    run = get_store().get_run(pruned["run_id"])
    assert run.status == "stopped" and run.message.startswith("pruned by")
    steps = get_store().metrics(pruned["run_id"], ["train_loss", "val_im"])
    assert 0 < steps["step"].max() < 12  # it ended early, and kept what it had measured
    assert (steps["name"] == "val_im").any()


def test_cross_validation_scores_a_trial_over_source_folds() -> None:
    config = TrainConfig.from_dict({**SMALL, "max_steps": 2})
    result = run_tune(TuneSpec(config, parse_space({"lr": {"low": 1e-3, "high": 1e-2}}), validator="iwv",
                               trials=1, pruner="none", cv_folds=3))
    (trial,) = result["trials"]
    assert trial["state"] == "COMPLETE" and len(trial["run_ids"]) == 3 and len(trial["cv"]["iwv"]) == 3
    assert trial["validators"]["iwv"] == pytest.approx(sum(trial["cv"]["iwv"]) / 3)
    store = get_store()
    held = []
    for fold, run_id in enumerate(trial["run_ids"]):
        run = store.get_run(run_id)
        assert run.config["source_fold"] == [fold, 3] and run.config["extra"]["cv_fold"] == fold
        held.append(run.details["sizes"]["source_eval"])
    assert sum(held) == 300  # the three folds partition the source
    with pytest.raises(SpecError, match="cv_folds: cross-validation serves"):
        TuneSpec(config, validator="im", cv_folds=3).validate()


def test_source_folds_partition_every_class() -> None:
    import numpy as np

    from da_core.data import stratified_fold

    labels = np.repeat([0, 1, 2], [10, 7, 1])
    held = [stratified_fold(labels, i, 3, seed=4)[1] for i in range(3)]
    assert sorted(np.concatenate(held).tolist()) == list(range(17))  # the singleton class stays for training
    for h in held:
        assert set(np.unique(labels[h])) == {0, 1} and 3 <= (labels[h] == 0).sum() <= 4
    train, test = stratified_fold(labels, 1, 3, seed=4)
    assert not set(train) & set(test) and len(train) + len(test) == 18
    with pytest.raises(SpecError, match="source_fold: expected"):
        TrainConfig.from_dict({**SMALL, "source_fold": [3, 3]})
