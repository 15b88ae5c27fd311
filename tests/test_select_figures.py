"""What the Selection page shows (da_core.select.figures and da_core.select.view), on one small selection."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from da_core.data import Dataset, load_dataset
from da_core.gap_workflow import gap_key, map_key
from da_core.select import (
    CurvePoint,
    SelectionResult,
    Weights,
    figures,
    get_selector,
    select_source,
    select_top,
    view,
)
from da_core.select.measures import balance_warnings
from da_core.select.selectors import group_column
from da_core.train.config import read_selection
from da_core.warmup import MAP_DEFAULTS

SOURCE, TARGET = "builtin:printed-digits?n=200", "builtin:handwritten-digits?n=120"


@pytest.fixture(scope="module")
def pair() -> tuple[Dataset, Dataset]:
    return load_dataset(SOURCE), load_dataset(TARGET)


@pytest.fixture(scope="module")
def result(pair: tuple[Dataset, Dataset]) -> SelectionResult:
    return select_source(*pair, "density-ratio", fraction=0.5, embedder="pixels", seed=0)


# ------------------------------------------------------------------------------------------------ figures


def test_the_weight_map_colours_the_source_by_weight_and_keeps_rows(result: SelectionResult) -> None:
    n_s, n_t = len(result.xs), len(result.xt)
    coords = np.random.default_rng(0).normal(size=(n_s + n_t, 2))
    fig = figures.weight_map_figure(coords, result.weights, result.selected, "t")
    target, dropped, kept = fig.data
    assert target.name == f"target (n={n_t})" and len(target.x) == n_t
    assert kept.name == f"source, kept (n={int(result.selected.sum())})"
    assert len(kept.x) + len(dropped.x) == n_s
    rows = np.asarray(kept.customdata)[:, 0].astype(int)
    assert result.selected[rows].all() and np.allclose(kept.x, coords[rows, 0])
    rank = np.asarray(kept.marker.color)  # the weight's rank in [0, 1]: it orders the samples as the weights do
    assert rank.min() >= 0 and rank.max() == 1.0 and (kept.marker.cmin, kept.marker.cmax) == (0.0, 1.0)
    assert np.array_equal(np.argsort(rank, kind="stable"), np.argsort(result.weights[rows], kind="stable"))
    assert np.allclose(np.asarray(kept.customdata)[:, 1], result.weights[rows])  # the hover shows the weight
    assert kept.marker.showscale and not dropped.marker.showscale
    assert fig.layout.title.text == "t"


def test_the_weight_histogram_splits_kept_and_names_the_ess(result: SelectionResult) -> None:
    fig = figures.weight_histogram_figure(result.weights, result.selected, result.ess)
    kept, dropped = fig.data
    assert len(kept.x) == result.selected.sum() and len(dropped.x) == (~result.selected).sum()
    assert f"ESS {result.ess:.1%}" in fig.layout.title.text
    assert f"{result.ess * len(result.weights):.0f} of {len(result.weights)}" in fig.layout.title.text
    assert fig.layout.yaxis.type == "log" and fig.layout.barmode == "stack"
    flat = figures.weight_histogram_figure(np.ones(5), np.ones(5, bool), 1.0)  # equal weights: one bin, no error
    assert len(flat.data[0].x) == 5


def test_the_gap_curve_draws_selection_and_random_with_their_bands(result: SelectionResult) -> None:
    fig = figures.gap_curve_figure(result.curve[::-1], fraction=0.3)  # any order in, sorted out
    by_name = {t.name: t for t in fig.data}
    points = sorted(result.curve, key=lambda p: p.fraction)
    line = by_name["selection"]
    assert list(line.x) == [100 * p.fraction for p in points] and list(line.y) == [p.mmd2 for p in points]
    assert list(by_name["random subsets (mean)"].y) == [p.random_mmd2 for p in points]
    band = by_name["selection: 95% CI"]
    assert len(band.x) == 2 * len(points) and band.y[0] == points[0].ci[1] and band.y[-1] == points[0].ci[0]
    assert by_name["random subsets (range)"].fill == "toself"
    assert [s.x0 for s in fig.layout.shapes] == [30]
    assert not figures.gap_curve_figure(result.curve).layout.shapes


# ------------------------------------------------------------------------------------------------ view


@pytest.mark.parametrize("method", ["density-ratio", "class-conditional", "group", "random"])
def test_at_fraction_reselects_from_the_same_weights(pair: tuple[Dataset, Dataset], method: str) -> None:
    res = select_source(*pair, method, fraction=0.5, embedder="pixels", seed=0)
    moved = view.at_fraction(res, 0.2)
    selector = get_selector(method)
    groups = group_column(res.source.meta, "font").to_numpy() if selector.whole_groups else None
    expected = select_top(selector, Weights(res.weights, groups=groups), res.source.labels.numpy(), 0.2)
    assert np.array_equal(moved.selected, expected) and moved.fraction == 0.2
    assert moved.weights is res.weights and moved.curve is res.curve  # nothing weighed or measured again
    assert res.fraction == 0.5 and res.selected.sum() > moved.selected.sum()  # the cached result is untouched
    assert view.at_fraction(res, 0.5) is res
    if method == "group":  # whole groups: every group is all in or all out
        for g in np.unique(groups):
            assert len(set(moved.selected[groups == g])) == 1


def test_at_fraction_recomputes_the_balance_warnings(result: SelectionResult) -> None:
    tiny = view.at_fraction(result, 0.05)  # 10 of 200 samples over 10 classes: some class is left short
    assert tiny.warnings and tiny.warnings == balance_warnings(tiny.class_counts_after, tiny.class_counts_before)
    assert result.warnings == balance_warnings(result.class_counts_after, result.class_counts_before)


def test_class_balance_rows_count_before_and_after(result: SelectionResult) -> None:
    rows = view.class_balance_rows(result)
    assert [r["class"] for r in rows] == result.source.classes
    assert sum(r["before"] for r in rows) == len(result.source)
    assert sum(r["after"] for r in rows) == int(result.selected.sum())
    assert all(r["kept"] == pytest.approx(r["after"] / r["before"]) for r in rows)


def test_the_keys_follow_the_gap_map_and_leave_the_fraction_out(pair: tuple[Dataset, Dataset]) -> None:
    s, t = pair
    key = view.selection_key(s, t, "knn-similarity", {"k": 10}, "pixels", 2000, 0)
    assert key.startswith(gap_key(s, t, "pixels", 2000, 0))
    assert key != view.selection_key(s, t, "knn-similarity", {"k": 5}, "pixels", 2000, 0)
    umap, pca = view.map_keys(s, t, "pixels", 2000, 0)
    m = MAP_DEFAULTS
    assert umap == map_key(gap_key(s, t, "pixels", 2000, 0), 2, m["n_neighbors"], m["min_dist"], m["engine"])
    assert pca == f"{gap_key(s, t, 'pixels', 2000, 0)}|2|pca"  # the Gap page's PCA stand-in


def test_samples_are_named_by_uid(result: SelectionResult) -> None:
    top = result.ranked()[:4]
    images = view.sample_images(result.source, top[::-1])
    assert images.shape == (4, *result.source.shape) and images.dtype == np.uint8
    line = view.uid_caption(result.source, top, result.weights)
    assert line.startswith("uids, row by row: " + ", ".join(result.source.uids[i] for i in top))
    assert f"weight {result.weights[top[0]]:.3g}" in line
    frame = view.sample_rows(result.source, top, result.weights)
    assert list(frame.columns) == ["uid", "class", "weight"] and list(frame["weight"]) == list(result.weights[top])
    texts = Dataset.from_texts(["good", "bad", "fine"], [1, 0, 1], ["neg", "pos"])
    rows = view.sample_rows(texts, np.array([2, 0]))
    assert list(rows["text"]) == ["fine", "good"] and list(rows["class"]) == ["pos", "pos"]


def test_the_csv_is_what_the_training_side_reads(pair: tuple[Dataset, Dataset], result: SelectionResult) -> None:
    source = pair[0]
    data = result.csv(source.domain, source.fingerprint, "subset")
    frame = pd.read_csv(io.BytesIO(data), dtype={"uid": str})
    assert list(frame.columns[:7]) == ["uid", "domain", "origin", "weight", "selected", "use", "fingerprint"]
    subset = read_selection(data, source).config["source_subset"]
    assert sorted(subset) == sorted(np.flatnonzero(result.selected).tolist())  # n=200 is not capped: same rows


def _point(fraction: float, mmd2: float, ci: tuple[float, float], rand: tuple[float, float, float]) -> CurvePoint:
    return CurvePoint(fraction, 10, mmd2, ci, *rand)


@pytest.mark.parametrize(("ci", "closer", "words"), [((0.01, 0.02), True, "is closer"),
                                                      ((0.06, 0.08), False, "is farther"),
                                                      ((0.02, 0.05), False, "not clearly closer")])
def test_the_verdict_compares_the_interval_with_the_random_band(result: SelectionResult, ci: tuple[float, float],
                                                                 closer: bool, words: str) -> None:
    curve = [_point(0.4, sum(ci) / 2, ci, (0.045, 0.04, 0.05)), _point(1.0, 0.05, (0.04, 0.06), (0.05, 0.05, 0.05))]
    ok, sentence = view.verdict(replace(result, curve=curve, fraction=0.35))
    assert ok is closer and words in sentence
    assert "40% kept (n = 10), the measured fraction nearest 35%" in sentence and "whole source: 0.05" in sentence
