"""The Augmentation lab page (Streamlit AppTest): renders, follows the strength knob, restores a pipeline JSON,
remembers its widgets across pages and measures over-augmentation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from da_core.augment import default_pipeline

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGE = "pages/augment.py"


@pytest.fixture()
def lab() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=240)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _said(at: AppTest) -> str:
    """What the page says the strength means (the first info box)."""
    return at.info[0].value


def test_page_renders_the_default_pipeline_with_its_concrete_meaning(lab: AppTest) -> None:
    assert lab.title[0].value == "Augmentation lab"
    assert not lab.error
    default = default_pipeline()
    assert lab.session_state["aug_ops"] == [op.name for op in default.ops]
    assert _said(lab) == f"**At s = {default.strength:.2f}:** {default.describe()}"
    table = lab.dataframe[0].value
    assert list(table["op"]) == [op.spec.label for op in default.ops]
    assert list(table["means"]) == [r.text for r in default.resolve()] and table["active"].all()
    assert len(lab.image) == 1 and "Right: a target sample of the same class" in lab.image[0].captions[0]
    labels = [b.label for b in lab.get("download_button")]
    assert {"Pipeline JSON", "Python", "Contact sheet"} <= set(labels)


def test_strength_slider_changes_the_description_and_the_preview(lab: AppTest) -> None:
    before, picture = _said(lab), lab.image[0].value
    lab.slider(key="aug_strength").set_value(0.8).run()
    assert not lab.exception
    assert _said(lab).startswith("**At s = 0.80:** rotation ±86.4°") and _said(lab) != before
    assert lab.image[0].value != picture  # the sheet now has an s = 0.80 column
    assert lab.dataframe[0].value["means"].iloc[0] == "rotation ±86.4°"
    lab.slider(key="aug_strength").set_value(0.0).run()
    assert "no augmentation (identity)" in _said(lab)
    # draws at the current strength and the difference view render too
    lab.get("button_group")[0].set_value("draws").run()
    lab.toggle(key="aug_diff").set_value(True).run()
    assert not lab.exception and len(lab.image) == 1


def test_pasting_a_pipeline_json_restores_every_widget(lab: AppTest) -> None:
    text = json.dumps({"ops": [{"name": "shear", "degrees_range": [-20, 20], "p": 0.5},
                               {"name": "posterize", "bits": 3, "strength": 0.9},
                               {"name": "mixup", "alpha": 0.8}], "strength": 0.6, "seed": 11})
    lab.text_area(key="aug_paste").set_value(text).run()
    lab.button(key="aug_paste_restore").click().run()
    assert not lab.exception, [e.value for e in lab.exception]
    assert "Restored a pipeline of 3 ops at s = 0.60, seed 11" in lab.success[0].value
    assert lab.session_state["aug_ops"] == ["shear", "posterize", "mixup"]
    assert lab.slider(key="aug_shear_degrees_range").value == (-20.0, 20.0)
    assert lab.slider(key="aug_shear_p").value == 0.5
    assert lab.slider(key="aug_posterize_bits").value == 3
    assert lab.toggle(key="aug_posterize_own").value is True
    assert lab.slider(key="aug_posterize_strength").value == 0.9
    assert lab.slider(key="aug_mixup_alpha").value == 0.8
    assert lab.slider(key="aug_strength").value == 0.6 and lab.number_input(key="aug_seed").value == 11
    assert _said(lab) == "**At s = 0.60:** shear ±7.2° (p=0.5), posterize to 4 bits, mixup α=0.288"
    # MixUp: the batch view shows λ per column and the mixed soft labels
    assert any("λ = " in c.value for c in lab.caption)
    soft = lab.dataframe[1].value
    assert soft.index.name == "row" and "·" in str(soft.iloc[1, -1])
    # a bad JSON names the field and changes nothing
    lab.text_area(key="aug_paste").set_value('{"ops": [{"name": "rotation", "degrees_range": [5]}]}').run()
    lab.button(key="aug_paste_restore").click().run()
    assert any("ops[0].degrees_range" in e.value for e in lab.error)
    assert lab.session_state["aug_ops"] == ["shear", "posterize", "mixup"]


def test_editing_the_pipeline_and_remembering_it_across_page_switches(lab: AppTest) -> None:
    lab.slider(key="aug_strength").set_value(0.7).run()
    lab.button(key="aug_rotation_remove").click().run()
    lab.button(key="aug_erasing_up").click().run()
    lab.selectbox(key="aug_add").set_value("mixup").run()
    assert "cutmix" not in lab.selectbox(key="aug_add").options  # one batch op at most
    assert lab.selectbox(key="aug_add").value is None
    lab.slider(key="aug_mixup_alpha").set_value(0.5).run()
    order = ["translate", "shear", "elastic", "erasing", "gaussian_blur", "mixup"]
    assert lab.session_state["aug_ops"] == order
    lab.switch_page("pages/home.py").run()
    lab.switch_page(PAGE).run()
    assert lab.session_state["aug_ops"] == order
    assert lab.slider(key="aug_strength").value == 0.7
    assert _said(lab).startswith("**At s = 0.70:** shift") and _said(lab).endswith("mixup α=0.245")
    assert lab.slider(key="aug_mixup_alpha").value == 0.5


def test_measures_run_and_explain_the_sweet_spot(lab: AppTest) -> None:
    lab.text_area(key="aug_paste").set_value(json.dumps({"ops": [{"name": "rotation"}], "seed": 0})).run()
    lab.button(key="aug_paste_restore").click().run()
    lab.number_input(key="aug_max").set_value(200).run()
    lab.button(key="aug_measure").click().run()
    assert not lab.exception, [e.value for e in lab.exception]
    said = " ".join(m.value for m in [*lab.success, *lab.warning])
    assert "Sweet spot" in said and "affinity" in said.lower()
    # the threshold re-picks the sweet spot from the same measures (no recomputation: no progress box)
    lab.slider(key="aug_threshold").set_value(0.5).run()
    again = " ".join(m.value for m in [*lab.success, *lab.warning])
    assert "0.50" in again and again != said
    assert not lab.get("status")
    # rotation keeps half the accuracy at some s > 0: the page offers that strength for the preview
    spot = float(lab.button(key="aug_use_spot").label.split("= ")[1].split(" ")[0])
    lab.button(key="aug_use_spot").click().run()
    assert lab.slider(key="aug_strength").value == spot > 0
    assert _said(lab).startswith(f"**At s = {spot:.2f}:** rotation")
    lab.button(key="aug_selftest").click().run()
    assert not lab.exception
    assert any("grow with s" in s.value for s in lab.success) or lab.warning
