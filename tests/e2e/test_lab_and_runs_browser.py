"""The augmentation lab, training and run history in a real browser, including two sessions at once."""

from __future__ import annotations

import re

from tests.e2e.conftest import no_exception, open_page, screenshot, wait_idle


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


def test_stop_ends_a_run_and_keeps_it(page: object, server: str) -> None:
    open_page(page, server, "train")
    run_id = _start_run(page)
    page.get_by_role("button", name="Stop").click()
    page.get_by_text(f"Run #{run_id}: stopped").first.wait_for(timeout=120_000)
    wait_idle(page)
    no_exception(page)


def test_two_sessions_each_see_only_their_own_run(browser: object, server: str) -> None:
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(2)]
    pages = [c.new_page() for c in contexts]
    try:
        for pg in pages:
            pg.set_default_timeout(300_000)
            open_page(pg, server, "train")
        ids = [_start_run(pg) for pg in pages]
        assert ids[0] != ids[1]
        for pg, mine, other in ((pages[0], ids[0], ids[1]), (pages[1], ids[1], ids[0])):
            pg.get_by_text(f"Run #{mine}: finished").first.wait_for(timeout=300_000)
            wait_idle(pg)
            assert pg.get_by_text(f"Run #{other}:").count() == 0
            no_exception(pg)
        open_page(pages[0], server, "runs")
        body = pages[0].locator('[data-testid="stMain"]').inner_text()
        table_ids = pages[0].evaluate("() => document.body.innerText")
        assert body and all(str(i) in table_ids for i in ids)
    finally:
        for c in contexts:
            c.close()
