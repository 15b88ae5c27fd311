"""Sweeps: validation, Diversity against the strength-0 run, summaries with intervals, a real small sweep,
figures, and the ``train``/``sweep`` commands."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from _helpers import strict_json

from da_core.cli import main
from da_core.errors import SpecError
from da_core.train import figures
from da_core.train.config import TrainConfig
from da_core.train.store import RunStore, get_store
from da_core.train.sweep import (
    ROTATION_AFFINE,
    Peak,
    SweepSpec,
    add_diversity,
    number_list,
    peak,
    run_sweep,
    summarize,
)

SMALL = {"source": "builtin:printed-digits?n=600", "target": "builtin:handwritten-digits?n=600",
         "batch_size": 32, "device": "cpu"}


def test_spec_adds_the_reference_strength_and_validates() -> None:
    spec = SweepSpec(TrainConfig(), ROTATION_AFFINE, [1.0, 0.5, 0.5], [0, 1]).validate()
    assert spec.strengths == [0.0, 0.5, 1.0]
    lr = spec.base.lr
    assert len(spec.grid()) == 6 and spec.grid()[:3] == [(0.0, 0, lr, "constant"), (0.5, 0, lr, "constant"),
                                                         (1.0, 0, lr, "constant")]
    again = SweepSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again.to_dict() == spec.to_dict()
    cfg = spec.config(0.5, 1, 1e-3, sweep_id=7)
    assert cfg.pipeline == ROTATION_AFFINE and cfg.strength == 0.5 and cfg.seed == 1 and cfg.lr == 1e-3
    for bad, field in (({"strengths": [1.5]}, "strengths[0]"), ({"seeds": []}, "seeds"),
                       ({"lrs": [0]}, "lrs[0]"), ({"pipeline": {"ops": [{"name": "nope"}]}}, "pipeline")):
        data = {**spec.to_dict(), **bad}
        with pytest.raises(SpecError, match=field.replace("[", r"\[").replace("]", r"\]")):
            SweepSpec.from_dict(data)


def _row(strength: float, seed: int, acc: float, loss: float, lr: float = 0.01) -> dict[str, Any]:
    return {"strength": strength, "seed": seed, "lr": lr, "target_acc": acc, "source_acc": 0.99,
            "train_loss": loss, "affinity": 1.0 - strength / 2}


def test_diversity_and_summary() -> None:
    rows = [_row(0.0, 0, 0.70, 0.2), _row(0.5, 0, 0.80, 0.4), _row(1.0, 0, 0.60, 1.0),
            _row(0.0, 1, 0.72, 0.25), _row(0.5, 1, 0.84, 0.5), _row(1.0, 1, 0.58, 1.5)]
    add_diversity(rows)
    assert [r["diversity"] for r in rows] == pytest.approx([1.0, 2.0, 5.0, 1.0, 2.0, 6.0])
    summary, best_strength, best_lr = summarize(rows)
    assert best_strength == 0.5 and best_lr == 0.01
    mid = next(r for r in summary if r["strength"] == 0.5)
    assert mid["n"] == 2 and mid["target_acc"] == pytest.approx(0.82) and mid["best"]
    assert mid["target_acc_low"] < 0.82 < mid["target_acc_high"]
    assert mid["diversity"] == pytest.approx(2.0) and mid["affinity"] == pytest.approx(0.75)
    assert sum(r["best"] for r in summary) == 1


def test_small_sweep_runs_through_the_store(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    base = TrainConfig.from_dict({**SMALL, "max_steps": 4})
    seen: list[int] = []
    spec = SweepSpec(base, {"ops": [{"name": "rotation"}], "seed": 0}, [1.0], [0, 1])
    result = run_sweep(spec, store, on_run=lambda run_id, i, n, label: seen.append(run_id))
    assert result.status == "finished", result.message
    assert len(result.results) == 4 and len(seen) == 4
    assert {(r["strength"], r["seed"]) for r in result.results} == {(0.0, 0), (1.0, 0), (0.0, 1), (1.0, 1)}
    for r in result.results:
        assert r["status"] == "finished" and 0 <= r["target_acc"] <= 1
        assert r["diversity"] == pytest.approx(1.0) if r["strength"] == 0 else r["diversity"] > 1.5
        assert 0 <= r["affinity"] <= 1.0 + 1e-9
    full = [r["affinity"] for r in result.results if r["strength"] == 1.0]
    assert full[0] < 0.9  # rotating by up to 135° fools the source-only model
    assert result.best_strength in (0.0, 1.0)
    sweep = store.get_sweep(result.sweep_id)
    assert sweep.status == "finished" and sweep.result["best_strength"] == result.best_strength
    runs = store.list_runs(sweep_id=result.sweep_id)
    assert sorted(r.id for r in runs) == sorted(seen) and all(r.status == "finished" for r in runs)
    fig = figures.sweep_strength_figure(result.summary, result.results)
    assert any(t.name == "best" for t in fig.data)
    plane = figures.affinity_diversity_figure(result.summary)
    assert len(plane.data[0].x) == 2


def test_figures_from_metrics() -> None:
    import pandas as pd

    rows = [(1, s, 1, "train_loss", 2.0 / s) for s in range(1, 11)] + [(1, s, 1, "lr", 0.01) for s in range(1, 11)]
    rows += [(1, 0, 0, "target_acc", 0.3), (1, 10, 1, "target_acc", 0.8), (2, 5, 1, "target_acc", 0.5)]
    frame = pd.DataFrame(rows, columns=["run_id", "step", "epoch", "name", "value"])
    figs = figures.live_figures(frame[frame["run_id"] == 1])
    assert set(figs) == {"loss", "accuracy", "lr"}
    smoothed = figs["loss"].data[1].y
    assert smoothed[0] == pytest.approx(2.0) and smoothed[-1] < smoothed[0]
    overlay = figures.overlay_figure(frame, "target_acc", {1: "first", 2: "second"})
    assert [t.name for t in overlay.data] == ["first", "second"]
    change = figures.per_class_change_figure([0.9, 0.5], [0.5, 0.6], ["a", "b"])
    assert list(change.data[0].y) == pytest.approx([40.0, -10.0])
    conf = figures.confusion_figure([[3, 1], [0, 4]], ["a", "b"])
    assert conf.data[0].z[0][0] == pytest.approx(0.75)


# ------------------------------------------------------------------------------------------- commands


def test_train_command_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"max_steps": 4, "batch_size": 32, "device": "cpu", "seed": 3}))
    code = main(["train", "--source", SMALL["source"], "--target", SMALL["target"], "--config", str(config),
                 "--json"])
    out = strict_json(capsys.readouterr().out)
    assert code == 0
    assert set(out) >= {"run_id", "status", "final", "history", "seconds"}
    assert out["status"] == "finished" and out["seconds"] > 0
    assert set(out["final"]) >= {"source_acc", "target_acc", "train_loss"}
    assert out["history"] and set(out["history"][0]) >= {"epoch", "step", "train_loss", "source_acc", "target_acc"}
    run = get_store().get_run(out["run_id"])  # landed in the same history as the page's
    assert run.origin == "cli" and run.status == "finished" and run.config["seed"] == 3


def test_sweep_command_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pipe = tmp_path / "p.json"
    pipe.write_text(json.dumps({"ops": [{"name": "rotation"}, {"name": "shear"}]}))
    code = main(["sweep", "--source", SMALL["source"], "--target", SMALL["target"], "--pipeline", str(pipe),
                 "--strengths", "0.5", "--seeds", "1", "--max-steps", "3", "--batch-size", "32", "--device", "cpu",
                 "--json"])
    out = strict_json(capsys.readouterr().out)
    assert code == 0
    assert [(r["strength"], r["seed"]) for r in out["results"]] == [(0.0, 0), (0.5, 0)]
    for r in out["results"]:
        assert set(r) >= {"strength", "seed", "target_acc", "source_acc", "diversity"}
        assert math.isfinite(r["diversity"])
    assert out["best_strength"] in (0.0, 0.5)


@pytest.mark.parametrize(("args", "fragment"), [
    (["train", "--config", "/no/such.json"], "cannot read"),
    (["train", "--source", "builtin:nope", "--max-steps", "1"], "unknown builtin dataset"),
    (["sweep", "--strengths", "0,2"], "outside"),
])
def test_commands_report_mistakes_in_one_line(args: list[str], fragment: str, capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    try:
        code = main(args)
    except SystemExit as exc:  # argparse type errors exit from the parser
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1, err


def test_settings_with_no_measured_accuracy_are_never_the_best() -> None:
    rows = [_row(0.0, 0, float("nan"), 0.2), _row(0.5, 0, float("nan"), 0.4), _row(1.0, 0, 0.4, 1.0)]
    add_diversity(rows)
    summary, best_strength, _ = summarize(rows)
    assert [r["strength"] for r in summary] == [1.0] and best_strength == 1.0
    assert summarize([_row(0.0, 0, float("nan"), 0.2)])[1] is None


def test_train_command_on_a_target_with_one_image_per_class_says_so_before_training(
        capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--target", "builtin:handwritten-digits?n=10", "--k", "0", "--max-steps", "2",
                 "--device", "cpu", "--json"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert "none is left to evaluate" in captured.err and len(captured.err.strip().splitlines()) == 1


@pytest.mark.parametrize(("config", "fragment"), [
    ({"source_subset": [0, 1, 10**30]}, "source_subset[2]"),
    ({"source_weights": [1e308] * 3000}, "source_weights"),
    ({"batch_size": 65536}, "batch_size"),
])
def test_train_command_config_errors_name_the_field(config: dict[str, Any], fragment: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(config))
    code = main(["train", "--config", str(path), "--json"])
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1, err


def test_train_json_is_strict_when_a_metric_is_missing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from da_core.jsonio import dumps

    assert dumps({"a": float("nan"), "b": [float("inf"), 1.0]}) == '{"a": null, "b": [null, 1.0]}'
    code = main(["train", "--source", SMALL["source"], "--target", SMALL["target"], "--max-steps", "2",
                 "--device", "cpu", "--json"])
    out = strict_json(capsys.readouterr().out)  # raises on a bare NaN
    assert code == 0 and out["final"]["affinity"] is None  # no augmentation: nothing to measure, null not NaN


def test_a_sweep_whose_target_cannot_be_evaluated_runs_nothing_and_says_why(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from da_core.train.jobs import JobManager
    from da_core.train.store import RunStore
    from da_core.train.sweep import ROTATION_AFFINE, SweepSpec

    code = main(["sweep", "--target", "builtin:handwritten-digits?n=10", "--k", "0", "--seeds", "1",
                 "--strengths", "0.5", "--max-steps", "2", "--device", "cpu", "--json"])
    err = capsys.readouterr().err
    assert code == 2 and "none is left to evaluate" in err and len(err.strip().splitlines()) == 1

    store = RunStore(tmp_path / "runs.sqlite")  # from the page: the job fails with the same message
    base = TrainConfig.from_dict({"target": "builtin:handwritten-digits?n=10", "target_labels_per_class": 0,
                                  "max_steps": 2, "device": "cpu"})
    job = JobManager(store).submit_sweep(SweepSpec(base, ROTATION_AFFINE, [0.5], [0]), session="s")
    job._done.wait(120)
    assert job.snapshot()["status"] == "failed" and "none is left to evaluate" in job.snapshot()["message"]
    (sweep,) = store.list_sweeps()
    assert sweep.status == "failed" and store.list_runs(sweep_id=sweep.id) == []


def test_the_peak_and_what_is_left_at_the_highest_strength() -> None:
    rows = [_row(0.0, 0, 0.70, 0.2), _row(0.5, 0, 0.80, 0.4), _row(1.0, 0, 0.60, 1.0)]
    summary, best, best_lr = summarize(rows)
    top = peak({"summary": summary, "best_strength": best})
    assert top == Peak(0.5, pytest.approx(0.80), pytest.approx(0.60)) and top.change == pytest.approx(-0.20)
    assert peak({"summary": summary, "best_strength": None}) is None and peak({"best_strength": 0.5}) is None
    assert peak({"summary": [], "best_strength": 0.5}) is None


def test_number_lists_take_commas_or_semicolons() -> None:
    assert number_list("0, 0.25; 1") == [0.0, 0.25, 1.0] and number_list(" ") == [] and number_list("1e-3,") == [1e-3]
    with pytest.raises(ValueError):
        number_list("0, half")


# ------------------------------------------------------------------------------ robustness and schedules


def test_a_sweep_compares_schedules_and_runs_strength_zero_once() -> None:
    spec = SweepSpec(TrainConfig.from_dict(SMALL), ROTATION_AFFINE, [0.5, 1.0], [0], schedules=["constant", "adaptive"])
    spec.validate()
    assert spec.grid() == [(0.0, 0, spec.base.lr, "constant"), (0.5, 0, spec.base.lr, "constant"),
                           (1.0, 0, spec.base.lr, "constant"), (0.5, 0, spec.base.lr, "adaptive"),
                           (1.0, 0, spec.base.lr, "adaptive")]
    assert spec.config(0.5, 0, spec.base.lr, None, "adaptive").strength_schedule == "adaptive"
    assert SweepSpec.from_dict(spec.to_dict()).schedules == ["constant", "adaptive"]
    with pytest.raises(SpecError, match=r"schedules\[0\]"):
        SweepSpec(TrainConfig.from_dict(SMALL), ROTATION_AFFINE, [0.5], [0], schedules=["wavy"]).validate()


def test_summary_keeps_schedules_apart_and_carries_robustness() -> None:
    results = [{"strength": s, "seed": seed, "lr": 0.1, "schedule": sch, "target_acc": acc, "source_acc": 0.9,
                "train_loss": 1.0, "affinity": 1.0, "corruption_acc": acc - 0.2, "adv_acc": acc - 0.5,
                "eps_half": 0.05}
               for s, sch, acc in ((0.0, "constant", 0.80), (0.5, "constant", 0.84), (0.5, "adaptive", 0.86))
               for seed in (0, 1)]
    add_diversity(results)
    summary, best, _ = summarize(results)
    assert [(r["strength"], r["schedule"]) for r in summary] == [(0.5, "adaptive"), (0.0, "constant"),
                                                                 (0.5, "constant")]
    top = next(r for r in summary if r["best"])
    assert top["schedule"] == "adaptive" and best == 0.5
    assert top["adv_acc"] == pytest.approx(0.36) and top["corruption_acc"] == pytest.approx(0.66)
    fig = figures.sweep_robustness_figure(summary)
    names = [t.name for t in fig.data]
    for line in ("clean target", "under corruption", "adversarial (mean over ε)"):
        assert f"{line} (adaptive)" in names and f"{line} (constant)" in names


def test_an_adversarial_sweep_needs_no_pipeline(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sweep", "--source", SMALL["source"], "--target", SMALL["target"], "--objective", "adversarial",
                 "--strengths", "0.5", "--seeds", "1", "--max-steps", "3", "--batch-size", "32", "--device", "cpu",
                 "--robust-samples", "20", "--json"])
    out = strict_json(capsys.readouterr().out)
    assert code == 0
    runs = {r["strength"]: get_store().get_run(r["run_id"]) for r in out["results"]}
    assert runs[0.5].config["objective"] == "adversarial" and runs[0.5].config["pipeline"]["ops"] == []
    assert runs[0.5].final["adv_eps"] == pytest.approx(0.15)
    assert all(r["adv_acc"] is not None and r["corruption_acc"] is not None for r in out["results"])


def test_train_json_final_carries_robustness(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--source", SMALL["source"], "--target", SMALL["target"], "--max-steps", "3",
                 "--batch-size", "32", "--device", "cpu", "--objective", "adversarial", "--adv-method", "pgd",
                 "--strength", "0.3", "--strength-schedule", "linear", "--robust-samples", "20", "--json"])
    out = strict_json(capsys.readouterr().out)
    assert code == 0
    rob = out["final"]["robustness"]
    assert set(rob) >= {"corruption_acc", "corruption_by_kind", "adv_curve", "eps_half"}
    assert all(set(p) >= {"eps", "acc"} for p in rob["adv_curve"])
    run = get_store().get_run(out["run_id"])
    assert run.config["adv_method"] == "pgd" and run.config["strength_schedule"] == "linear"
    steps = get_store().metrics([out["run_id"]])
    ramp = steps[steps["name"] == "aug_strength"].sort_values("step")["value"].tolist()
    assert ramp == pytest.approx([0.0, 0.15, 0.3])
    main(["train", "--source", SMALL["source"], "--target", SMALL["target"], "--max-steps", "2", "--batch-size",
          "32", "--device", "cpu", "--no-robustness"])
    assert "robustness" not in capsys.readouterr().out


def test_the_ray_backend_without_ray_is_a_one_line_mistake(capsys: pytest.CaptureFixture[str]) -> None:
    from da_core.scale import ray_available

    if ray_available():
        pytest.skip("Ray is installed here (tests/test_scale_ray.py covers it)")
    before = len(get_store().list_sweeps())
    code = main(["sweep", "--source", SMALL["source"], "--target", SMALL["target"], "--backend", "ray",
                 "--max-steps", "2", "--seeds", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "requirements-scale.txt" in err[0]
    assert len(get_store().list_sweeps()) == before  # nothing recorded
