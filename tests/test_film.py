"""The training film: one frame per evaluation, the same held-out samples in each, kept with the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from da_core.train.config import TrainConfig
from da_core.train.film import FILM_ROWS, Film, FilmRecorder, film_figure, film_frames, film_story, target_accuracy
from da_core.train.run import execute_run
from da_core.train.store import RunStore
from da_core.train.trainer import Trainer, prepare_data

SMALL = {"source": "builtin:printed-digits?n=600", "target": "builtin:handwritten-digits?n=600",
         "batch_size": 32, "device": "cpu", "robustness": False}


def _run(**changes: Any) -> tuple[Any, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    trainer = Trainer(TrainConfig.from_dict({**SMALL, **changes}),
                      callbacks=[lambda e, p: events.append(p) if e == "eval" else None])
    return trainer.run(), events


def test_a_run_films_every_evaluation_with_the_same_held_out_samples() -> None:
    result, evals = _run(dann=True, epochs=1)
    film = Film.from_bytes(result.film)
    assert film.steps.tolist() == sorted({e["step"] for e in evals})  # one frame per evaluation, step 0 first
    frames, n, dim = film.features.shape
    assert frames == len(film.steps) >= 3 and dim == 128
    assert n == int((film.domains == "source").sum()) + int((film.domains == "target").sum())
    # the rows are the held-out samples of each domain (all of them when fewer than FILM_ROWS): labels match
    data = prepare_data(TrainConfig.from_dict({**SMALL, "dann": True, "epochs": 1}))
    assert (film.domains == "source").sum() == min(FILM_ROWS, len(data.source_eval))
    assert (film.domains == "target").sum() == min(FILM_ROWS, len(data.target_eval))
    src = film.rows[film.domains == "source"]
    assert np.array_equal(film.labels[film.domains == "source"], data.source_eval.labels.numpy()[src])
    # frames differ (the backbone trains), and frame 0 is the backbone before training
    assert not np.allclose(film.features[0], film.features[-1])
    coords = film_frames(film, method="pca")
    assert coords.shape == (frames, n, 2) and np.isfinite(coords).all()


def test_a_frozen_backbone_films_a_still_picture() -> None:
    result, _ = _run(mode="linear", epochs=1)
    film = Film.from_bytes(result.film)
    np.testing.assert_allclose(film.features[0], film.features[-1], atol=1e-3)
    coords = film_frames(film, method="pca")
    np.testing.assert_allclose(coords[0], coords[-1], atol=1e-3)  # aligned: the same layout, not a mirror


def test_alignment_undoes_a_rotation_and_a_reflection() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(60, 2)).astype(np.float32) * [3.0, 1.0]
    turned = base @ np.array([[0.0, -1.0], [-1.0, 0.0]], dtype=np.float32)  # rotate and mirror
    film = Film(np.array([0, 5]), np.stack([base, turned]), np.array(["source", "target"] * 30),
                np.zeros(60, dtype=np.int64), np.arange(60))
    coords = film_frames(film, method="pca")
    np.testing.assert_allclose(coords[1], coords[0], atol=1e-4)


def test_mixing_is_near_chance_when_mixed_and_near_zero_when_apart() -> None:
    rng = np.random.default_rng(1)
    mixed = rng.normal(size=(200, 4))
    apart = mixed.copy()
    apart[100:] += 50
    domains = np.array(["source"] * 100 + ["target"] * 100)
    film = Film(np.array([0, 1]), np.stack([apart, mixed]).astype(np.float32), domains,
                np.zeros(200, dtype=np.int64), np.arange(200))
    low, high = film.mixing
    assert low == 0.0 and 0.7 < high < 1.3
    story = film_story(film, {0: 0.4, 1: 0.8})
    assert "merged" in story and "0.00× as often as chance at step 0" in story and "0.400 to 0.800" in story


def test_the_recorder_keeps_one_frame_per_step() -> None:
    rec = FilmRecorder(torch.tensor([0, 1] * 10), torch.tensor([0, 1] * 10), seed=0, rows=6)
    feats = (torch.arange(40.0).view(20, 2), torch.arange(40.0).view(20, 2) + 100)
    rec.capture(0, feats)
    rec.capture(0, (feats[0] + 1, feats[1] + 1))  # the same step again (the final evaluation): replaced
    rec.capture(4, feats)
    rec.capture(5, None)
    film = Film.from_bytes(rec.to_bytes())
    assert film.steps.tolist() == [0, 4] and film.features.shape == (2, 12, 2)
    assert np.array_equal(film.features[0], film.features[1] + 1)
    assert FilmRecorder([0, 1], [0, 1], 0).to_bytes() is None


def test_the_film_is_kept_with_the_run_and_goes_with_it(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    cfg = TrainConfig.from_dict({**SMALL, "epochs": 1})
    run_id = store.create_run(cfg.to_dict())
    out = execute_run(cfg, store, run_id)
    assert out["status"] == "finished"
    data = store.film(run_id)
    assert data and store.has_films([run_id, 999]) == {run_id}
    film = Film.from_bytes(data)
    accuracy = target_accuracy(store.metrics([run_id]))
    assert set(accuracy) == set(film.steps.tolist())
    fig = film_figure(film, film_frames(film, method="pca"), [str(c) for c in range(10)], accuracy)
    assert len(fig.frames) == len(film.steps) and len(fig.layout.sliders[0].steps) == len(film.steps)
    assert f"target accuracy {accuracy[int(film.steps[-1])]:.3f}" in fig.frames[-1].layout.title.text
    store.delete_runs([run_id])
    assert store.film(run_id) is None
    off = store.create_run(cfg.replace(film=False).to_dict())
    execute_run(cfg.replace(film=False), store, off)
    assert store.film(off) is None


def test_a_diverged_run_keeps_no_film() -> None:
    result, _ = _run(lr=1e6, epochs=1)
    assert result.status == "diverged" and result.film is None
