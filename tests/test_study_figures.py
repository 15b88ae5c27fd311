"""The study's figures from a stored result: bars with intervals and seeds, the paired gains, the cost panels,
the map of winners with ties marked, and studies side by side."""

from __future__ import annotations

from typing import Any

from da_core.study import figures
from da_core.study.analysis import arm_results, cell_result

ARMS = ["source-only", "augmented", "dann"]


def _records(cell: str, accs: dict[str, list[float]]) -> list[dict[str, Any]]:
    return [{"cell": cell, "arm": arm, "seed": s, "run_id": 10 * i + s, "status": "finished", "target_acc": a,
             "feature_mmd2": 0.1 * (i + 1), "seconds": 4.0 + i, "title": arm.upper()}
            for i, (arm, values) in enumerate(accs.items()) for s, a in enumerate(values)]


def _arms(accs: dict[str, list[float]]) -> list[dict[str, Any]]:
    return [a.to_dict() for a in arm_results(_records("c", accs), ARMS)]


def test_accuracy_bars_carry_intervals_and_every_seed() -> None:
    arms = _arms({"source-only": [0.5, 0.6, 0.55], "dann": [0.7, 0.72, 0.71]})
    fig = figures.accuracy_figure(arms)
    bars = fig.data[0]
    assert list(bars.y) == [a["target_acc_mean"] for a in arms]
    assert bars.error_y.array[0] > 0 and bars.error_y.arrayminus[0] > 0
    seeds = [t for t in fig.data if t.name == "seeds"]
    assert [len(t.y) for t in seeds] == [3, 3]


def test_paired_gains_are_coloured_by_whether_they_exclude_zero() -> None:
    arms = _arms({"source-only": [0.5, 0.6, 0.55], "augmented": [0.52, 0.58, 0.6], "dann": [0.7, 0.72, 0.71]})
    fig = figures.paired_figure(arms)
    (trace,) = fig.data
    assert list(trace.y) == ["AUGMENTED", "DANN"]
    assert trace.marker.color[1] == "#2a9d8f" and trace.marker.color[0] == "#8d99ae"
    cost = figures.cost_figure(arms)
    assert list(cost.data[0].y) == [a["feature_mmd2_mean"] for a in arms]


def test_the_map_names_each_cells_winner_and_marks_ties() -> None:
    clear = cell_result(0, 1.0, _records("k=0 share=1", {"source-only": [0.3, 0.32, 0.31],
                                                           "augmented": [0.5, 0.55, 0.52]}), ARMS)
    tied = cell_result(5, 1.0, _records("k=5 share=1", {"source-only": [0.6, 0.7, 0.65],
                                                           "augmented": [0.66, 0.62, 0.69]}), ARMS)
    fig = figures.map_figure([clear.to_dict(), tied.to_dict()], ARMS, {"augmented": "aug", "source-only": "so"})
    heat = fig.data[0]
    assert list(heat.y) == ["k = 0", "k = 5"]
    assert "aug" in heat.text[0][0] and "tie" not in heat.text[0][0] and "tie" in heat.text[1][0]


def test_studies_side_by_side() -> None:
    a = _arms({"source-only": [0.5, 0.6], "dann": [0.7, 0.72]})
    b = _arms({"source-only": [0.4, 0.45], "dann": [0.5, 0.52]})
    fig = figures.studies_figure([("#1", a), ("#2", b)])
    assert [t.name for t in fig.data] == ["#1", "#2"] and fig.layout.barmode == "group"
