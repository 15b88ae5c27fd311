"""The lesson's reveals: the answer that is true for the numbers measured, and sentences that quote them."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from da_core import lesson
from da_core.gap import MetricResult


def test_every_step_has_a_question_answers_a_page_and_a_typical_time() -> None:
    assert [s.key for s in lesson.STEPS] == ["domains", "gap", "augment", "select", "compare"]
    root = Path(__file__).resolve().parents[1]
    for s in lesson.STEPS:
        assert s.question.endswith("?") and len(s.answers) >= 2 and (root / s.page).is_file()
        assert set(s.typical_s) == set(lesson.MODALITIES)
    assert len(lesson.step("compare").answers) == len(lesson.COMPARE_ARMS) + 1  # and "too close to tell apart"


@pytest.mark.parametrize("target, correct", [(0.97, 0), (0.85, 1), (0.31, 2)])
def test_the_domains_reveal_follows_the_drop(target: float, correct: int) -> None:
    r = lesson.reveal_domains({"source_acc": 1.0, "target_acc": target}, 10)
    assert r.correct == correct
    assert f"{target:.1%}" in r.sentences[0]
    assert f"{(1 - target) * 100:.1f} points lower on the target" in r.sentences[0]


@pytest.mark.parametrize("value, base, p, correct", [(0.0003, 0.0002, 0.4, 0), (0.004, 0.001, 0.01, 1),
                                                     (0.27, -0.0006, 0.005, 1), (0.0001, 0.0002, 0.01, 0)])
def test_the_gap_reveal_follows_the_permutation_test(value, base, p, correct) -> None:
    r = lesson.reveal_gap({"mmd2": MetricResult("mmd2", value, base, (value / 2, value * 2), p)})
    assert r.correct == correct
    assert f"{value:.4g} (95% interval {value / 2:.3g} to {value * 2:.3g})" in r.sentences[0]
    assert f"{base:.2g}" in r.sentences[0] and f"p = {p:.3g}" in r.sentences[1]
    assert ("no gap is shown" in r.sentences[1]) == (correct == 0)


def _report(spot: float | None, rows: list[tuple[float, float, float, float]]) -> SimpleNamespace:
    results = [SimpleNamespace(strength=s, gap_to_target=g, affinity=a, label_flip_rate=f) for s, g, a, f in rows]
    return SimpleNamespace(results=results, sweet_spot=spot, threshold=0.9)


def test_the_augment_reveal_finds_where_more_stops_helping() -> None:
    rows = [(0.0, 0.37, 1.0, 0.0), (0.2, 0.12, 0.94, 0.05), (1.0, 0.02, 0.13, 0.87)]
    r = lesson.reveal_augment(_report(0.2, rows))
    assert r.correct == 1 and r.headline == "Sweet spot s = 0.2"
    assert "0.37" in r.sentences[0] and "s = 0.2: MMD² 0.12 with affinity 94%" in r.sentences[1]
    assert "(nearer still)" in r.sentences[2] and "13%" in r.sentences[2] and "87%" in r.sentences[2]
    assert lesson.reveal_augment(_report(1.0, rows)).correct == 0
    assert lesson.reveal_augment(_report(None, rows)).correct == 2
    # a full strength that keeps the labels but lies farther: "more" moves away, it does not break the samples
    kept = [(0.0, 0.37, 1.0, 0.0), (0.2, 0.12, 0.97, 0.02), (1.0, 0.2, 0.92, 0.06)]
    r = lesson.reveal_augment(_report(0.2, kept))
    assert r.correct == 1 and "moves the source away" in r.sentences[-1] and "stop looking" not in r.sentences[-1]


def _selection(ci: tuple[float, float], low: float, high: float) -> SimpleNamespace:
    point = SimpleNamespace(fraction=0.5, n=100, mmd2=sum(ci) / 2, ci=ci, random_mmd2=(low + high) / 2,
                            random_low=low, random_high=high)
    whole = SimpleNamespace(mmd2=0.28)
    return SimpleNamespace(fraction=0.5, point=lambda f: point if f < 1 else whole)


@pytest.mark.parametrize("ci, correct", [((0.18, 0.21), 0), ((0.27, 0.29), 1), ((0.30, 0.32), 2)])
def test_the_select_reveal_reads_the_interval_against_random_subsets(ci, correct) -> None:
    r = lesson.reveal_select(_selection(ci, 0.275, 0.288))
    assert r.correct == correct and f"{ci[0]:.3g} to {ci[1]:.3g}" in r.sentences[0]


def test_the_compare_reveal_names_the_best_arm_and_quotes_the_study() -> None:
    result = {"arms": [{"name": "source-only", "title": "source only", "target_acc_mean": 0.90},
                       {"name": "augmented", "title": "augmented", "target_acc_mean": 0.93},
                       {"name": "dann", "title": "DANN", "target_acc_mean": 0.91}],
              "recommendation": "Augmented has the highest mean target accuracy.",
              "recommendation_detail": {"best": "augmented", "distinguishable": True}}
    close = lesson.reveal_compare({**result, "recommendation_detail": {"best": "augmented", "distinguishable": False}})
    assert close.correct == len(lesson.COMPARE_ARMS) and "not told apart" in close.headline
    r = lesson.reveal_compare(result)
    assert r.correct == lesson.COMPARE_ARMS.index("augmented")
    assert "source only 90.0%; augmented 93.0%; DANN 91.0%" in r.sentences[0]
    assert r.sentences[1] == result["recommendation"]
    assert r.verdict(1, lesson.step("compare").answers).endswith("right.")
    assert "measured: **Augmented**" in r.verdict(0, lesson.step("compare").answers)


def test_a_step_says_how_long_it_takes_and_learns_from_its_runs() -> None:
    assert lesson.expected("gap", "image", cached=True).endswith("instant")
    assert "on a 2-core laptop CPU" in lesson.expected("compare", "text", cached=False)
    lesson.record_seconds("compare", "text", 131.0)
    assert lesson.expected("compare", "text", cached=False).startswith("about 2 min (it took that here")
    assert lesson.expected("compare", "image", False, 300.0, "from 12 runs") == "about 5 min (from 12 runs)"


def test_the_lesson_study_is_found_again_in_the_history(tmp_path: Path) -> None:
    from da_core.train.store import RunStore

    store = RunStore(tmp_path / "runs.sqlite")
    spec = lesson.study_spec("image", "builtin:printed-digits", "builtin:handwritten-digits")
    assert spec.arms == list(lesson.COMPARE_ARMS) and lesson.finished_study(store, spec) is None
    sid = store.create_sweep(spec.to_dict(), "running", kind="study")
    assert lesson.finished_study(store, spec) is None  # not finished yet
    store.set_sweep_status(sid, "finished")
    assert lesson.finished_study(store, spec) == sid
    other = lesson.study_spec("image", "builtin:printed-digits?n=300", "builtin:handwritten-digits")
    assert lesson.finished_study(store, other) is None


def test_the_quick_comparison_is_one_seed_of_one_epoch_and_a_study_of_its_own() -> None:
    full = lesson.study_spec("image", "a", "b")
    quick = lesson.study_spec("image", "a", "b", quick=True)
    assert quick.seeds == [0] and quick.base.epochs == 1 and quick.arms == full.arms
    assert full.seeds == list(lesson.COMPARE_SEEDS) and full.base.epochs == 2
    assert quick.to_dict() != full.to_dict()  # the history keeps them apart
