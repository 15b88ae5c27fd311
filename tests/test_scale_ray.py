"""Sweeps on Ray (``make test-ray``): a local Ray of 2 CPUs; the same metrics as the local backend, one task's
failure retried once and then recorded without losing the others, Stop, and the history written by the driver."""

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
