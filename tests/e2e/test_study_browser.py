"""The Study page in a real browser: a short study on the default pair starts, reports its progress per arm,
and ends with the recommendation, the table and the figures."""

from __future__ import annotations

import re

from tests.e2e.conftest import no_exception, open_page, screenshot, wait_idle


def _set_number(page: object, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True).first
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


def test_a_short_study_finishes_with_a_recommendation(page: object, server: str) -> None:
    open_page(page, server, "study")
    no_exception(page)
    assert page.get_by_text("Study settings").first.is_visible()
    _set_number(page, "Seeds", 2)
    _set_number(page, "Epochs (the budget)", 1)
    page.get_by_text(re.compile(r"10 runs \(5 arms × 2 seeds\)")).first.wait_for(timeout=30_000)
    page.get_by_role("button", name="Start study").click()
    page.get_by_text(re.compile(r"Study #\d+")).first.wait_for(timeout=60_000)
    page.get_by_text(re.compile(r"Study #\d+: finished")).first.wait_for(timeout=480_000)
    wait_idle(page)
    no_exception(page)
    assert page.get_by_text("has the highest mean target accuracy").first.is_visible()
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 3
    screenshot(page, "study")
