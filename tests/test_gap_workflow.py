"""The gap workflow on the default pair: a significant gap, a baseline far below it, a per-class table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _helpers import strict_json

from da_core.cli import main
from da_core.data import load_dataset
from da_core.data.images import make_dataset
from da_core.gap import METRICS, MetricResult, mmd2
from da_core.gap_workflow import (
    EmbeddedPair,
    analyse_gap,
    gap_verdict,
    map_points,
    map_samples,
    metric_rows,
    selection_images,
)


@pytest.fixture(scope="module")
def analysis():
    src = load_dataset("builtin:printed-digits")
    tgt = load_dataset("builtin:handwritten-digits")
    return analyse_gap(src, tgt, "digits-cnn", max_samples=1000, seed=0)


def test_default_pair_gap_is_significant_with_a_low_baseline(analysis) -> None:
    m = analysis.metrics["mmd2"]
    assert m.p_value < 0.01 and m.significant
    assert m.baseline < 0.1 * m.value
    assert m.ci[0] <= m.value <= m.ci[1]
    for name in ("pad", "frechet", "coral", "swd"):
        res = analysis.metrics[name]
        assert res.significant and res.baseline < res.value, name


def test_per_class_table_and_probe(analysis) -> None:
    assert len(analysis.per_class) == 10
    assert {"class", "n_source", "n_target", "mmd2", "target_acc", "source_acc"} <= set(analysis.per_class[0])
    worst = [r["mmd2"] for r in analysis.per_class if r["mmd2"] is not None]
    assert worst == sorted(worst, reverse=True)
    assert analysis.probe["source_acc"] > 0.95
    assert analysis.probe["target_acc"] < analysis.probe["source_acc"] - 0.1


def test_cap_is_stratified_and_seeded() -> None:
    ds = load_dataset("builtin:printed-digits?n=500")
    a, b = ds.capped(100, seed=1), ds.capped(100, seed=1)
    assert len(a) == 100 and set(a.counts.values()) == {10}
    assert a.fingerprint == b.fingerprint
    assert ds.capped(1000) is ds


def test_gap_command_json_and_saved_embeddings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "emb.npz"
    code = main(["gap", "--source", "builtin:printed-digits?n=300", "--target", "builtin:handwritten-digits?n=300",
                 "--max-samples", "300", "--json", "--save-embeddings", str(out)])
    assert code == 0
    data = strict_json(capsys.readouterr().out)
    assert data["embedder"] == "digits-cnn" and data["n_source"] == 300 and data["n_target"] == 300
    for name in ("mmd2", "pad", "frechet", "coral", "swd"):
        m = data["metrics"][name]
        assert {"value", "baseline", "ci", "significant"} <= set(m) and len(m["ci"]) == 2
    assert data["metrics"]["mmd2"]["p_value"] is not None and data["metrics"]["mmd2"]["bandwidth"] > 0
    saved = np.load(out)
    assert set(saved.files) == {"source", "target", "source_labels", "target_labels", "source_uids", "target_uids"}
    source = load_dataset("builtin:printed-digits?n=300")
    assert set(saved["source_uids"].tolist()) <= set(source.uids) and len(saved["source_uids"]) == 300
    assert saved["source"].shape == (300, 128)
    # exactly the vectors the metrics were computed on
    again = mmd2(saved["source"], saved["target"], data["metrics"]["mmd2"]["bandwidth"])
    assert again == pytest.approx(data["metrics"]["mmd2"]["value"], rel=1e-6)


def test_gap_command_bad_embedder_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["gap", "--source", "builtin:printed-digits?n=50", "--target", "builtin:handwritten-digits?n=50",
                 "--embedder", "nonsense"])
    assert code == 2
    assert "unknown embedder" in capsys.readouterr().err


@pytest.mark.parametrize("seed", range(6))
def test_probe_keeps_a_one_sample_class_in_training(seed: int) -> None:
    """1 vs 39: whatever the seed, the single sample stays in the training split (it used to land in the test
    split for some seeds, and logistic regression refused a one-class fit)."""
    from da_core.gap_workflow import linear_probe

    rng = np.random.default_rng(seed)
    ys = np.array([0] + [1] * 39)
    xs = rng.normal(size=(40, 5)) + ys[:, None] * 2
    overall, per_target, per_source = linear_probe(xs, ys, xs, ys, 2, seed=seed)
    assert 0.0 <= overall["source_acc"] <= 1.0 and 0.0 <= overall["target_acc"] <= 1.0
    assert np.isnan(per_source[0]) and not np.isnan(per_source[1])  # class 0 could not be held out


def test_gap_command_on_a_tiny_two_class_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls, n in (("0", 1), ("1", 39)):
        (tmp_path / cls).mkdir()
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (20, 20), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    code = main(["gap", "--source", f"folder:{tmp_path}", "--target", "builtin:handwritten-digits?n=100",
                 "--seed", "2", "--embedder", "pixels", "--permutations", "10", "--json"])
    data = strict_json(capsys.readouterr().out)
    assert code == 0 and data["n_source"] == 40 and data["probe"]["target_acc"] is not None


def _small_pair() -> EmbeddedPair:
    """Three grey source samples and two RGB target samples with 2-D vectors (the page's inputs, without a model)."""
    src = make_dataset(np.arange(3 * 4 * 4, dtype=np.uint8).reshape(3, 1, 4, 4), [0, 1, 0], ["a", "b"], "src")
    tgt = make_dataset(np.full((2, 3, 4, 4), 200, dtype=np.uint8), [1, 0], ["a", "b"], "tgt")
    return EmbeddedPair("pixels", "cpu", src, tgt, np.zeros((3, 2)), np.ones((2, 2)), 0.0)


def test_map_points_stack_source_then_target_with_domain_and_label() -> None:
    points, domains, labels = map_points(_small_pair())
    assert points.shape == (5, 2) and points[:3].sum() == 0 and points[3:].min() == 1
    assert domains.tolist() == ["source"] * 3 + ["target"] * 2
    assert labels.tolist() == [0, 1, 0, 1, 0]


def test_map_rows_become_samples_of_each_domain_and_their_images() -> None:
    pair = _small_pair()
    assert map_samples(pair, [4, 1, 3, 1]) == [("source", 1), ("target", 0), ("target", 1)]
    images = selection_images(pair, [4, 1, 3, 1])
    assert images.shape == (3, 3, 4, 4) and images.dtype == np.uint8  # grey replicated to RGB beside colour
    assert (images[0] == pair.source.images[1].numpy()).all() and (images[1:] == 200).all()
    assert selection_images(pair, [0, 2]).shape == (2, 1, 4, 4)  # all grey: left as is
    assert selection_images(pair, [0, 1, 2, 3], limit=2).shape == (2, 1, 4, 4)
    assert len(selection_images(pair, [])) == 0


def test_metric_table_and_the_verdict_sentence() -> None:
    metrics = {"mmd2": MetricResult("mmd2", 0.31234, 0.0012, (0.25, 0.37), p_value=0.004975, significant=True),
               "coral": MetricResult("coral", 2.0, 1.0, (0.5, 3.0))}
    rows = metric_rows(metrics)
    assert [r["metric"] for r in rows] == [METRICS["mmd2"].label, METRICS["coral"].label]
    assert rows[0] == {"metric": METRICS["mmd2"].label, "value": 0.31234, "baseline": 0.0012, "95% CI": "[0.25, 0.37]",
                       "p": "0.005", "gap?": "yes"}
    assert rows[1]["p"] == "—" and rows[1]["gap?"] == "no"
    significant, said = gap_verdict(metrics)
    assert significant and said == ("**The gap is significant.** MMD² = 0.3123 against 0.0012 between two halves of "
                                    "the source; permutation p = 0.00498.")
    metrics["mmd2"] = MetricResult("mmd2", 0.001, 0.002, (-0.01, 0.01), p_value=0.41, significant=False)
    assert gap_verdict(metrics) == (False, "**No significant gap.** MMD² = 0.001 (baseline 0.002); permutation "
                                           "p = 0.41.")
    assert gap_verdict({"coral": metrics["coral"]}) is None


# ------------------------------------------------------------------------------------------ many points


def test_a_large_map_draws_a_stated_subsample_per_domain(monkeypatch) -> None:
    import da_core.gap_workflow as gw

    domains = np.array(["source"] * 120 + ["target"] * 30)
    assert gw.shown_rows(domains) is None  # below the threshold every point is drawn
    monkeypatch.setattr(gw, "SHOW_ALL_PER_DOMAIN", 100)
    monkeypatch.setattr(gw, "SHOWN_PER_DOMAIN", 50)
    rows = gw.shown_rows(domains, seed=3)
    assert rows is not None and np.all(np.diff(rows) > 0)
    assert (domains[rows] == "source").sum() == 50 and (domains[rows] == "target").sum() == 30
    assert np.array_equal(rows, gw.shown_rows(domains, seed=3))  # seeded
    notes = gw.map_notes(domains, rows, {"fitted": 100, "placed": 50, "placement": "mean of the 10 nearest"})
    assert notes[0].startswith("Showing 80 of 150 points (50 of 120 source, 30 of 30 target")
    assert "UMAP fitted on 100 points" in notes[1] and "other 50 placed" in notes[1]
    assert gw.map_notes(domains, None, {}) == []


def test_the_metrics_of_a_large_pair_run_on_a_stratified_subsample() -> None:
    from da_core.gap_workflow import for_metrics

    src = make_dataset(np.zeros((40, 1, 4, 4), dtype=np.uint8), [0] * 30 + [1] * 10, ["a", "b"], "src")
    tgt = make_dataset(np.zeros((12, 1, 4, 4), dtype=np.uint8), [0, 1] * 6, ["a", "b"], "tgt")
    pair = EmbeddedPair("pixels", "cpu", src, tgt, np.arange(40.0)[:, None], np.arange(12.0)[:, None], 0.0)
    assert for_metrics(pair, per_domain=40) is pair
    small = for_metrics(pair, seed=1, per_domain=20)
    assert len(small.xs) == len(small.source) == 20 and len(small.xt) == 12
    assert small.source.counts == {"a": 15, "b": 5}
    # each kept vector stays beside its own sample
    kept = [src.uids.index(u) for u in small.source.uids]
    assert small.xs[:, 0].tolist() == [float(i) for i in kept]


def test_selection_on_a_subsampled_map_still_gives_uids() -> None:
    from da_core import viz

    pair = _small_pair()
    points, domains, labels = map_points(pair)
    fig = viz.embedding_map_figure(points, domains, labels, ["a", "b"], rows=np.array([1, 4]))
    drawn = [row for trace in fig.data for row, _ in trace.customdata]
    assert sorted(drawn) == [1, 4]  # the subsample keeps the rows of the whole map
    picked = viz.selected_rows([{"customdata": [4, 0]}, {"customdata": {"0": 1, "1": 1}}])
    from da_core.gap_workflow import selection_table

    table = selection_table(pair, picked, {}, {})
    assert table["uid"].tolist() == [pair.source.uids[1], pair.target.uids[1]]


def test_the_density_overview_counts_every_point() -> None:
    from da_core import viz

    rng = np.random.default_rng(0)
    coords = np.concatenate([rng.normal(0, 1, (500, 2)), rng.normal(3, 1, (200, 2))])
    domains = np.array(["source"] * 500 + ["target"] * 200)
    fig = viz.density_figure(coords, domains, bins=20)
    src, tgt, diff = fig.data
    assert np.nansum(10 ** np.asarray(src.z, dtype=float)) == pytest.approx(500)
    assert np.nansum(10 ** np.asarray(tgt.z, dtype=float)) == pytest.approx(200)
    z = np.asarray(diff.z, dtype=float)
    assert np.nansum(z) == pytest.approx(0, abs=1e-6)  # shares sum to one on both sides
    assert z[15, 15] > 0 > z[5, 5]  # the target's corner is red, the source's blue
