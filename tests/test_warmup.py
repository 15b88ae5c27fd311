"""The one-time preparation of the default pair (da_core.warmup): its steps and progress record, the disk
caches a repeat reads back, the background thread, the command, and what the app does with it."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from _helpers import strict_json
from streamlit.testing.v1 import AppTest

from da_core import warmup
from da_core.cli import main

APP = str(Path(__file__).resolve().parents[1] / "app.py")
SMALL_SOURCE = "builtin:printed-digits?n=300"
SMALL_TARGET = "builtin:handwritten-digits?n=300"


def _refuse(what: str) -> Any:
    def fail(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError(f"{what} was recomputed instead of read back")

    return fail


def test_prepare_does_every_step_in_order_and_a_repeat_reads_everything_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DA_CACHE_DIR", str(tmp_path / "cache"))  # empty: every step has to do its work
    tracker = warmup.Tracker()
    seen: list[tuple[float, str]] = []
    steps: list[str] = []

    def on_step(name: str, prepared: warmup.Prepared) -> None:
        assert name not in tracker.snapshot().done  # results are handed over before the step counts as done
        steps.append(name)

    first = warmup.prepare(SMALL_SOURCE, SMALL_TARGET, umap="map", progress=lambda f, m: seen.append((f, m)),
                           on_step=on_step, tracker=tracker)
    assert steps == list(warmup.STEP_NAMES)
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and 0.0 <= fractions[0] < 0.2
    assert [m.split(":")[0] for _, m in seen if m.endswith(": ready")] == list(warmup.STEP_NAMES)
    status = tracker.snapshot()
    assert status.state == "done" and status.done == frozenset(warmup.STEP_NAMES) and status.overall == 1.0
    assert [s.name for s in first.steps] == list(warmup.STEP_NAMES)
    assert all(not s.cached for s in first.steps), [s.to_dict() for s in first.steps]
    cache = tmp_path / "cache"
    for folder, pattern in (("datasets", "*.npz"), ("models", "digits-cnn-*.pt"), ("embeddings", "*.npy"),
                            ("maps", "*.npz"), ("gap", "*.json")):
        assert list((cache / folder).glob(pattern)), folder
    assert len(first.embedded.xs) == 300 and first.map.coords.shape == (600, 2)
    assert "mmd2" in first.analysis.metrics

    # a repeat computes nothing: every step reads its cache, and the numbers are the same
    monkeypatch.setattr("da_core.gap_workflow.measure_gap", _refuse("the gap analysis"))
    monkeypatch.setattr("da_core.reduce.reduce", _refuse("the map"))
    again = warmup.prepare(SMALL_SOURCE, SMALL_TARGET, umap="map", tracker=warmup.Tracker())
    assert [s.files_written for s in again.steps] == [0] * len(warmup.STEP_NAMES)
    assert json.dumps({k: r.to_dict() for k, r in again.analysis.metrics.items()}) == json.dumps(
        {k: r.to_dict() for k, r in first.analysis.metrics.items()})
    assert json.dumps(again.analysis.per_class) == json.dumps(first.analysis.per_class)
    assert again.analysis.probe == first.analysis.probe
    assert (again.map.coords == first.map.coords).all() and again.map.engine == first.map.engine

    # the command does the same and says so
    assert main(["warmup", "--source", SMALL_SOURCE, "--target", SMALL_TARGET, "--no-umap", "--json"]) == 0
    out = strict_json(capsys.readouterr().out)
    assert [s["name"] for s in out["steps"]] == list(warmup.STEP_NAMES)
    assert all(s["cached"] for s in out["steps"]), out["steps"]
    assert out["source"] == first.source_spec and out["cache_dir"] == str(cache)


def test_a_changed_input_is_measured_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DA_CACHE_DIR", str(tmp_path / "cache"))
    from da_core.data import load_dataset
    from da_core.gap_workflow import embed_for_gap

    pair = embed_for_gap(load_dataset(SMALL_SOURCE), load_dataset(SMALL_TARGET), "pixels", 200, 0)
    first = warmup.cached_measure_gap(pair, 0, n_permutations=20, n_boot=20)
    pair.xt = pair.xt + 1.0  # the target moved: its cached numbers must not be reused
    moved = warmup.cached_measure_gap(pair, 0, n_permutations=20, n_boot=20)
    assert moved.metrics["mmd2"].value != first.metrics["mmd2"].value
    assert len(list((tmp_path / "cache" / "gap").glob("*.json"))) == 2
    for f in (tmp_path / "cache" / "gap").glob("*.json"):
        f.write_text("{damaged")  # a damaged file is recomputed, never fatal
    assert warmup.cached_measure_gap(pair, 0, n_permutations=20, n_boot=20).metrics["mmd2"].value == pytest.approx(
        moved.metrics["mmd2"].value)


def test_a_failing_step_is_recorded_and_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    tracker = warmup.Tracker()

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("no model today")

    monkeypatch.setattr("da_core.models.load_digits_cnn", broken)
    with pytest.raises(RuntimeError, match="no model today"):
        warmup.prepare(SMALL_SOURCE, SMALL_TARGET, umap="skip", tracker=tracker)
    status = tracker.snapshot()
    assert status.state == "failed" and status.done == {"datasets"} and "no model today" in status.line()
    assert status.ready(["gap"])  # nothing under way any more: pages stop waiting and compute themselves


def test_the_background_thread_runs_once_publishes_each_step_then_runs_the_other_warm_ups(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warmup, "_BG_THREAD", None)
    order: list[str] = []

    def fake_prepare(source: str, target: str, umap: str, on_step: Any, import_torchvision: bool) -> warmup.Prepared:
        assert (source, target, umap, import_torchvision) == ("builtin:a", "builtin:b", "map", True)
        prepared = warmup.Prepared("builtin:a", "builtin:b")
        for name in warmup.STEP_NAMES:
            if name == "datasets":
                prepared.source, prepared.target = "SRC", "TGT"
            on_step(name, prepared)
        return prepared

    monkeypatch.setattr(warmup, "prepare", fake_prepare)
    published: list[list[tuple[str, str, Any]]] = []
    after = [lambda: order.append("umap"), lambda: order.append("preview")]
    thread = warmup.start_background("builtin:a", "builtin:b", published.append, after, after_delay=0.0)
    assert warmup.start_background("builtin:c", "builtin:d") is thread  # once per process
    thread.join(10)
    assert not thread.is_alive() and order == ["umap", "preview"]
    assert len(published) == len(warmup.STEP_NAMES)
    assert ("dataset", "builtin:a", "SRC") in published[0] and ("dataset", "builtin:b", "TGT") in published[0]


def _visit(at: AppTest, page: str) -> None:
    """Switch to a page through app.py (after the first reroute pages/_routing lets AppTest run a page file alone,
    which would skip app.py's waiting view)."""
    from pages import _routing

    _routing.reset()
    at.switch_page(page).run()


def _waiting(at: AppTest) -> bool:
    """Whether the page shows the preparation's progress bar (app.py's waiting view)."""
    return any("Preparing the default pair" in str(p.proto.text) for p in at.get("progress"))


def _fresh_tracker(monkeypatch: pytest.MonkeyPatch, done: tuple[str, ...]) -> warmup.Tracker:
    tracker = warmup.Tracker()
    tracker.begin()
    for name in done:
        tracker.complete(name)
    monkeypatch.setattr(warmup, "TRACKER", tracker)
    return tracker


def test_pages_show_the_progress_until_their_steps_are_done(monkeypatch: pytest.MonkeyPatch) -> None:
    tracker = _fresh_tracker(monkeypatch, ("datasets",))
    tracker.enter("model")
    tracker.update(0.4, "pretraining digits-cnn: epoch 2/3")
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception
    note = " ".join(i.value for i in at.info)
    assert "Preparing the default pair: step 2/5" in note and "epoch 2/3" in note
    _visit(at, "pages/gap.py")  # needs every step: waits, showing the progress
    assert not at.exception
    assert [t.value for t in at.title] == ["Gap map"] and "Gap metrics" not in [h.value for h in at.subheader]
    assert _waiting(at) and any("step 2/5" in str(p.proto.text) for p in at.get("progress"))
    _visit(at, "pages/datasets.py")  # needs only the datasets: draws at once
    assert not at.exception and "Summary" in [h.value for h in at.subheader] and not _waiting(at)


def test_a_page_waits_only_on_the_default_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    _fresh_tracker(monkeypatch, ())
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    _visit(at, "pages/datasets.py")
    assert "Summary" not in [h.value for h in at.subheader] and _waiting(at)  # the default pair: it waits
    at.session_state["target_spec"] = "builtin:corrupted-digits?kind=noise&severity=2"
    _visit(at, "pages/datasets.py")
    assert not at.exception and "Summary" in [h.value for h in at.subheader] and not _waiting(at)  # another pair
    warmup.TRACKER.succeed()
    _visit(at, "pages/home.py")
    assert any("The default pair is prepared" in c.value for c in at.caption)


def test_the_gap_page_uses_the_prepared_results_without_recomputing(monkeypatch: pytest.MonkeyPatch) -> None:
    from pages import _ui

    prepared = warmup.prepare(umap="map", tracker=warmup.Tracker())  # the default pair, as the server prepares it
    cache, lock = _ui._memo_store()
    with lock:
        cache.clear()  # what earlier tests computed must not stand in for the prepared results
        for kind, key, value in warmup.memo_entries(prepared):
            cache[(kind, key)] = value
    for name in ("da_core.data.load_dataset", "da_core.gap_workflow.embed_for_gap", "da_core.gap_workflow.measure_gap",
                 "da_core.reduce.reduce"):
        monkeypatch.setattr(name, _refuse(name))
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    _visit(at, "pages/gap.py")
    assert not at.exception, [e.value for e in at.exception]
    assert any("The gap is significant" in s.value for s in at.success)
    assert len(at.dataframe[0].value) == len(prepared.analysis.metrics)


def test_the_app_starts_the_warm_up_unless_it_is_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from pages import _ui

    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(warmup, "start_background",
                        lambda *args, **kwargs: calls.append((*args, kwargs)) or threading.current_thread())
    monkeypatch.setenv("DA_WARM_UP", "0")
    AppTest.from_file(APP, default_timeout=60).run()
    assert calls == []
    monkeypatch.setenv("DA_WARM_UP", "1")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception and len(calls) == 1
    source, target, publish, kwargs = calls[0]
    from da_core.data import DEFAULT_SOURCE, DEFAULT_TARGET

    assert (source, target) == (_ui.DEFAULT_SOURCE, _ui.DEFAULT_TARGET) == (DEFAULT_SOURCE, DEFAULT_TARGET)
    assert (warmup.DEFAULT_SOURCE, warmup.DEFAULT_TARGET) == (DEFAULT_SOURCE, DEFAULT_TARGET)
    assert len(kwargs["after"]) == 2  # the UMAP and preview warm-ups follow the preparation
    marker = object()
    publish([("dataset", "test:published", marker)])  # what the worker hands over lands in the pages' cache
    assert _ui._memo_store()[0][("dataset", "test:published")] is marker
