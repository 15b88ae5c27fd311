"""The pipeline editor's metadata: widget specs from the registry, exact state round trips, preview rows."""

from __future__ import annotations

import pytest
import torch

from da_core.augment import OPS, OpConfig, Pipeline, default_pipeline, editor
from da_core.data.images import make_dataset
from da_core.errors import DAError


def test_every_op_gets_widgets_within_its_declared_bounds() -> None:
    for name, spec in OPS.items():
        fields = editor.op_fields(name)
        assert [f.name for f in fields if f.name != "p"] == [k.name for k in spec.knobs if k.name != "p"]
        assert ("p" in {f.name for f in fields}) == (not spec.batch)
        for f in fields:
            assert f.lo < f.hi, (name, f.name)
            assert f.kind == ("range" if f.name.endswith("_range") else "slider")
            values = f.default if f.kind == "range" else (f.default,)
            assert all(f.lo <= v <= f.hi for v in values), (name, f.name, f.default)
            assert f.clamp(f.default) == pytest.approx(f.default)


def test_rotation_widget_is_a_range_slider_up_to_the_declared_full_strength() -> None:
    (rot, p) = editor.op_fields("rotation")
    assert (rot.kind, rot.lo, rot.hi, rot.default, rot.scales) == ("range", -360, 360, (-135.0, 135.0), True)
    assert (p.name, p.default) == ("p", 1.0)
    bits = editor.op_fields("posterize")[0]
    assert bits.integer and bits.step == 1 and bits.clamp(3.4) == 3 and isinstance(bits.clamp(3.4), int)
    assert editor.op_fields("elastic")[1].scales is False  # sigma is fixed


def test_widget_state_round_trips_a_pipeline_json_exactly() -> None:
    text = ('{"ops": [{"name": "rotation", "degrees_range": [-30, 20]}, '
            '{"name": "gaussian_blur", "p": 0.5, "sigma_range": [0.1, 1.5]}, '
            '{"name": "posterize", "bits": 3, "strength": 0.7}, {"name": "cutmix", "alpha": 0.4}, '
            '{"name": "horizontal_flip", "p": 0.3}], "strength": 0.4, "seed": 7}')
    pipe = Pipeline.from_json(text)
    state, notes = editor.widget_state(pipe)
    assert not notes
    assert state["aug_ops"] == ["rotation", "gaussian_blur", "posterize", "cutmix", "horizontal_flip"]
    assert state["aug_rotation_degrees_range"] == (-30.0, 20.0) and state["aug_rotation_p"] == 1.0
    assert state["aug_posterize_own"] is True and state["aug_posterize_strength"] == 0.7
    assert state["aug_gaussian_blur_own"] is False and (state["aug_strength"], state["aug_seed"]) == (0.4, 7)
    back = editor.pipeline_from_state(state)
    assert back.to_dict() == pipe.to_dict()
    assert back.describe() == pipe.describe()
    # declared values are not written out: a default pipeline stays as short as the user wrote it
    assert editor.pipeline_from_state(editor.widget_state(default_pipeline())[0]).to_dict() == \
        default_pipeline().to_dict()


def test_widget_changes_become_pipeline_fields_and_bad_combinations_name_the_field() -> None:
    state, _ = editor.widget_state(Pipeline([OpConfig("rotation")], strength=1.0))
    state["aug_rotation_degrees_range"] = (-10.0, 10.0)
    state["aug_rotation_own"], state["aug_rotation_strength"] = True, 0.5
    pipe = editor.pipeline_from_state(state)
    assert pipe.ops[0].to_dict() == {"name": "rotation", "strength": 0.5, "degrees_range": [-10.0, 10.0]}
    assert pipe.describe() == "rotation ±2.5°"  # own strength 0.5 → magnitude 0.25 of ±10°
    state["aug_ops"] = ["mixup", "cutmix"]
    with pytest.raises(DAError, match="at most one batch op"):
        editor.pipeline_from_state(state)


def test_repeated_ops_keep_the_first_entry_with_a_note() -> None:
    pipe = Pipeline.from_dict({"ops": ["rotation", {"name": "rotation", "degrees_range": [-5, 5]}]})
    state, notes = editor.widget_state(pipe)
    assert state["aug_ops"] == ["rotation"] and "ops[1] repeats rotation" in notes[0]


def test_concrete_rows_say_what_each_op_does_at_a_strength() -> None:
    pipe = Pipeline([OpConfig("rotation"), OpConfig("gaussian_blur", p=0.5), OpConfig("invert", strength=0.0)])
    rows = editor.concrete_rows(pipe, 0.5)
    assert [r["op"] for r in rows] == ["Rotation", "Gaussian blur", "Invert"]
    assert rows[0]["means"] == "rotation ±33.8°" and rows[0]["active"] and rows[0]["strength"] == "0.50"
    assert rows[1]["p"] == 0.5 and "(p=0.5)" in rows[1]["means"]
    assert rows[2]["strength"] == "0.00 (own)" and not rows[2]["active"] and "identity" in rows[2]["means"]
    assert all(not r["active"] for r in editor.concrete_rows(pipe, 0.0))


def test_parse_indices() -> None:
    assert editor.parse_indices("3, 17; 40-42, 3", 100) == [3, 17, 40, 41, 42]
    with pytest.raises(DAError, match="'x'"):
        editor.parse_indices("1, x", 100)
    with pytest.raises(DAError, match="outside 0–9"):
        editor.parse_indices("12", 10)
    with pytest.raises(DAError, match="none given"):
        editor.parse_indices(" , ", 10)


def _ds(n: int, classes: list[str], size: int, channels: int = 1) -> object:
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, channels, size, size).contiguous()
    return make_dataset(images, torch.arange(n) % len(classes), classes, "test")


def test_pick_rows_spreads_over_classes_and_matches_target_classes() -> None:
    source = _ds(40, list("abcd"), 8)
    target = _ds(20, list("dcba"), 16, channels=3)  # other class order, size and channels
    rows = editor.pick_rows(source, target, n=8, seed=0)
    assert len(rows.index) == 8 and len(set(rows.index)) == 8
    assert sorted(rows.labels.tolist()) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert rows.target_images.shape == (8, 1, 8, 8) and rows.target_images.dtype == torch.uint8
    for lab, t in zip(rows.labels.tolist(), rows.target_index):
        assert target.classes[int(target.labels[t])] == source.classes[lab]
    again = editor.pick_rows(source, target, n=8, seed=0)
    assert again.index == rows.index and again.target_index == rows.target_index
    picked = editor.pick_rows(source, target, indices=[5, 1])
    assert picked.index == [5, 1] and picked.labels.tolist() == [1, 1]


def test_measure_key_ignores_the_strength_but_not_the_ops() -> None:
    a = Pipeline([OpConfig("rotation")], strength=0.2)
    b = Pipeline([OpConfig("rotation")], strength=0.9)
    c = Pipeline([OpConfig("rotation", p=0.5)], strength=0.2)
    assert editor.measure_key(a, "fp", (0, 1)) == editor.measure_key(b, "fp", (0, 1))
    assert editor.measure_key(a, "fp", (0, 1)) != editor.measure_key(c, "fp", (0, 1))
    assert editor.measure_key(a, "fp", (0, 1)) != editor.measure_key(a, "fp", (0, 0.5, 1))


def test_addable_ops_offer_each_op_once_and_one_batch_op() -> None:
    assert set(editor.addable_ops([])) == set(OPS)
    left = editor.addable_ops(["rotation", "mixup"])
    assert "rotation" not in left and "mixup" not in left and "cutmix" not in left and "shear" in left


def test_the_pipeline_is_read_back_from_remembered_and_live_widget_values() -> None:
    state, _ = editor.widget_state(Pipeline([OpConfig("rotation"), OpConfig("shear", p=0.5)], strength=0.4, seed=3))
    memory = {**state, "other_page_key": 1, 7: "not a string key"}
    live = {"aug_strength": 0.6, "aug_shear_p": 0.25}
    assert editor.state_of(memory, live) == {**state, "aug_strength": 0.6, "aug_shear_p": 0.25}  # live values win
    pipeline = editor.pipeline_in(memory, live)
    assert pipeline is not None and [op.name for op in pipeline.ops] == ["rotation", "shear"]
    assert pipeline.strength == 0.6 and pipeline.seed == 3 and pipeline.ops[1].p == 0.25
    assert editor.pipeline_in({"other_page_key": 1}) is None  # the lab was never opened
    assert editor.pipeline_in({"aug_ops": ["no-such-op"]}) is None  # nothing valid to train with


def test_move_op_moves_one_place_or_removes() -> None:
    ops = ["a", "b", "c"]
    assert editor.move_op(ops, "b", -1) == ["b", "a", "c"] and editor.move_op(ops, "b", 1) == ["a", "c", "b"]
    assert editor.move_op(ops, "a", -1) == ops and editor.move_op(ops, "c", 1) == ops  # at either end: unchanged
    assert editor.move_op(ops, "b", 0) == ["a", "c"] and ops == ["a", "b", "c"]  # the caller's list is left alone
