"""Figure builders, tested in da_core directly (no streamlit)."""

from __future__ import annotations

import numpy as np

from da_core import viz
from da_core.data import load_dataset


def test_sample_grid_rows_per_class() -> None:
    ds = load_dataset("builtin:printed-digits?n=100")
    sheet = viz.sample_grid(ds, per_class=4, scale=2, label_width=40)
    cell = 28 * 2 + 2
    assert sheet.dtype == np.uint8 and sheet.shape == (10 * cell + 2, 40 + 4 * cell + 2, 3)
    assert np.array_equal(viz.sample_grid(ds, 4, seed=1), viz.sample_grid(ds, 4, seed=1))


def test_class_counts_and_histograms() -> None:
    a = load_dataset("builtin:printed-digits?n=100")
    b = load_dataset("builtin:handwritten-digits?n=50")
    fig = viz.class_count_figure({"source": a, "target": b}, normalise=False)
    assert [t.name for t in fig.data] == ["source (n=100)", "target (n=50)"]
    assert sum(fig.data[0].y) == 100 and sum(fig.data[1].y) == 50
    shares = viz.class_count_figure({"source": a, "target": b}, normalise=True)
    assert abs(sum(shares.data[1].y) - 1) < 1e-9
    hist = viz.intensity_histogram(a)
    assert hist.shape == (256,) and abs(hist.sum() - 1) < 1e-9
    assert len(viz.intensity_histogram_figure({"source": a, "target": b}).data) == 2


def test_embedding_map_traces_counts_symbols_and_indices() -> None:
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(50, 2))
    domains = np.array(["source"] * 30 + ["target"] * 20)
    labels = np.arange(50) % 2
    fig = viz.embedding_map_figure(coords, domains, labels, ["a", "b"], color_by="domain")
    assert [t.name for t in fig.data] == ["source (n=30)", "target (n=20)"]
    assert fig.data[0].marker.symbol != fig.data[1].marker.symbol
    rows = np.concatenate([np.asarray(t.customdata)[:, 0] for t in fig.data])
    assert sorted(rows.tolist()) == list(range(50))  # every point maps back to its row
    by_class = viz.embedding_map_figure(coords, domains, labels, ["a", "b"], color_by="class")
    assert len(by_class.data) == 4 and "(n=15)" in by_class.data[0].name
    big = viz.embedding_map_figure(rng.normal(size=(3000, 2)), np.array(["source"] * 3000), np.zeros(3000, int),
                                   ["a"])
    assert big.data[0].type == "scattergl"
    three = viz.embedding_map_figure(rng.normal(size=(50, 3)), domains, labels, ["a", "b"])
    assert three.data[0].type == "scatter3d"


def test_gallery_and_worst_classes() -> None:
    imgs = np.zeros((5, 1, 8, 8), dtype=np.uint8)
    sheet = viz.gallery(imgs, [], columns=2, scale=1)
    assert sheet.shape == (3 * 10 + 2, 2 * 10 + 2, 3)
    rows = [{"class": "a", "mmd2": 0.1, "target_acc": 0.9}, {"class": "b", "mmd2": 0.5, "target_acc": 0.2},
            {"class": "c", "mmd2": None, "target_acc": None}]
    fig = viz.worst_classes_figure(rows, "mmd2")
    assert list(fig.data[0].y) == ["a", "b"]  # worst drawn at the top (last)
    assert list(viz.worst_classes_figure(rows, "target_acc").data[0].y) == ["a", "b"]


def test_selected_rows_reads_list_and_object_customdata() -> None:
    from da_core.viz import selected_rows

    points = [{"customdata": [4, 1]}, {"customdata": {"0": 7, "1": 2}}, {"customdata": 9}, {"x": 1},
              {"customdata": {"1": 3, "0": 11}}, {"customdata": ["bad"]}]
    assert selected_rows(points) == [4, 7, 9, 11]
