"""The study's numbers and its recommendation on synthetic result sets: the best arm is the one with the highest
mean, "not distinguishable" is said exactly when the paired interval contains zero, and the sentence never
contradicts the table."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from da_core.stats import paired
from da_core.study.analysis import arm_results, cell_result, finished, map_summary, recommend

ARMS = ["source-only", "selected", "augmented", "dann"]


def _records(accs: dict[str, list[float]], cell: str = "k=10 share=1") -> list[dict[str, Any]]:
    out, run_id = [], 0
    for arm, values in accs.items():
        for seed, acc in enumerate(values):
            run_id += 1
            out.append({"cell": cell, "arm": arm, "seed": seed, "run_id": run_id, "status": "finished",
                        "target_acc": acc, "feature_mmd2": 0.1, "seconds": 4.0, "title": arm})
    return out


def test_the_table_holds_means_intervals_and_paired_differences() -> None:
    recs = _records({"source-only": [0.70, 0.72, 0.71], "dann": [0.80, 0.83, 0.81]})
    recs.append({**recs[0], "run_id": 99, "status": "failed", "target_acc": None})  # not counted
    (ref, dann) = arm_results(recs, ARMS)
    assert ref.n == 3 and ref.target_acc.mean == pytest.approx(0.71)
    assert dann.paired_vs_reference.mean == pytest.approx(0.1033333, abs=1e-6)
    assert dann.paired_vs_reference.excludes_zero
    data = dann.to_dict()
    assert set(data) >= {"name", "target_acc_mean", "target_acc_ci", "paired_diff_vs_source_only", "runs"}
    assert data["runs"] == [4, 5, 6] and data["paired_diff_vs_source_only"]["ci"][0] > 0


def test_a_rerun_replaces_the_older_run_of_its_seed() -> None:
    recs = _records({"source-only": [0.5, 0.6]})
    recs.append({**recs[0], "run_id": 50, "target_acc": 0.9})
    kept = finished(recs)
    assert sorted(r["target_acc"] for r in kept) == [0.6, 0.9]


def test_a_clear_winner_is_said_to_be_one() -> None:
    rec = recommend(arm_results(_records({"source-only": [0.70, 0.72, 0.71], "selected": [0.75, 0.78, 0.76],
                                          "dann": [0.85, 0.88, 0.86]}), ARMS))
    assert rec.best == "dann" and rec.runner_up == "selected" and rec.distinguishable
    assert "not distinguishable" not in rec.text and "excludes zero" in rec.clauses[1]
    assert "85" in rec.clauses[0] or "86" in rec.clauses[0]


def test_overlapping_arms_are_not_distinguishable_with_the_seeds_needed() -> None:
    rec = recommend(arm_results(_records({"source-only": [0.70, 0.72, 0.71], "selected": [0.83, 0.79, 0.81],
                                          "dann": [0.78, 0.79, 0.77]}), ARMS))
    assert rec.best == "selected" and not rec.distinguishable
    assert "not distinguishable with 3 seeds" in rec.clauses[1]
    assert rec.seeds_needed is not None and rec.seeds_needed > 3
    assert f"about {rec.seeds_needed} seeds" in rec.clauses[1]


def test_one_seed_gives_no_interval_and_says_so() -> None:
    rec = recommend(arm_results(_records({"source-only": [0.7], "dann": [0.8]}), ARMS))
    assert rec.best == "dann" and not rec.distinguishable and "one seed" in rec.clauses[1]


def test_source_only_best_is_said() -> None:
    rec = recommend(arm_results(_records({"source-only": [0.9, 0.91, 0.92], "augmented": [0.6, 0.62, 0.61]}),
                                ARMS))
    assert rec.best == "source-only" and "No arm improves on source only" in rec.text


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=5), min_size=2, max_size=4))
def test_the_recommendation_never_contradicts_the_table(values: list[list[float]]) -> None:
    n = min(len(v) for v in values)
    accs = {arm: v[:n] for arm, v in zip(ARMS, values)}
    results = arm_results(_records(accs), ARMS)
    rec = recommend(results)
    means = {a.name: a.target_acc.mean for a in results}
    assert means[rec.best] == max(means.values())
    assert rec.best != rec.runner_up and means[rec.runner_up] == max(v for k, v in means.items() if k != rec.best)
    best = next(a for a in results if a.name == rec.best)
    runner = next(a for a in results if a.name == rec.runner_up)
    margin = paired(best.by_seed, runner.by_seed)
    contains_zero = not (margin.low > 0 or margin.high < 0)
    assert ("not distinguishable" in rec.clauses[1]) == contains_zero
    assert rec.distinguishable == (not contains_zero)
    assert f"{means[rec.best]:.1%}" in rec.clauses[0]
    assert re.search(re.escape(f"{(margin.mean) * 100:+.1f} points"), rec.clauses[1])


def test_cells_name_winner_margin_and_ties() -> None:
    clear = cell_result(0, 1.0, _records({"source-only": [0.30, 0.32, 0.31], "augmented": [0.50, 0.55, 0.52]},
                                         "k=0 share=1"), ARMS)
    assert clear.winner == "augmented" and clear.margin == pytest.approx(0.2133333, abs=1e-6) and not clear.tie
    tied = cell_result(5, 0.2, _records({"source-only": [0.60, 0.70, 0.65], "selected": [0.66, 0.62, 0.69]},
                                        "k=5 share=0.2"), ARMS)
    assert tied.winner == "selected" and tied.tie
    data = tied.to_dict()
    assert {"k", "source_share", "winner", "margin", "tie", "arms"} <= set(data) and data["source_share"] == 0.2
    summary = map_summary([clear, tied])
    assert any("augmentation win 1 of 2" in line for line in summary)
    assert any("1 of 2 cells are ties" in line for line in summary)
