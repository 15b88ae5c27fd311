"""A study's HTML report in a real browser, offline: opened from a file with every network request blocked, it
draws every figure it says it holds, shows its sample grids, and tries to fetch nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.conftest import VIEWPORT

SMALL = {"source": "builtin:printed-digits?n=600", "target": "builtin:handwritten-digits?n=600", "batch_size": 32,
         "device": "cpu", "max_steps": 3, "evals_per_epoch": 1, "robustness": False}
PIPE = {"ops": [{"name": "rotation"}, {"name": "translate"}], "strength": 0.3, "seed": 0}
DRAWN_JS = """() => [...document.querySelectorAll('.js-plotly-plot')]
    .filter(d => d.querySelector('svg.main-svg, canvas') && d.querySelector('.plot-container')).length"""


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of a tiny grid study (two cells, so the map is drawn too) in a run history of its own."""
    from da_core import report
    from da_core.study import StudySpec, run_study
    from da_core.train.config import TrainConfig
    from da_core.train.store import RunStore

    folder = tmp_path_factory.mktemp("report")
    store = RunStore(folder / "runs.sqlite")
    spec = StudySpec(TrainConfig.from_dict({**SMALL, "target_labels_per_class": 3}),
                     ["source-only", "selected", "augmented"], [0], pipeline=PIPE, strength=0.3, ks=[0, 3],
                     shares=[1.0], name="offline")
    study = run_study(spec, store)
    assert study.status == "finished", study.message
    with pytest.MonkeyPatch.context() as mp:  # the gap metrics on fewer resamples: what is drawn is the same
        mp.setattr(report, "GAP_BOOTSTRAPS", 20)
        mp.setattr(report, "GAP_PERMUTATIONS", 20)
        text = report.build_report(study.study_id, store)
    path = folder / "report.html"
    path.write_text(text, encoding="utf-8")
    store.close()
    return path


def test_the_report_opens_offline_and_draws_its_figures(browser: object, report_file: Path) -> None:
    context = browser.new_context(viewport=VIEWPORT)
    attempted: list[str] = []

    def route(r: object) -> None:
        url = r.request.url
        if url.startswith(("file:", "data:")):
            r.continue_()
        else:
            attempted.append(url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda req: requests.append(req.url))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(report_file.as_uri())
    said = int(re.search(r"This report holds (\d+) figures", page.inner_text("#figure-count")).group(1))
    assert said == int(page.get_attribute("body", "data-figures")) >= 4
    page.wait_for_function(f"() => ({DRAWN_JS})() >= {said}", timeout=60_000)
    assert page.evaluate(DRAWN_JS) == page.locator(".js-plotly-plot").count() == said
    assert page.locator(".heatmaplayer").count() >= 1  # the map of when each arm wins
    images = page.evaluate("() => [...document.images].map(i => [i.src.slice(0, 5), i.naturalWidth])")
    assert images and all(src == "data:" and width > 0 for src, width in images)
    assert page.get_by_text("has the highest mean target accuracy").first.is_visible()
    page.wait_for_timeout(500)
    assert attempted == []
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert errors == []
    context.close()
