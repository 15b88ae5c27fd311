"""A study's HTML report (da_core/report.py): every section, the per-arm numbers equal to the analysis, the stored
spec as JSON and a command that makes the same spec again, no remote reference, a part without data left out
with its reason; ``python -m da_core report``; the Study and Runs pages' download button."""

from __future__ import annotations

import html
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _helpers import app_on_pair, strict_json

from da_core import report
from da_core.cli import build_parser, main
from da_core.jsonio import loads_strict
from da_core.study import StudySpec, run_study
from da_core.study.runner import analyse, study_records
from da_core.train.config import TrainConfig
from da_core.train.store import get_store
from da_core.train.sweep import SweepSpec, run_sweep

SOURCE = "builtin:printed-digits?n=600"
TARGET = "builtin:handwritten-digits?n=600"
SMALL = {"source": SOURCE, "target": TARGET, "batch_size": 32, "device": "cpu", "max_steps": 3,
         "evals_per_epoch": 1, "robustness": False}
PIPE = {"ops": [{"name": "rotation"}, {"name": "translate"}], "strength": 0.3, "seed": 0}
HEADINGS = ("The pair", "Gap metrics", "The augmentation lab's sweet spot", "The sweep", "The selection",
            "The comparison study", "Validators", "Reproducibility")
REMOTE = (r'src="http', r'href="http', r"@import", r"url\(http", r"cdn\.", r"<link\b", r"<script[^>]*\bsrc=")


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """In a run history of this module's own: a study (3 arms × 2 seeds) reported before any sweep of its pair
    exists, a sweep of the pair, and a two-cell grid (1 seed) without a selecting arm; the gap metrics on fewer
    resamples (their cost, not what the report does with them, is what the tests would otherwise wait for)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DA_DATA_DIR", str(tmp_path_factory.mktemp("report-data")))
        mp.setattr(report, "GAP_BOOTSTRAPS", 20)
        mp.setattr(report, "GAP_PERMUTATIONS", 20)
        store = get_store()
        base = TrainConfig.from_dict({**SMALL, "target_labels_per_class": 3})
        main_study = run_study(StudySpec(base, ["source-only", "selected", "augmented"], [0, 1], pipeline=PIPE,
                                         strength=0.3, name="report <b>&amp; test</b>"), store)
        assert main_study.status == "finished", main_study.message
        before_sweep = report.build_report(main_study.study_id, store)
        sweep = run_sweep(SweepSpec(base, PIPE, strengths=[0.0, 0.5], seeds=[0]), store)
        assert sweep.status == "finished", sweep.message
        grid = run_study(StudySpec(base, ["source-only", "augmented"], [0], pipeline=PIPE, strength=0.3, ks=[0, 3],
                                   shares=[1.0], name="a map"), store)
        assert grid.status == "finished", grid.message
        yield {"store": store, "main": main_study.study_id, "grid": grid.study_id, "sweep": sweep.sweep_id,
               "before_sweep": before_sweep, "main_html": report.build_report(main_study.study_id, store),
               "grid_html": report.build_report(grid.study_id, store)}


def _pre(text: str, ident: str) -> str:
    found = re.search(rf'<pre id="{ident}">(.*?)</pre>', text, re.S)
    assert found, f"no <pre id={ident}>"
    return html.unescape(found.group(1))


def _rows(text: str, table_id: str) -> list[list[str]]:
    found = re.search(rf'<table id="{table_id}">(.*?)</table>', text, re.S)
    assert found, f"no table {table_id}"
    body = found.group(1).split("<tbody>", 1)[1]
    return [[html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def test_the_report_has_every_section_and_no_remote_reference(studies: dict[str, Any]) -> None:
    text = studies["main_html"]
    headings = [html.unescape(h) for h in re.findall(r"<h2>(.*?)</h2>", text)]
    assert headings == list(HEADINGS)
    # plotly.js is inlined once, as the library ships it; everything else in the file names no remote resource
    from plotly.offline import get_plotlyjs

    bundle = re.findall(r'<script id="plotly-js">(.*?)</script>', text, re.S)
    assert bundle == [get_plotlyjs().replace("</script", "<\\/script")]
    rest = text.replace(bundle[0], "")
    for pattern in REMOTE:
        assert not re.search(pattern, rest, re.I), pattern
    assert all(src.startswith("data:image/png;base64,") for src in re.findall(r'<img[^>]*\bsrc="([^"]*)"', text))
    assert text.count("Plotly.newPlot(") == int(re.search(r'data-figures="(\d+)"', text).group(1)) >= 3
    assert "This report holds" in text and "Recomputed for this report" in text
    # the user's name is escaped, never markup; the gap table and the selection come from the records
    assert "<b>&amp;" not in text and "report &lt;b&gt;&amp;amp; test&lt;/b&gt;" in text
    assert [r[0] for r in _rows(text, "gap-table")][0] == "MMD²"
    selection = _rows(text, "selection-table")
    stored = get_store().get_sweep(studies["main"]).result["setup"]["selections"]["1"]
    assert selection[0][4:6] == [str(stored["n_selected"]), str(stored["n_pool"])]
    assert _rows(text, "validators-table")


def test_the_per_arm_numbers_are_the_analysis(studies: dict[str, Any]) -> None:
    store, study_id = studies["store"], studies["main"]
    spec = StudySpec.from_dict(store.get_sweep(study_id).config)
    main = next(c for c in analyse(spec, study_records(store, study_id)) if c.k == spec.main_cell().k)
    rows = _rows(studies["main_html"], "arms-table")
    assert [r[0] for r in rows] == [a.title for a in main.arms]
    for row, arm in zip(rows, main.arms, strict=True):
        assert row[1] == str(arm.n) and row[2] == f"{arm.target_acc.mean:.1%}"
        assert row[3] == f"{arm.target_acc.low:.1%} to {arm.target_acc.high:.1%}"
        if arm.name != "source-only":
            assert row[4] == f"{arm.paired_vs_reference.mean * 100:+.1f}"
    rec = re.search(r'<p class="rec" id="recommendation">(.*?)</p>', studies["main_html"], re.S).group(1)
    assert html.unescape(rec) == main.recommendation.text


def test_the_config_json_is_the_stored_spec_and_the_command_makes_it_again(
        studies: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from da_core.study.cli import _spec

    text, study_id = studies["main_html"], studies["main"]
    stored = get_store().get_sweep(study_id).config
    assert loads_strict(_pre(text, "spec-json")) == stored
    assert loads_strict(_pre(text, "base-json")) == stored["base"]
    (tmp_path / f"study-{study_id}-base.json").write_text(_pre(text, "base-json"))
    (tmp_path / f"study-{study_id}-pipeline.json").write_text(_pre(text, "pipeline-json"))
    command = shlex.split(_pre(text, "command"))
    assert command[:4] == ["python", "-m", "da_core", "compare"]
    monkeypatch.chdir(tmp_path)
    assert _spec(build_parser().parse_args(command[3:])).to_dict() == stored


def test_a_part_without_data_is_left_out_saying_why(studies: dict[str, Any]) -> None:
    assert "holds no sweep with results for this pair" in studies["before_sweep"]
    assert f"Sweep #{studies['sweep']}" not in studies["before_sweep"]
    with_sweep = studies["main_html"]
    assert f"Sweep #{studies['sweep']}" in with_sweep and _rows(with_sweep, "sweep-table")
    grid = studies["grid_html"]
    assert "No arm of this study selects source data" in grid
    assert "When does each win" in grid and len(_rows(grid, "cells-table")) == 2
    figures = int(re.search(r'data-figures="(\d+)"', grid).group(1))
    assert figures == grid.count("Plotly.newPlot(") >= 4 + 1  # the study's four (with the map) and the sweep's


def test_the_command_writes_the_report_and_refuses_an_unknown_study(
        studies: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "GAP_BOOTSTRAPS", 20)
    monkeypatch.setattr(report, "GAP_PERMUTATIONS", 20)
    out = tmp_path / "report.html"
    assert main(["report", "--study", str(studies["grid"]), "--out", str(out), "--json"]) == 0
    data = strict_json(capsys.readouterr().out)
    text = out.read_text(encoding="utf-8")
    assert data["study_id"] == studies["grid"] and data["figures"] == text.count("Plotly.newPlot(") >= 4
    assert text.startswith("<!DOCTYPE html>") and "<h2>The comparison study</h2>" in text
    for study_id in (999_999, studies["sweep"]):  # none at all, and a sweep that is no study
        assert main(["report", "--study", str(study_id), "--out", str(tmp_path / "x.html")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"no study #{study_id}" in err[0]
    assert not (tmp_path / "x.html").exists()
    assert main(["report", "--study", str(studies["grid"]), "--out", str(tmp_path / "none" / "r.html")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_the_study_and_runs_pages_offer_the_report(studies: dict[str, Any]) -> None:
    at = app_on_pair(SOURCE, TARGET, timeout=180)
    at.switch_page("pages/study.py").run()
    assert not at.exception, [e.value for e in at.exception]
    at.selectbox(key="study_open").set_value(studies["main"]).run()
    assert not at.exception, [e.value for e in at.exception]
    button = next(b for b in at.get("download_button") if b.proto.label == "Download report (HTML)")
    assert not button.proto.disabled
    at.switch_page("pages/runs.py").run()
    at.checkbox(key="runs_with_sweeps").check().run()
    run_id = get_store().get_sweep(studies["main"]).result["arms"][0]["runs"][0]
    at.multiselect(key="runs_chosen").set_value([run_id]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Download report (HTML)" in [b.proto.label for b in at.get("download_button")]
