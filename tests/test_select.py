"""Source selection: each selector puts the target-like source samples first, density-ratio weights grow with
target likeness, random matches its band, the measures, the CSV round trip into training (equal budgets), the
command line and the bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _helpers import strict_json

from da_core.cli import main
from da_core.data import load_dataset
from da_core.errors import SpecError
from da_core.select import get_selector, select_source, selectors
from da_core.select.measures import effective_sample_size
from da_core.select.selectors import SelectorInput
from da_core.train.config import TrainConfig, read_selection
from da_core.train.data import DataPlan, prepare_data

MIXED = "builtin:mixed-digits?printed=400&handwritten=100"
TARGET = "builtin:handwritten-digits?part=b&n=300"


@pytest.fixture(scope="module")
def pair() -> tuple:
    return load_dataset(MIXED), load_dataset(TARGET)


@pytest.fixture(scope="module")
def results(pair: tuple) -> dict:
    source, target = pair
    params = {"group": {"column": "kind"}}
    return {name: select_source(source, target, name, params.get(name), fraction=0.2, device="cpu")
            for name in selectors("image")}


def _handwritten_share(result) -> float:  # noqa: ANN001
    kinds = result.source.meta["kind"].to_numpy()
    return float((kinds[result.selected] == "handwritten").mean())


def test_every_selector_but_random_puts_target_like_samples_first(results: dict) -> None:
    chance = 100 / 500
    for name, result in results.items():
        share = _handwritten_share(result)
        if name == "random":
            assert share < 0.45, share
        else:  # far above the 20% a random fifth would hold
            assert share > 0.6, (name, share)
        assert result.selected.sum() == pytest.approx(0.2 * 500, abs=12)
    assert _handwritten_share(results["group"]) == 1.0  # the whole handwritten group, nothing else
    assert results["group"].group_gaps["handwritten"] < results["group"].group_gaps["printed"]
    assert chance == 0.2


def test_density_ratio_weights_grow_with_target_likeness() -> None:
    """Guards against inverted weights: the true ratio of two Gaussians is known."""
    rng = np.random.default_rng(0)
    xs = rng.normal(0.0, 1.0, size=(3000, 2))
    xt = rng.normal([1.0, 0.0], 1.0, size=(2000, 2))
    selector = get_selector("density-ratio")
    out = selector.fn(SelectorInput(xs, xt, np.zeros(3000, int), None, pd.DataFrame(index=range(3000)), 1),
                      selector.resolve({"max_weight": 1000}))
    true_log_ratio = xs[:, 0] - 0.5  # log N(x; (1,0)) - log N(x; 0)
    from scipy.stats import spearmanr

    assert spearmanr(out.weights, true_log_ratio).statistic > 0.95
    assert out.weights.mean() == pytest.approx(1.0)
    assert out.target_scores is not None and out.target_scores.mean() > 0.5
    clipped = selector.fn(SelectorInput(xs, xt, np.zeros(3000, int), None, pd.DataFrame(index=range(3000)), 1),
                          selector.resolve({"max_weight": 2}))
    plateau = np.isclose(clipped.weights, clipped.weights.max()).sum()
    assert plateau > 10 and clipped.weights.mean() == pytest.approx(1.0)  # raw weights capped at 2, then scaled
    assert any("clipped" in n for n in clipped.notes)


def test_the_curve_the_band_and_the_measures(results: dict) -> None:
    rnd = results["random"]
    inside = [p.random_low - 0.02 <= p.mmd2 <= p.random_high + 0.02 for p in rnd.curve]
    assert sum(inside) >= len(inside) - 1  # random matches its band
    knn = results["knn-similarity"]
    at = knn.point(0.2)
    assert at.mmd2 < at.random_low and at.ci[0] <= at.mmd2 <= at.ci[1]  # target-like data closes the gap
    full = knn.point(1.0)
    assert full.n == 500 and abs(full.mmd2 - full.random_mmd2) < 1e-9  # all of the source is all of the source
    assert knn.ess == pytest.approx(0.2, abs=0.03)  # a subset: its share kept
    assert 0 < results["density-ratio"].ess < 1
    assert effective_sample_size(np.ones(10)) == pytest.approx(1.0)
    assert effective_sample_size(np.r_[np.ones(1), np.zeros(9)]) == pytest.approx(0.1)
    balanced = results["class-conditional"]
    assert set(balanced.class_counts_after.values()) <= {10, 9, 11}  # 20% of each class of 50
    assert any("pseudo-labels" in n for n in balanced.notes)
    least = knn.least_covered(10)
    assert len(least) == 10 and len(set(least.tolist())) == 10


def test_a_fraction_that_empties_classes_is_warned(pair: tuple) -> None:
    result = select_source(*pair, "knn-similarity", fraction=0.05, device="cpu")
    assert any("empty" in w for w in result.warnings) or any("fewer than" in w for w in result.warnings)


def test_csv_round_trip_trains_on_exactly_the_selection_with_the_same_budget(results: dict, pair: tuple) -> None:
    source, _ = pair
    result = results["knn-similarity"]
    csv = result.table(MIXED, source.fingerprint).to_csv(index=False)
    selection = read_selection(csv, source)
    chosen = {u for u, keep in zip(result.source.uids, result.selected) if keep}
    assert {source.uids[i] for i in selection.config["source_subset"]} == chosen
    record = selection.config["selection"]
    assert record["method"] == "knn-similarity" and record["fraction"] == 0.2 and record["use"] == "subset"
    assert record["params"] == {"k": 10} and record["n_selected"] == len(chosen) and len(record["uids_hash"]) == 16
    config = TrainConfig(source=MIXED, target=TARGET, device="cpu", **selection.config).validate()
    all_plan = DataPlan(prepare_data(TrainConfig(source=MIXED, target=TARGET)), TrainConfig(), "cpu")
    data = prepare_data(config, source, load_dataset(TARGET))
    plan = DataPlan(data, config, "cpu")
    assert plan.total == all_plan.total  # "selected vs all" at equal steps
    assert set(data.source_train.uids) <= chosen
    import torch

    drawn = torch.cat(plan.epoch_batches(torch.Generator().manual_seed(0)))
    assert len(plan.epoch_batches(torch.Generator().manual_seed(0))) == plan.steps_per_epoch
    assert int(drawn.max()) < len(plan.pool_x)

    weights = read_selection(results["density-ratio"].table(MIXED, source.fingerprint, "weights")
                             .to_csv(index=False), source)
    assert len(weights.config["source_weights"]) == len(source) and weights.config["selection"]["use"] == "weights"


def test_bad_selection_files_say_what_is_wrong(pair: tuple, results: dict) -> None:
    source, _ = pair
    good = results["density-ratio"].table(MIXED, source.fingerprint, "weights")
    for change, message in [
        (lambda f: f.assign(weight=-1.0), "not negative"),
        (lambda f: f.assign(weight=np.nan), "finite"),
        (lambda f: f.assign(weight=0.0), "every weight is zero"),
        (lambda f: f.assign(use="everything"), "'use' must be subset or weights"),
        (lambda f: f.assign(use="subset", selected=False), "no row is marked selected"),
        (lambda f: f.assign(fingerprint="0" * 24), "another dataset"),
        (lambda f: f.assign(uid="nobody"), "none of its"),
    ]:
        with pytest.raises(SpecError, match=message):
            read_selection(change(good.copy()).to_csv(index=False), source)
    mixed = pd.concat([good.head(5), good.head(2), good.head(3).assign(domain="target"),
                       good.head(2).assign(uid=["x1", "x2"])])
    notes = read_selection(mixed.to_csv(index=False), source).notes
    assert any("3 target rows" in n for n in notes) and any("repeated" in n for n in notes)
    assert any("2 uids are not in this source" in n for n in notes)


def test_bad_parameters_are_refused(pair: tuple) -> None:
    source, target = pair
    with pytest.raises(SpecError, match="no column 'nope'"):
        select_source(source, target, "group", {"column": "nope"}, device="cpu")
    one = source.take(np.flatnonzero(source.meta["kind"].to_numpy() == "handwritten"))
    with pytest.raises(SpecError, match="single group"):
        select_source(one, target, "group", {"column": "kind"}, device="cpu")
    with pytest.raises(SpecError, match="unknown selection method"):
        select_source(source, target, "telepathy", device="cpu")
    with pytest.raises(SpecError, match="unknown parameter 'q'"):
        select_source(source, target, "knn-similarity", {"q": 1}, device="cpu")
    with pytest.raises(SpecError, match="fraction"):
        select_source(source, target, "random", fraction=0.0, device="cpu")


def test_select_command_json_and_csv_into_train(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DA_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "sel.csv"
    assert main(["select", "--source", MIXED, "--target", TARGET, "--method", "knn-similarity", "--top", "0.3",
                 "--param", "k=5", "--out", str(out), "--json"]) == 0
    data = strict_json(capsys.readouterr().out)
    assert {"method", "n_source", "n_selected", "ess", "gap_before", "gap_after", "random_baseline", "curve",
            "class_counts_after"} <= set(data)
    assert data["method"] == "knn-similarity" and data["n_selected"] == 150 and data["params"] == {"k": 5}
    assert data["gap_after"]["mmd2"] < data["random_baseline"]["mmd2"] < data["gap_before"]["mmd2"] + 0.05
    assert all({"fraction", "mmd2", "random_mmd2"} <= set(p) for p in data["curve"])
    frame = pd.read_csv(out)
    assert list(frame.columns[:7]) == ["uid", "domain", "origin", "weight", "selected", "use", "fingerprint"]
    assert frame["selected"].sum() == 150
    assert main(["train", "--source", MIXED, "--target", TARGET, "--selection", str(out), "--max-steps", "3",
                 "--device", "cpu", "--json"]) == 0
    run = strict_json(capsys.readouterr().out)
    assert run["selection"]["method"] == "knn-similarity" and run["selection"]["n_selected"] == 150
    assert run["source_samples"] == "subset of 150 samples" and run["final"]["steps"] == 3
    assert main(["select", "--method", "group", "--source", MIXED, "--target", TARGET,
                 "--param", "column=nope"]) == 2
    assert "no column 'nope'" in capsys.readouterr().err


def test_a_run_on_a_selection_without_some_class_says_so(pair: tuple) -> None:
    source, target = pair
    keep = np.flatnonzero(source.labels.numpy() != 3)[:200].tolist()
    data = prepare_data(TrainConfig(source=MIXED, target=TARGET, source_subset=keep), source, target)
    assert any("no training sample of classes 3" in note for note in data.notes)
