"""Comparison studies end to end: a tiny study and a tiny 2-cell grid through the run store; arms share seeds,
evaluation splits and the step budget; a stopped study resumes keeping its finished runs; ``compare``."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from _helpers import strict_json

from da_core.cli import main
from da_core.errors import SpecError
from da_core.study import StudySpec, estimate_seconds, run_study
from da_core.train.config import TrainConfig
from da_core.train.store import RunStore

SMALL = {"source": "builtin:printed-digits?n=600", "target": "builtin:handwritten-digits?n=600",
         "batch_size": 32, "device": "cpu", "max_steps": 5, "evals_per_epoch": 1}
PIPE = {"ops": [{"name": "rotation"}, {"name": "translate"}], "strength": 0.3, "seed": 0}


def _spec(**changes: object) -> StudySpec:
    values = {"base": TrainConfig.from_dict({**SMALL, "target_labels_per_class": 3}),
              "arms": ["source-only", "selected", "augmented", "dann"], "seeds": [0, 1], "pipeline": PIPE,
              "strength": 0.3, **changes}
    return StudySpec(**values).validate()  # type: ignore[arg-type]


def test_spec_validates_and_round_trips() -> None:
    spec = _spec(arms=["dann", "augmented"])
    assert spec.arms == ["source-only", "dann", "augmented"]  # the reference always runs, first
    assert StudySpec.from_dict(json.loads(json.dumps(spec.to_dict()))).to_dict() == spec.to_dict()
    assert [c.key for c in _spec(ks=[5, 0], shares=[0.2, 1]).cells()] == [
        "k=0 share=1", "k=5 share=1", "k=0 share=0.2", "k=5 share=0.2"]
    for bad, field in (({"arms": ["nope"]}, "unknown arm"), ({"seeds": [-1]}, r"seeds\[0\]"),
                       ({"fraction": 0}, "fraction"), ({"ks": [0]}, "grid"), ({"strength": 2}, "strength"),
                       ({"augment_on": "all"}, "augment_on"), ({"shares": [0], "ks": [0]}, r"shares\[0\]")):
        with pytest.raises(SpecError, match=field):
            _spec(**bad)


def test_a_tiny_study_pairs_arms_seed_by_seed(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    result = run_study(_spec(), store)
    assert result.status == "finished", result.message
    runs = store.list_runs(sweep_id=result.study_id)
    assert len(runs) == 8 and all(r.status == "finished" for r in runs)
    configs = [r.config for r in runs]
    assert {c["seed"] for c in configs} == {0, 1} and {c["split_seed"] for c in configs} == {0}
    # equal budget and the same evaluation splits for every arm
    assert {r.final["total_steps"] for r in runs} == {5}
    assert len({json.dumps(r.details["sizes"]["target_eval"]) for r in runs}) == 1
    by_arm = {r.config["extra"]["study"]["arm"]: r.config for r in runs if r.config["seed"] == 0}
    assert by_arm["source-only"]["source_subset"] is None and by_arm["source-only"]["pipeline"] is None
    assert by_arm["dann"]["dann"] and not by_arm["augmented"]["dann"] and by_arm["augmented"]["strength"] == 0.3
    selected = result.setup.selected["1"]
    assert by_arm["selected"]["source_subset"] == selected and 250 <= len(selected) <= 350  # half of 600
    assert by_arm["selected"]["selection"]["method"] == "density-ratio"
    data = result.to_dict()
    assert [a["name"] for a in data["arms"]] == ["source-only", "selected", "augmented", "dann"]
    for arm in data["arms"]:
        assert arm["n"] == 2 and len(arm["runs"]) == 2 and arm["feature_mmd2_mean"] is not None
        assert arm["paired_diff_vs_source_only"]["n"] == 2
    best = max(data["arms"], key=lambda a: a["target_acc_mean"])
    assert data["recommendation"].lower().startswith(best["title"].lower())
    stored = store.get_sweep(result.study_id)
    assert stored.kind == "study" and stored.result["recommendation"] == data["recommendation"]
    assert store.list_sweeps() == [] and [s.id for s in store.list_sweeps(kind="study")] == [result.study_id]
    seconds, basis = estimate_seconds(_spec(), store)
    assert seconds is not None and seconds > 0 and "8 finished runs" in basis


def test_a_stopped_study_resumes_keeping_its_finished_runs(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    stop = threading.Event()
    spec = _spec(arms=["source-only", "dann"])

    def on_run(run_id: int, index: int, total: int, label: str) -> None:
        if index == 2:
            stop.set()  # the third run stops within one batch

    first = run_study(spec, store, stop=stop, on_run=on_run)
    assert first.status == "stopped"
    done = {r["run_id"] for r in first.records if r["status"] == "finished"}
    assert len(done) == 2
    again = run_study(spec, store, study_id=first.study_id)
    assert again.status == "finished"
    finished = [r for r in again.records if r["status"] == "finished"]
    assert len(finished) == 4 and done <= {r["run_id"] for r in finished}
    assert again.setup.to_dict()["selected"] == first.setup.to_dict()["selected"]


def test_a_two_cell_grid_runs_end_to_end(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    spec = _spec(arms=["source-only", "augmented"], ks=[0, 4], shares=[1.0], strength=None)
    result = run_study(spec, store)
    assert result.status == "finished"
    assert "sweet spot" in result.setup.strength_note or "own strength" in result.setup.strength_note
    data = result.to_dict()
    assert [(c["k"], c["source_share"]) for c in data["cells"]] == [(0, 1.0), (4, 1.0)]
    for cell in data["cells"]:
        assert cell["winner"] in ("source-only", "augmented") and isinstance(cell["tie"], bool)
        assert len(cell["arms"]) == 2 and cell["margin"] >= 0
    ks = {r.config["extra"]["study"]["cell"]: r.config["target_labels_per_class"]
          for r in store.list_runs(sweep_id=result.study_id)}
    assert ks == {"k=0 share=1": 0, "k=4 share=1": 4}
    assert data["map_summary"]


def test_a_smaller_source_pool_keeps_the_budget(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    spec = _spec(arms=["source-only", "selected"], ks=[3], shares=[0.5], seeds=[0])
    result = run_study(spec, store)
    runs = {r.config["extra"]["study"]["arm"]: r for r in store.list_runs(sweep_id=result.study_id)}
    pool, chosen = runs["source-only"].config["source_subset"], runs["selected"].config["source_subset"]
    assert 280 <= len(pool) <= 320 and set(chosen) <= set(pool) and len(chosen) < len(pool)
    assert runs["source-only"].final["total_steps"] == runs["selected"].final["total_steps"] == 5


def test_compare_command_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["compare", "--source", SMALL["source"], "--target", SMALL["target"], "--max-steps", "3",
                 "--batch-size", "32", "--device", "cpu", "--k", "2", "--seeds", "2", "--arms", "source-only,dann",
                 "--json"])
    assert code == 0
    data = strict_json(capsys.readouterr().out)
    assert isinstance(data["study_id"], int) and data["recommendation"]
    for arm in data["arms"]:
        assert {"name", "target_acc_mean", "target_acc_ci", "paired_diff_vs_source_only", "runs"} <= set(arm)
        assert set(arm["paired_diff_vs_source_only"]) >= {"mean", "ci"} and len(arm["runs"]) == 2
    assert "cells" not in data


@pytest.mark.parametrize("argv, needle", [
    (["--arms", "source-only,nope"], "unknown arm 'nope'"),
    (["--source-share", "1,0.2"], "--source-share needs --grid"),
    (["--grid", "k=a"], "whole numbers"),
])
def test_compare_mistakes_are_one_line(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(["compare", "--source", SMALL["source"], "--target", SMALL["target"], *argv])
    except SystemExit as exc:  # argparse's own mistakes
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_the_estimate_falls_back_to_seconds_per_step(tmp_path: Path) -> None:
    from da_core.study.runner import steps_per_run

    store = RunStore(tmp_path / "runs.sqlite")
    spec = _spec()
    assert estimate_seconds(spec, store, 600) == (None, estimate_seconds(spec, store)[1])
    other = TrainConfig.from_dict({**SMALL, "max_steps": 10}).to_dict()
    run = store.create_run(other, "running")
    store.set_status(run, "finished", final={"seconds": 5.0, "total_steps": 10})
    seconds, basis = estimate_seconds(_spec(base=TrainConfig.from_dict({**SMALL, "max_steps": 20})), store, 600)
    assert seconds == pytest.approx(0.5 * 20 * 8) and "seconds per step" in basis  # 4 arms x 2 seeds
    assert steps_per_run(TrainConfig(epochs=2, batch_size=64), 3000) == 2 * 38


def test_compare_resumes_a_stopped_study(capsys: pytest.CaptureFixture[str]) -> None:
    from da_core.train.store import get_store

    stop = threading.Event()
    spec = _spec(arms=["source-only"], seeds=[0, 1])
    first = run_study(spec, get_store(), stop=stop, on_run=lambda r, i, n, label: stop.set())
    assert first.status == "stopped"
    assert main(["compare", "--resume", str(first.study_id), "--json"]) == 0
    data = strict_json(capsys.readouterr().out)
    assert data["study_id"] == first.study_id and data["runs_done"] == 2 and data["status"] == "finished"
    assert main(["compare", "--resume", "99999"]) == 2
    assert "no study #99999" in capsys.readouterr().err


def test_the_adversarial_arm_trains_on_adversarial_examples_at_its_strength() -> None:
    from da_core.study.arms import Ingredients, get_arm

    arm = get_arm("adversarial")
    assert not arm.default  # offered next to the others; a new study runs it when asked
    base = TrainConfig.from_dict({**SMALL, "objective": "adversarial"})
    cfg = arm.configure(base, Ingredients(adv_strength=0.4))
    assert (cfg.objective, cfg.strength, cfg.pipeline, cfg.dann) == ("adversarial", 0.4, None, False)
    assert get_arm("augmented").configure(base, Ingredients(pipeline=PIPE, strength=0.3)).objective == "cross-entropy"
    assert "s=0.40" in arm.title(Ingredients(adv_strength=0.4))
    spec = _spec(arms=["adversarial"], adv_strength=0.5)
    assert spec.base.objective == "cross-entropy"
    assert StudySpec.from_dict(spec.to_dict()).adv_strength == 0.5
    with pytest.raises(SpecError, match="adv_strength"):
        _spec(adv_strength=0)
