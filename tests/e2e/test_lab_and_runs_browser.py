"""The augmentation lab, training and run history in a real browser, including two sessions at once."""

from __future__ import annotations

import math
import re
import time

import pytest

from tests.e2e.conftest import no_exception, open_page, screenshot, wait_idle

CLICK_LATENCY_S = 1.5  # from the click in the browser to the Stop callback on the server (a fragment rerun)


def _sheet_src(page: object) -> str:
    return page.locator('[data-testid="stImage"] img').first.get_attribute("src") or ""


def test_strength_slider_changes_the_preview(page: object, server: str) -> None:
    open_page(page, server, "augment")
    no_exception(page)
    info = page.get_by_text(re.compile(r"At s = \d\.\d\d:")).first
    before_text, before_img = info.inner_text(), _sheet_src(page)
    assert before_img
    screenshot(page, "augment")
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="Strength s").get_by_role("slider").first
    slider.focus()
    for _ in range(30):
        page.keyboard.press("ArrowRight")
    wait_idle(page)
    page.wait_for_function("t => !document.body.innerText.includes(t)", arg=before_text.split(":")[0] + ":")
    after_text = page.get_by_text(re.compile(r"At s = \d\.\d\d:")).first.inner_text()
    assert after_text != before_text
    page.wait_for_function("src => document.querySelector('[data-testid=\"stImage\"] img').src !== src",
                           arg=before_img)
    no_exception(page)


POINTS_JS = """() => {
    const g = document.querySelector('.js-plotly-plot');
    const traces = g && (g._fullData || g.data);
    return traces ? traces.reduce((n, t) => n + (t._length || (t.x && t.x.length) || 0), 0) : 0 }"""


def _plot_points(page: object) -> int:
    return page.evaluate(POINTS_JS)


def _start_run(page: object) -> int:
    page.get_by_role("button", name="Start run").click()
    label = page.get_by_text(re.compile(r"Run #\d+")).first
    label.wait_for(timeout=120_000)
    return int(re.search(r"Run #(\d+)", label.inner_text()).group(1))


def test_a_run_streams_a_growing_chart_finishes_and_lands_in_the_history(page: object, server: str) -> None:
    open_page(page, server, "train")
    no_exception(page)
    run_id = _start_run(page)
    page.wait_for_selector(".js-plotly-plot", timeout=120_000)
    first = _plot_points(page)
    page.wait_for_function(f"() => ({POINTS_JS})() > {first}", timeout=120_000)  # the live chart grows
    page.get_by_text(f"Run #{run_id}: finished").first.wait_for(timeout=300_000)
    wait_idle(page)
    no_exception(page)
    screenshot(page, "train")
    open_page(page, server, "runs")
    no_exception(page)
    assert page.get_by_text("Runs").first.is_visible()
    assert page.locator('[data-testid="stDataFrame"]').count() >= 1
    screenshot(page, "runs")


def _set_number(page: object, label: str, value: int) -> None:
    """Type a value into one of the run form's number inputs (committed by leaving the field)."""
    box = page.get_by_label(label, exact=True).first
    box.fill(str(value))
    box.press("Tab")


def _steps(store: object, run_id: int) -> int:
    """The last training step of a run in the store (0 before the first flush)."""
    frame = store.metrics(run_id, ["train_loss"])
    return int(frame["step"].max()) if len(frame) else 0


def test_stop_ends_a_run_within_one_batch_and_keeps_its_metrics(page: object, server: str,
                                                                run_store: object) -> None:
    """Stop mid-run: the run ends as stopped within one batch (plus what the click's latency allows) and every
    step's metrics and the final evaluation are in the history."""
    from da_core.train.run import FLUSH_SECONDS

    open_page(page, server, "train")
    _set_number(page, "Epochs", 30)  # far longer than the test: it ends only because of Stop
    _set_number(page, "Batch size", 512)  # slow batches (~0.3 s each on 2 cores), so "one batch" is measurable
    run_id = _start_run(page)
    deadline = time.time() + 120
    while _steps(run_store, run_id) < 2 and time.time() < deadline:  # training is under way
        time.sleep(0.05)
    before = _steps(run_store, run_id)
    while _steps(run_store, run_id) == before and time.time() < deadline:  # click right after a flush
        time.sleep(0.02)
    at_click = _steps(run_store, run_id)
    assert at_click >= 2, "the run never started training"
    page.get_by_role("button", name="Stop").click()
    page.get_by_text(f"Run #{run_id}: stopped").first.wait_for(timeout=120_000)
    wait_idle(page)
    no_exception(page)

    record = run_store.get_run(run_id)
    assert record.status == "stopped" and record.final is not None
    steps, total = record.final["steps"], record.final["total_steps"]
    assert record.message == f"stopped by the user after {steps} steps"
    assert at_click <= steps < total
    metrics = run_store.metrics(run_id)
    loss = metrics[metrics["name"] == "train_loss"]
    assert loss["step"].tolist() == list(range(1, steps + 1))  # every batch's metrics are kept
    target = metrics[metrics["name"] == "target_acc"]
    assert target["step"].max() == steps and target["value"].iloc[-1] == pytest.approx(record.final["target_acc"])
    # One batch: the one in flight when the stop flag is set.  The flag is set when the click reaches the server
    # (allowed: CLICK_LATENCY_S) and the store may lag a flush behind (FLUSH_SECONDS); at the measured seconds
    # per batch that is how many more steps may appear after the count read at the click.
    batch = (record.details or {}).get("batch_size") or record.config["batch_size"]  # the batch the run used
    per_step = float((batch / metrics[metrics["name"] == "throughput"]["value"]).median())
    allowed = 1 + math.ceil((CLICK_LATENCY_S + FLUSH_SECONDS) / per_step)
    assert steps - at_click <= allowed, (steps, at_click, per_step, allowed)
    assert total - steps > allowed  # far from where ignoring Stop would have ended


LOSS_JS = """() => {
    const g = document.querySelector('.st-key-live_loss .js-plotly-plot') || document.querySelector('.js-plotly-plot');
    const t = g && (g._fullData || g.data)[0];
    return t ? {x: Array.from(t.x), y: Array.from(t.y)} : null }"""


def _chart_matches(chart: dict[str, list[float]], frame: object) -> bool:
    """Whether a live loss chart (per-step trace) is exactly a run's train_loss history."""
    series = frame[frame["name"] == "train_loss"].sort_values("step")
    return (chart["x"] == series["step"].tolist()
            and all(math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-7) for a, b in zip(chart["y"], series["value"])))


def test_two_sessions_each_see_only_their_own_run(browser: object, server: str, run_store: object) -> None:
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(2)]
    pages = [c.new_page() for c in contexts]
    try:
        for seed, pg in enumerate(pages, start=1):
            pg.set_default_timeout(300_000)
            open_page(pg, server, "train")
            _set_number(pg, "Seed", seed)  # different seeds: the two runs' loss curves differ
        ids = [_start_run(pg) for pg in pages]
        assert ids[0] != ids[1]
        for pg, mine, other in ((pages[0], ids[0], ids[1]), (pages[1], ids[1], ids[0])):
            pg.get_by_text(f"Run #{mine}: finished").first.wait_for(timeout=300_000)
            wait_idle(pg)
            no_exception(pg)
            assert pg.get_by_text(f"Run #{other}:").count() == 0
            chart = pg.evaluate(LOSS_JS)
            assert chart and len(chart["x"]) == run_store.get_run(mine).final["steps"]
            assert _chart_matches(chart, run_store.metrics(mine))  # the live chart is this session's run ...
            assert not _chart_matches(chart, run_store.metrics(other))  # ... and not the other session's
        open_page(pages[0], server, "runs")
        body = pages[0].locator('[data-testid="stMain"]').inner_text()
        table_ids = pages[0].evaluate("() => document.body.innerText")
        assert body and all(str(i) in table_ids for i in ids)
    finally:
        for c in contexts:
            c.close()
