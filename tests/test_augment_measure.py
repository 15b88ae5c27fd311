"""Over-augmentation measures: affinity, label flips, gap to target, the sweet spot, the per-op self-test."""

from __future__ import annotations

import json
import math

import pytest

from da_core import viz
from da_core.augment import OpConfig, Pipeline
from da_core.augment.measure import (
    OpSelfTest,
    StrengthResult,
    _pinned_notes,
    _warnings,
    measure_over_augmentation,
    self_test,
    sweet_spot,
)
from da_core.data import load_dataset

SOURCE = "builtin:printed-digits"
TARGET = "builtin:handwritten-digits"
ROTATION = Pipeline([OpConfig("rotation")], strength=0.5, seed=0)


@pytest.fixture(scope="module")
def pair() -> tuple:
    return load_dataset(SOURCE), load_dataset(TARGET)


@pytest.fixture(scope="module")
def rotation_report(pair: tuple):
    source, target = pair
    return measure_over_augmentation(ROTATION, source, target, strengths=(0, 0.25, 1), max_samples=300, seed=0)


def test_affinity_is_one_at_zero_and_full_rotation_lowers_it(rotation_report) -> None:
    r0, r25, r1 = rotation_report.results
    assert [r.strength for r in rotation_report.results] == [0.0, 0.25, 1.0]
    assert r0.affinity == 1.0 and r0.label_flip_rate == 0.0 and r0.embedding_shift == 0.0
    assert r0.gap_to_target == pytest.approx(rotation_report.clean_gap)
    assert rotation_report.clean_accuracy > 0.9  # the probe knows clean printed digits
    # rotation up to ±135° turns 6 into 9 and worse: the source-trained model loses much of its accuracy
    assert r1.affinity < 0.75 and r1.label_flip_rate > 0.25
    assert r1.affinity < r25.affinity <= 1.0 and r1.embedding_shift > r25.embedding_shift > 0
    assert r1.accuracy == pytest.approx(r1.affinity * rotation_report.clean_accuracy)
    # a little rotation moves printed digits towards handwriting; the gap is well above the noise floor
    assert r25.gap_to_target < r0.gap_to_target
    assert rotation_report.gap_baseline < 0.2 * rotation_report.clean_gap
    assert rotation_report.n_train + rotation_report.n_held_out == 300 and rotation_report.n_target == 300
    assert r1.description == "rotation ±135°"


def test_sweet_spot_of_a_real_sweep(rotation_report) -> None:
    spot, why = sweet_spot(rotation_report.results, rotation_report.threshold)
    assert (spot, why) == (rotation_report.sweet_spot, rotation_report.explanation)
    assert spot == 0.25 and "s=0.25" in why
    assert rotation_report.with_threshold(0.2).sweet_spot in (0.25, 1.0)


def test_same_seed_same_report(pair: tuple, rotation_report) -> None:
    source, target = pair
    again = measure_over_augmentation(ROTATION, source, target, strengths=(1, 0.25, 0), max_samples=300, seed=0)
    a, b = rotation_report.to_dict(), again.to_dict()
    a.pop("seconds"), b.pop("seconds")
    assert a == b
    other = measure_over_augmentation(ROTATION, source, target, strengths=(1,), max_samples=300, seed=1)
    assert other.results[0].gap_to_target != rotation_report.results[-1].gap_to_target


def test_report_is_json(rotation_report) -> None:
    data = json.loads(json.dumps(rotation_report.to_dict()))
    assert data["strengths"] == [0.0, 0.25, 1.0]
    assert set(data["results"][0]) >= {"strength", "affinity", "label_flip_rate", "gap_to_target", "accuracy"}
    assert data["sweet_spot"] == 0.25 and data["embedder"] == "digits-cnn"
    assert data["pipeline"] == ROTATION.to_dict()


def test_mixup_counts_the_dominant_label(pair: tuple) -> None:
    source, target = pair
    mix = Pipeline([OpConfig("mixup")], strength=1.0)
    report = measure_over_augmentation(mix, source, target, strengths=(0, 1), max_samples=200, seed=0)
    r0, r1 = report.results
    assert r0.affinity == 1.0
    assert 0.0 < r1.affinity < 1.0 and 0.0 < r1.label_flip_rate < 1.0


def test_strengths_outside_the_unit_interval_are_refused(pair: tuple) -> None:
    from da_core.errors import DAError

    with pytest.raises(DAError, match="strengths"):
        measure_over_augmentation(ROTATION, *pair, strengths=(0, 1.5), max_samples=100)


# ------------------------------------------------------------------------------------- sweet spot


def _rows(*values: tuple[float, float, float]) -> list[StrengthResult]:
    return [StrengthResult(s, a, 1 - a, g, a) for s, a, g in values]


def test_sweet_spot_smallest_gap_with_enough_affinity() -> None:
    rows = _rows((0, 1.0, 0.27), (0.25, 0.96, 0.12), (0.5, 0.93, 0.10), (0.75, 0.7, 0.05), (1, 0.4, 0.04))
    spot, why = sweet_spot(rows, 0.9)
    assert spot == 0.5
    assert "s=0.50" in why and "0.1 vs 0.27 clean" in why and "93%" in why
    assert "falls below 0.90 (0.70 at s=0.75)" in why
    assert sweet_spot(rows, 0.95)[0] == 0.25
    assert sweet_spot(rows, 0.5)[0] == 0.75
    assert sweet_spot([r.to_dict() for r in rows], 0.9)[0] == 0.5  # dicts work too (the page's JSON)


def test_sweet_spot_when_the_gap_grows_again_or_the_sweep_ends() -> None:
    rows = _rows((0, 1.0, 0.3), (0.5, 0.95, 0.1), (1, 0.92, 0.2))
    spot, why = sweet_spot(rows, 0.9)
    assert spot == 0.5 and "away from the target again" in why and "s=1.00" in why
    spot, why = sweet_spot(_rows((0, 1.0, 0.3), (1, 0.95, 0.1)), 0.9)
    assert spot == 1.0 and "strongest strength tried" in why


def test_sweet_spot_is_clean_when_augmentation_costs_too_much() -> None:
    spot, why = sweet_spot(_rows((0, 1.0, 0.37), (0.25, 0.85, 0.08), (1, 0.1, 0.03)), 0.9)
    assert spot == 0.0 and "costing too much accuracy" in why and "s=0.25" in why
    spot, why = sweet_spot(_rows((0, 1.0, 0.2), (0.5, 0.95, 0.3)), 0.9)
    assert spot == 0.0 and "does not bring the source closer" in why


def test_no_sweet_spot_and_ties() -> None:
    spot, why = sweet_spot(_rows((0.5, 0.6, 0.1), (1, 0.3, 0.05)), 0.9)
    assert spot is None and "0.60 at s=0.50" in why
    assert sweet_spot([], 0.9)[0] is None
    assert sweet_spot(_rows((0, 1.0, 0.2), (0.5, 1.0, 0.1), (1, 1.0, 0.1)), 0.9)[0] == 0.5
    assert sweet_spot(_rows((0, math.nan, 0.2)), 0.9)[0] is None


# --------------------------------------------------------------------------------------- self-test


def test_self_test_warns_for_hue_on_grey_digits_not_for_rotation(pair: tuple) -> None:
    images = pair[0].images[:96]
    results = self_test(Pipeline([OpConfig("rotation"), OpConfig("hue")]), images, strengths=(0, 0.5, 1))
    rotation, hue = results
    assert (rotation.name, hue.name) == ("rotation", "hue")
    assert rotation.warnings == []
    assert rotation.effect[0] == 0.0 < rotation.effect[1] < rotation.effect[2]
    assert rotation.pixel_effect[2] > 0.05 and rotation.values[2] == "rotation ±135°"
    assert hue.effect == [0.0, 0.0, 0.0] and hue.pixel_effect == [0.0, 0.0, 0.0]
    assert len(hue.warnings) == 1 and "changes nothing" in hue.warnings[0] and "grey" in hue.warnings[0]
    json.dumps([r.to_dict() for r in results])


def test_self_test_sweeps_ops_with_a_pinned_strength(pair: tuple) -> None:
    pinned = Pipeline([OpConfig("invert", strength=1.0)])
    assert _pinned_notes(pinned) == ["ops[0] (invert) pins its own strength 1, so it does not follow the sweep"]
    (invert,) = self_test(pinned, pair[0].images[:64], strengths=(0, 1), embedder=None)
    assert invert.effect[0] == 0.0 < invert.effect[1] == invert.pixel_effect[1]


def test_monotonicity_warning_allows_small_noise() -> None:
    s = [0.0, 0.25, 0.5, 0.75, 1.0]
    assert _warnings("x", s, [0, 0.3, 0.29, 0.5, 0.6], [0, 0.1, 0.1, 0.2, 0.2], 1) == []
    (warning,) = _warnings("solarize", s, [0, 1.2, 0.9, 0.8, 1.1], [0, 0.1, 0.1, 0.1, 0.9], 1)
    assert "not monotone" in warning and "s=0.25" in warning and "s=0.50" in warning
    (warning,) = _warnings("contrast", s, [0] * 5, [0] * 5, 3)
    assert "changes nothing" in warning and "grey" not in warning


# ----------------------------------------------------------------------------------------- figures


def test_figures(rotation_report) -> None:
    fig = viz.over_augmentation_figure(rotation_report)
    names = [t.name for t in fig.data]
    assert names[:3] == ["Affinity (acc. aug / clean)", "Label-flip rate", "Gap to target (MMD², right axis)"]
    assert names[3] == "sweet spot s=0.25"
    assert fig.data[2].yaxis == "y2" and list(fig.data[0].y) == [r.affinity for r in rotation_report.results]
    assert any(getattr(s, "y0", None) == 0.9 for s in fig.layout.shapes)  # the threshold line
    plain = viz.over_augmentation_figure([r.to_dict() for r in rotation_report.results], 0.5, None)
    assert len(plain.data) == 3 and any(getattr(s, "y0", None) == 0.5 for s in plain.layout.shapes)
    tests = [OpSelfTest("rotation", [0, 1], [0, 0.6], [0, 0.1]), OpSelfTest("hue", [0, 1], [0, 0], [0, 0], ["no-op"])]
    st = viz.self_test_figure(tests)
    assert [t.name for t in st.data] == ["rotation", "hue ⚠"] and st.data[1].line.dash == "dash"
