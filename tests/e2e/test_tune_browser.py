"""The Tuning page in a real browser: a two-trial search on the default pair runs in the background and ends with
its trials, Optuna's figures and the validator agreement table."""

from __future__ import annotations

import re

from tests.e2e.conftest import no_exception, open_page, screenshot, wait_idle


def test_a_short_search_finishes_with_its_figures_and_the_agreement_table(page: object, server: str) -> None:
    open_page(page, server, "tune")
    no_exception(page)
    box = page.get_by_label("Trials", exact=True).first
    box.fill("2")
    box.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Start search").click()
    page.get_by_text(re.compile(r"Search #\d+")).first.wait_for(timeout=60_000)
    page.get_by_text(re.compile(r"Search #\d+: finished")).first.wait_for(timeout=300_000)
    wait_idle(page)
    no_exception(page)
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 3
    assert page.get_by_text("How far each validator agreed with the truth").first.is_visible()
    screenshot(page, "tune")
