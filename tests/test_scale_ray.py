"""Sweeps, studies and searches on Ray (``make test-ray``): a local Ray of 2 CPUs; the same metrics as the local
backend, one task's (or trial's) failure retried once and then recorded without losing the others, Stop, Ray
Tune's scheduler pruning a trial, and the history written by the driver."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from da_core.scale import RayOptions, check_backend  # noqa: E402
from da_core.train.config import TrainConfig  # noqa: E402
from da_core.train.store import RunStore  # noqa: E402
from da_core.train.sweep import ROTATION_AFFINE, SweepSpec, run_sweep  # noqa: E402

pytestmark = pytest.mark.ray

BASE = {"source": "builtin:printed-digits?n=600", "target": "builtin:handwritten-digits?n=600", "batch_size": 32,
        "device": "cpu", "max_steps": 6, "robust_samples": 20}
OPTIONS = RayOptions(local_cpus=2, cpus_per_run=1)


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Any:
    """One local Ray of 2 CPUs for the module (each session would otherwise start and stop its own)."""
    from da_core.scale.ray_runs import _runtime_env

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=_runtime_env(None))
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the flaky bodies below travel by value
    yield
    ray.shutdown()


def _spec(seeds: list[int]) -> SweepSpec:
    return SweepSpec(TrainConfig.from_dict(BASE), ROTATION_AFFINE, [0.5], seeds)


def _fields(result: Any) -> list[tuple]:
    return [(r["strength"], r["seed"], r["status"], r["target_acc"], r["source_acc"], r["train_loss"])
            for r in result.results]


def test_the_same_sweep_on_ray_and_locally_gives_the_same_metrics(tmp_path: Path) -> None:
    import torch

    spec = _spec([0, 1])
    on_ray = run_sweep(spec, RunStore(tmp_path / "ray.sqlite"), backend="ray", ray=OPTIONS)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each task has: one CPU, one thread
    try:
        local = run_sweep(spec, RunStore(tmp_path / "local.sqlite"))
    finally:
        torch.set_num_threads(threads)
    assert on_ray.status == "finished" and len(on_ray.results) == 4
    assert _fields(on_ray) == _fields(local)
    store = RunStore(tmp_path / "ray.sqlite")
    run = store.get_run(on_ray.results[1]["run_id"])
    assert run.status == "finished" and run.sweep_id == on_ray.sweep_id
    metrics = store.metrics([run.id])
    assert {"train_loss", "target_acc", "aug_strength"} <= set(metrics["name"])  # streamed back, written here
    assert len(metrics[metrics["name"] == "train_loss"]) == 6
    assert run.final["robustness"]["samples"] == 20
    # the task hands its training film back: the driver keeps the same film as a local run of the same config
    local_store = RunStore(tmp_path / "local.sqlite")
    from da_core.train.film import Film

    ray_film, local_film = (Film.from_bytes(st.film(r["run_id"])) for st, r in
                            ((store, on_ray.results[1]), (local_store, local.results[1])))
    assert ray_film.steps.tolist() == local_film.steps.tolist()
    assert (ray_film.rows == local_film.rows).all()


def _flaky_body(config: dict, data: Any, emit: Any, stop: threading.Event) -> dict:
    """Fails the first attempt of seed 1 (after some steps) and every attempt of seed 2; else a normal run."""
    from da_core.scale.ray_runs import train_body

    marker = Path(config["extra"]["marker"]) / f"seed-{config['seed']}"
    if config["seed"] == 2 or (config["seed"] == 1 and not marker.exists()):
        marker.touch()
        emit("step", {"step": 1, "epoch": 1, "train_loss": 9.0, "train_acc": 0.0, "lr": 0.1})
        raise RuntimeError(f"worker trouble on seed {config['seed']}")
    return train_body(config, data, emit, stop)


def test_a_failing_task_is_retried_once_then_recorded_failed_and_the_others_kept(tmp_path: Path) -> None:
    from da_core.scale.ray_runs import RaySession

    base = TrainConfig.from_dict({**BASE, "extra": {"marker": str(tmp_path)}})
    spec = SweepSpec(base, ROTATION_AFFINE, [0.5], [0, 1, 2])
    store = RunStore(tmp_path / "runs.sqlite")
    original = RaySession.__init__

    def flaky(self: Any, options: Any, data: Any = None, body: Any = None) -> None:
        original(self, options, data, _flaky_body)

    RaySession.__init__ = flaky  # type: ignore[method-assign]
    try:
        result = run_sweep(spec, store, backend="ray", ray=OPTIONS)
    finally:
        RaySession.__init__ = original  # type: ignore[method-assign]
    by_seed = {(r["strength"], r["seed"]): r for r in result.results}
    assert len(result.results) == 6
    assert by_seed[(0.5, 1)]["status"] == "finished"  # retried once, then fine
    retried = store.metrics([by_seed[(0.5, 1)]["run_id"]])
    assert 9.0 not in retried[retried["name"] == "train_loss"]["value"].tolist()  # the failed attempt's step went
    assert by_seed[(0.5, 2)]["status"] == "failed" and by_seed[(0.0, 2)]["status"] == "failed"
    assert "worker trouble on seed 2" in store.get_run(by_seed[(0.5, 2)]["run_id"]).message
    assert all(by_seed[(s, seed)]["status"] == "finished" for s in (0.0, 0.5) for seed in (0, 1))
    assert "2 of 6 runs failed" in result.message


def test_stop_ends_the_running_tasks_and_starts_no_more(tmp_path: Path) -> None:
    spec = SweepSpec(TrainConfig.from_dict({**BASE, "max_steps": 400}), ROTATION_AFFINE, [0.5], [0, 1, 2])
    store = RunStore(tmp_path / "runs.sqlite")
    stop = threading.Event()
    started: list[int] = []

    def on_run(run_id: int, index: int, total: int, label: str) -> None:
        started.append(run_id)
        if len(started) == 2:
            threading.Timer(4.0, stop.set).start()  # both slots busy: stop mid-run

    result = run_sweep(spec, store, stop=stop, on_run=on_run, backend="ray", ray=OPTIONS)
    assert result.status == "stopped"
    assert len(started) == 2  # the other four never started
    for run_id in started:
        run = store.get_run(run_id)
        assert run.status == "stopped" and 0 < run.final["steps"] < 400


def test_the_backend_is_checked() -> None:
    from da_core.errors import SpecError

    assert check_backend("ray") == "ray"
    with pytest.raises(SpecError, match="backend"):
        check_backend("spark")
    with pytest.raises(SpecError, match="cpus per run"):
        RayOptions(cpus_per_run=0).validate()


def test_a_study_on_ray_pairs_the_same_runs_as_locally(tmp_path: Path) -> None:
    import torch

    from da_core.study import StudySpec, run_study

    spec = StudySpec(TrainConfig.from_dict({**BASE, "target_labels_per_class": 3}), ["source-only", "augmented"],
                     [0, 1], pipeline=dict(ROTATION_AFFINE), strength=0.3).validate()
    on_ray = run_study(spec, RunStore(tmp_path / "ray.sqlite"), backend="ray", ray=OPTIONS)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local = run_study(spec, RunStore(tmp_path / "local.sqlite"))
    finally:
        torch.set_num_threads(threads)

    def accs(result: Any) -> dict:
        return {(r["arm"], r["seed"]): (r["status"], r["target_acc"]) for r in result.records}

    assert on_ray.status == "finished" and len(on_ray.records) == 4
    assert accs(on_ray) == accs(local)
    assert on_ray.to_dict()["recommendation"] == local.to_dict()["recommendation"]


# ------------------------------------------------------------------------------------ tuning through Ray Tune

def _search(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, base: dict, sampler: str, pruner: str, trials: int,
            space: dict | None = None) -> Any:
    """A small search's spec, with Optuna's storage in this test's own folder."""
    from da_core.tune import TuneSpec, parse_space

    monkeypatch.setenv("DA_DATA_DIR", str(tmp_path))
    space = space or {"lr": {"low": 1e-3, "high": 1e-2, "log": True}}
    return TuneSpec(TrainConfig.from_dict(base), parse_space(space), "im", sampler, pruner, trials, seed=0)


def test_a_search_through_ray_tune_records_the_same_trials_as_a_local_one(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The random sampler's sequence is the same through Tune's Optuna searcher (the same sampler, asked in trial
    order), so trial by trial the same params give the same scores; the record has the local one's shape."""
    import optuna
    import torch

    from da_core.tune import run_tune
    from da_core.tune.figures import search_figures

    spec = _search(monkeypatch, tmp_path, BASE, "random", "none", 3)
    store = RunStore(tmp_path / "runs.sqlite")  # one store: the two searches get their own ids and Optuna studies
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each trial has: one CPU, one thread
    try:
        local = run_tune(spec, store)
    finally:
        torch.set_num_threads(threads)
    seen: list[int] = []
    on_ray = run_tune(spec, store, on_trial=lambda t: seen.append(t["number"]), backend="ray", ray=OPTIONS)
    assert on_ray["status"] == "finished" and sorted(seen) == [0, 1, 2]

    def trials(result: dict) -> list[tuple]:
        return [(t["number"], t["state"], t["params"], t["validators"], t["target_acc"]) for t in result["trials"]]

    assert trials(on_ray) == trials(local)
    assert set(on_ray) == set(local) and on_ray["best"] == local["best"] and on_ray["agreement"] == local["agreement"]
    assert all(set(a) == set(b) for a, b in zip(on_ray["trials"], local["trials"]))
    for trial in on_ray["trials"]:
        run = store.get_run(trial["run_id"])
        assert run.status == "finished" and run.sweep_id == on_ray["search_id"] != local["search_id"]
        metrics = store.metrics([run.id])
        assert {"train_loss", "target_acc", "val_im"} <= set(metrics["name"])  # streamed back, written here
        assert len(metrics[metrics["name"] == "train_loss"]) == 6
    study = optuna.load_study(study_name=on_ray["study"], storage=f"sqlite:///{tmp_path / 'optuna.sqlite'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    assert [t.value for t in study.trials] == [t["validators"]["im"] for t in local["trials"]]
    assert "history" in search_figures(on_ray["study"])  # the Tuning page's figures read it as a local search's


def _fake_body(config: dict, data: Any, emit: Any, stop: threading.Event) -> dict:
    """A run without a model (fast and exact): 10 steps between evaluations, each scoring the im validator at
    ``scores[trial]``; it stops, like the trainer, at the first batch after the stop flag.  ``fail`` names trials
    that raise: ``"always"``, or ``"once"`` (the first attempt, after a step)."""
    import time

    extra, total = config["extra"], config["max_steps"]
    trial, score = extra["trial"], extra["scores"][extra["trial"]]
    failing = extra.get("fail", {}).get(str(trial))
    marker = Path(extra.get("marker", ".")) / f"trial-{trial}"
    if failing == "always" or (failing == "once" and not marker.exists()):
        marker.touch()
        emit("step", {"step": 1, "epoch": 1, "train_loss": 9.0, "train_acc": 0.0, "lr": 0.1})
        raise RuntimeError(f"worker trouble on trial {trial}")
    emit("start", {"total_steps": total})
    status, step = "finished", 0
    while step < total:
        if stop.is_set():
            status = "stopped"
            break
        time.sleep(extra.get("pause", 0.01))
        step += 1
        emit("step", {"step": step, "epoch": 1, "train_loss": 1.0 / step, "train_acc": 0.5, "lr": config["lr"]})
        if step % 10 == 0:
            emit("eval", {"step": step, "epoch": 1, "source_acc": 0.9, "target_acc": score, "val_im": score})
    final = {"source_acc": 0.9, "target_acc": score, "train_loss": 1.0, "steps": step, "total_steps": total,
             "validators": {"val_im": score}}
    message = f"stopped by the user after {step} steps" if status == "stopped" else ""
    emit("end", {"status": status, "message": message, "final": final})
    return {"status": status, "final": final, "history": [], "seconds": 0.1, "message": message, "details": {}}


@pytest.fixture()
def fake_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray sessions whose runs are :func:`_fake_body`'s."""
    from da_core.scale.ray_runs import RaySession

    original = RaySession.__init__

    def fake(self: Any, options: Any, data: Any = None, body: Any = None) -> None:
        original(self, options, data, _fake_body)

    monkeypatch.setattr(RaySession, "__init__", fake)


FAKE = {**BASE, "max_steps": 60}


def test_the_scheduler_prunes_a_poor_trial_where_the_pruner_would(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  fake_runs: None) -> None:
    """Median: the third trial, far below the first two, is stopped at its first evaluation; the grid sampler
    runs each of its three points once although five trials were asked for."""
    import optuna

    from da_core.tune import run_tune

    base = {**FAKE, "extra": {"scores": [0.8, 0.7, 0.2], "pause": 0.05}}
    spec = _search(monkeypatch, tmp_path, base, "grid", "median", 5, {"lr": {"choices": [0.001, 0.002, 0.003]}})
    store = RunStore(tmp_path / "runs.sqlite")
    result = run_tune(spec, store, backend="ray", ray=OPTIONS)
    states = {t["number"]: t["state"] for t in result["trials"]}
    assert states == {0: "COMPLETE", 1: "COMPLETE", 2: "PRUNED"}
    assert sorted(t["params"]["lr"] for t in result["trials"]) == [0.001, 0.002, 0.003]
    pruned = result["trials"][2]
    assert pruned["message"] == "pruned by the median pruner after step 10 (im = 0.2)"
    run = store.get_run(pruned["run_id"])
    assert run.status == "stopped" and run.message == pruned["message"]
    assert run.final["steps"] == 10  # it waited for Tune's answer at that evaluation, as a local trial does
    assert pruned["validators"] == {"im": 0.2} and result["best"]["im"]["trial"] == 0
    study = optuna.load_study(study_name=result["study"], storage=f"sqlite:///{tmp_path / 'optuna.sqlite'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE", "PRUNED"]


def test_stop_ends_the_search_and_starts_no_more_trials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        fake_runs: None) -> None:
    import time

    from da_core.tune import run_tune

    base = {**FAKE, "max_steps": 2000, "extra": {"scores": [0.5] * 4, "pause": 0.01}}
    spec = _search(monkeypatch, tmp_path, base, "random", "none", 4)
    store = RunStore(tmp_path / "runs.sqlite")
    stop = threading.Event()

    def press_stop() -> None:  # once both slots are busy
        while len(store.list_runs(status=("running",))) < 2:
            time.sleep(0.1)
        time.sleep(1.0)
        stop.set()

    threading.Thread(target=press_stop, daemon=True).start()
    t0 = time.perf_counter()
    result = run_tune(spec, store, stop=stop, backend="ray", ray=OPTIONS)
    assert result["status"] == "stopped" and time.perf_counter() - t0 < 60
    assert len(result["trials"]) == 2 and len(store.list_runs(sweep_id=result["search_id"])) == 2  # no more started
    for trial in result["trials"]:
        run = store.get_run(trial["run_id"])
        assert trial["state"] == "FAIL" and run.status == "stopped" and 0 < run.final["steps"] < 2000  # as locally


def test_a_failing_trial_is_retried_once_then_recorded_failed_and_the_others_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_runs: None) -> None:
    from da_core.tune import run_tune

    base = {**FAKE, "extra": {"scores": [0.6, 0.7, 0.8], "fail": {"1": "once", "2": "always"},
                              "marker": str(tmp_path)}}
    spec = _search(monkeypatch, tmp_path, base, "random", "none", 3)
    store = RunStore(tmp_path / "runs.sqlite")
    result = run_tune(spec, store, backend="ray", ray=OPTIONS)
    by_number = {t["number"]: t for t in result["trials"]}
    assert result["status"] == "finished" and len(by_number) == 3
    assert by_number[0]["state"] == by_number[1]["state"] == "COMPLETE"  # trial 1: retried once, then fine
    retried = store.metrics([by_number[1]["run_id"]])
    assert 9.0 not in retried[retried["name"] == "train_loss"]["value"].tolist()  # the failed attempt's step went
    failed = store.get_run(by_number[2]["run_id"])
    assert by_number[2]["state"] == "FAIL" and failed.status == "failed"
    assert "worker trouble on trial 2" in failed.message and "worker trouble" in by_number[2]["message"]
    assert result["best"]["im"]["trial"] == 1
