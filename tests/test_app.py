"""The app renders every page with the default pair and no exception (Streamlit AppTest)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.e2e.browser import app_pages

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
NAVIGATION = app_pages()  # read from app.py's st.Page(...) entries: a page added there is covered here


@pytest.fixture()
def app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    return at


def test_the_navigation_lists_every_page_file() -> None:
    files = {str(p["file"]) for p in NAVIGATION}
    assert files == {f"pages/{f.name}" for f in (ROOT / "pages").glob("[!_]*.py")}
    assert [p["default"] for p in NAVIGATION].count(True) == 1


@pytest.mark.parametrize("page", NAVIGATION, ids=[str(p["url_path"]) or "home" for p in NAVIGATION])
def test_every_page_renders_without_exception(app: AppTest, page: dict[str, object]) -> None:
    assert not app.exception
    app.switch_page(str(page["file"])).run()
    assert not app.exception, (page["file"], [e.value for e in app.exception])
    assert not app.error, (page["file"], [e.value for e in app.error])
    title = "Domain Shift Studio" if page["default"] else page["title"]
    assert [t.value for t in app.title][:1] == [title]  # the page itself drew, not an empty shell


def test_home_explains_and_links(app: AppTest) -> None:
    assert app.title[0].value == "Domain Shift Studio"
    text = " ".join(m.value for m in app.markdown)
    assert "Datasets" in text and "workflow" in text


def test_datasets_page_loads_default_pair_with_no_clicks(app: AppTest) -> None:
    app.switch_page("pages/datasets.py").run()
    assert app.session_state["source_spec"].startswith("builtin:printed-digits")
    assert app.session_state["target_spec"].startswith("builtin:handwritten-digits")
    headers = [h.value for h in app.subheader]
    for h in ("Summary", "Samples per class", "Class balance", "Pixel intensities", "Load report"):
        assert h in headers
    table = app.dataframe[0].value
    assert list(table["samples"]) == [3000, 1797]


def test_changing_the_target_is_shared_across_pages(app: AppTest) -> None:
    app.switch_page("pages/datasets.py").run()
    app.selectbox(key="target_builtin_name").set_value("corrupted-digits").run()
    assert not app.exception
    assert app.session_state["target_spec"].startswith("builtin:corrupted-digits")
    app.switch_page("pages/home.py").run()
    assert "corrupted-digits" in app.caption[0].value
    app.switch_page("pages/datasets.py").run()
    assert app.selectbox(key="target_builtin_name").value == "corrupted-digits"


def test_bad_spec_shows_an_error_not_an_exception(app: AppTest) -> None:
    app.switch_page("pages/datasets.py").run()
    app.selectbox(key="source_kind").set_value("Spec string").run()
    app.text_input(key="source_spec_text").set_value("builtin:printed-digits?n=nope").run()
    assert not app.exception
    assert any("must be int" in e.value for e in app.error)


def _class_folder(root: Path, classes: list[str], per_class: int = 3) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (12, 12), dtype=np.uint8)).save(root / name / f"{i}.png")
    return root


def test_different_class_sets_are_shown_and_shared_classes_used(app: AppTest, tmp_path: Path) -> None:
    src = _class_folder(tmp_path / "src", ["cat", "dog", "fox"])
    tgt = _class_folder(tmp_path / "tgt", ["dog", "fox", "owl"])
    app.switch_page("pages/datasets.py").run()
    for role, folder in (("source", src), ("target", tgt)):
        app.selectbox(key=f"{role}_kind").set_value("Folder").run()
        app.text_input(key=f"{role}_folder").set_value(str(folder)).run()
    assert not app.exception, [e.value for e in app.exception]
    warning = " ".join(w.value for w in app.warning)
    assert "2 shared classes" in warning and "cat" in warning and "owl" in warning
    assert list(app.dataframe[0].value["classes"]) == [2, 2]


def test_folder_outside_data_root_is_refused_in_the_page(app: AppTest, tmp_path: Path,
                                                          data_root: Path) -> None:
    outside = _class_folder(tmp_path / "outside", ["a", "b"])
    app.switch_page("pages/datasets.py").run()
    app.selectbox(key="source_kind").set_value("Folder").run()
    app.text_input(key="source_folder").set_value(str(outside)).run()
    assert not app.exception
    assert any("DA_DATA_ROOT" in e.value for e in app.error)


def test_gap_page_shows_map_metrics_and_per_class_table(app: AppTest) -> None:
    app.switch_page("pages/gap.py").run()
    assert not app.exception, [e.value for e in app.exception]
    headers = [h.value for h in app.subheader]
    assert "Gap metrics" in headers and "Per class" in headers
    assert any("The gap is significant" in s.value for s in app.success)
    metrics = app.dataframe[0].value
    assert len(metrics) == 5 and {"value", "baseline", "95% CI", "p", "gap?"} <= set(metrics.columns)
    assert len(app.dataframe[1].value) == 10  # one row per class
    # the map is cached: switching the colouring reruns without recomputing and without errors
    app.selectbox(key="gap_color").set_value("class").run()
    assert not app.exception


def test_gap_page_says_why_an_embedder_is_unavailable(app: AppTest, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    app.switch_page("pages/gap.py").run()
    app.selectbox(key="gap_embedder").set_value("torchvision:resnet18").run()
    assert not app.exception
    assert any("resnet18-" in w.value and "unavailable" in w.value for w in app.warning)


def test_gap_page_on_a_large_pair_says_what_it_shows(app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    import da_core.gap_workflow as gw
    import da_core.reduce as R

    # the thresholds scaled down so the default pair (2,000 per domain on the page) counts as large
    monkeypatch.setattr(gw, "SHOW_ALL_PER_DOMAIN", 500)
    monkeypatch.setattr(gw, "SHOWN_PER_DOMAIN", 300)
    monkeypatch.setattr(gw, "METRICS_PER_DOMAIN", 600)
    monkeypatch.setattr(R, "FIT_MAX_POINTS", 1500)
    app.switch_page("pages/gap.py").run()
    app.number_input(key="gap_seed").set_value(7).run()  # keys of their own: nothing cached by other tests
    assert not app.exception, [e.value for e in app.exception]
    captions = [c.value for c in app.caption]
    assert any(c.startswith("Showing 600 of 3,797 points (300 of 2,000 source, 300 of 1,797 target") for c in captions)
    assert any("UMAP fitted on 1,500 points" in c and "other 2,297 placed" in c for c in captions)
    assert any("600 source × 600 target samples (a seeded, class-stratified subsample of 2,000 × 1,797" in c
               for c in captions)
    assert len(app.get("plotly_chart")) >= 3  # the map, the density overview and the worst classes
