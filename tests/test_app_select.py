"""The Selection page (Streamlit AppTest): it waits for Compute, then shows the map, the histogram, the curve,
the galleries and the class balance; the method's parameters come from the registry; the CSV carries what the
Training page reads; and "Open in Training" makes a run train on exactly the selected samples."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import pytest
from _helpers import app_on_pair
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from da_core.data import load_dataset
from da_core.select import DEFAULT_METHOD, selectors
from da_core.train import form
from da_core.train.config import read_selection
from da_core.train.jobs import get_manager

SOURCE = "builtin:printed-digits?n=300"
TARGET = "builtin:handwritten-digits?n=200"
CSV_COLUMNS = ["uid", "domain", "origin", "weight", "selected", "use", "fingerprint"]


def _page() -> AppTest:
    at = app_on_pair(SOURCE, TARGET, timeout=240)
    at.switch_page("pages/select.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _computed(at: AppTest, method: str = DEFAULT_METHOD) -> AppTest:
    """The page with ``method`` computed on the pixels embedder (fast; the cache may hold it already)."""
    at.selectbox(key="sel_method").set_value(method).run()
    at.selectbox(key="sel_embedder").set_value("pixels").run()
    button = at.button(key="sel_compute")
    if not button.disabled:  # disabled: this selection is cached already
        button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def _widget_keys(at: AppTest) -> set[str]:
    kinds = ("number_input", "checkbox", "text_input", "slider", "selectbox", "radio")
    return {w.key for kind in kinds for w in getattr(at, kind) if w.key}


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_the_page_renders_and_waits_for_compute() -> None:
    at = _page()
    assert [t.value for t in at.title][:1] == ["Selection"]
    assert any("Compute selection" in i.value for i in at.info)
    assert at.selectbox(key="sel_method").options == [s.label for s in selectors("image").values()]
    assert "pixels" in at.selectbox(key="sel_embedder").options
    assert not at.get("plotly_chart")


def test_computing_shows_the_figures_and_numbers_from_the_result() -> None:
    at = _computed(_page())
    headers = [h.value for h in at.subheader]
    for header in ("Weights on the map", "Weights", "Gap against the fraction kept", "Class balance", "Samples",
                   "Use the selection"):
        assert header in headers
    assert len(at.get("plotly_chart")) == 3  # map, histogram, curve
    assert _metric(at, "Kept") == "150 of 300"
    assert any("random subsets" in s.value for s in [*at.success, *at.warning])
    captions = [c.value for c in at.caption]
    assert sum(c.startswith("uids, row by row") for c in captions) == 3  # three galleries, named by uid
    assert any("PCA" in c for c in captions)  # no UMAP of this pair yet: the PCA stand-in, said so
    balance = at.dataframe[0].value
    assert len(balance) == 10 and balance["after"].sum() == 150 and balance["before"].sum() == 300

    at.slider(key="sel_fraction").set_value(20).run()  # re-selects from the same weights
    assert not at.exception, [e.value for e in at.exception]
    assert _metric(at, "Kept") == "60 of 300"
    assert at.dataframe[0].value["after"].sum() == 60
    assert at.button(key="sel_compute").disabled  # nothing to compute again


def test_changing_the_method_shows_its_parameter_widgets() -> None:
    at = _page()
    for name, selector in selectors("image").items():
        at.selectbox(key="sel_method").set_value(name).run()
        assert not at.exception, (name, [e.value for e in at.exception])
        keys = _widget_keys(at)
        assert {f"sel_{name}_{p.name}" for p in selector.params} <= keys, name
        others = {f"sel_{n}_{p.name}" for n, s in selectors("image").items() if n != name for p in s.params}
        assert not keys & others, name
        assert any(selector.summary in c.value for c in at.caption)


@pytest.fixture()
def downloads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, str]]:
    """The (data, mimetype) of every file a page offers in this test (download buttons included)."""
    seen: list[tuple[bytes, str]] = []
    original = MemoryMediaFileStorage.load_and_get_id

    def record(self: Any, path_or_data: Any, mimetype: str, *args: Any, **kwargs: Any) -> str:
        if isinstance(path_or_data, bytes | str) and mimetype == "text/csv":
            seen.append((path_or_data.encode() if isinstance(path_or_data, str) else path_or_data, mimetype))
        return original(self, path_or_data, mimetype, *args, **kwargs)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    return seen


def test_the_csv_download_holds_what_training_reads(downloads: list[tuple[bytes, str]]) -> None:
    at = _computed(_page())
    source = load_dataset(SOURCE)
    for use, kept in (("weights", 300), ("subset", 150)):
        downloads.clear()
        at.radio(key="sel_use").set_value(use).run()
        assert not at.exception, [e.value for e in at.exception]
        frame = pd.read_csv(io.BytesIO(downloads[-1][0]), dtype={"uid": str})
        assert list(frame.columns[:len(CSV_COLUMNS)]) == CSV_COLUMNS
        assert len(frame) == 300 and int(frame["selected"].sum()) == 150
        assert set(frame["use"]) == {use} and set(frame["domain"]) == {"source"}
        assert set(frame["fingerprint"]) == {source.fingerprint}
        config = read_selection(downloads[-1][0], source).config
        chosen = config.get("source_subset") or [i for i, w in enumerate(config["source_weights"]) if w > 0]
        assert len(chosen) == kept


def test_open_in_training_trains_on_exactly_the_selected_samples(downloads: list[tuple[bytes, str]]) -> None:
    at = _computed(_page())
    at.radio(key="sel_use").set_value("subset").run()
    csv = downloads[-1][0]
    at.button(key="sel_to_train").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title][:1] == ["Training"]
    handed = at.session_state[form.SELECTION_HANDOFF]
    assert handed.data == csv and handed.use == "subset" and handed.n == 150
    assert any("Selection from the Selection page: 150 samples (subset)" in i.value for i in at.info)

    at.switch_page("pages/train.py")  # AppTest would otherwise rerun the page it was last asked for
    at.number_input(key="tr_max_steps").set_value(2)
    at.selectbox(key="tr_device").set_value("cpu")
    at.button(key="train_submit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "train_error" not in at.session_state
    job = get_manager().get(at.session_state["train_job"])
    job.stop()  # the config is what counts here, not the run
    expected = read_selection(csv, load_dataset(SOURCE)).config
    frame = pd.read_csv(io.BytesIO(csv), dtype={"uid": str})
    selected_uids = set(frame.loc[frame["selected"], "uid"])
    assert job.config["source_subset"] == expected["source_subset"]
    assert {load_dataset(SOURCE).uids[i] for i in job.config["source_subset"]} == selected_uids
    assert job.config["selection"]["method"] == DEFAULT_METHOD and job.config["selection"]["n_selected"] == 150
    assert job.wait(120)

    at.button(key="tr_selection_clear").click().run()
    assert form.SELECTION_HANDOFF not in at.session_state
    assert not any("Selection from the Selection page" in i.value for i in at.info)
