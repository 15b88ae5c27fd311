"""The Lesson page in a real browser: every step of the default pair — predict, run, reveal — the quick study with
the DANN run's film, and the presenter mode's larger type without the sidebar."""

from __future__ import annotations

import re

from tests.e2e.conftest import no_exception, open_page, screenshot, wait_idle

STEPS = ("1 · See the two domains", "2 · Measure the gap", "3 · Augment: where does more stop helping?",
         "4 · Select source data", "5 · Fine-tune and compare")


def _predict_and_run(page: object, title: str, answer: str, timeout: int = 240_000) -> None:
    page.get_by_role("radio", name=title, exact=True).click()
    wait_idle(page)
    page.get_by_text(answer, exact=True).first.click()
    wait_idle(page)
    page.get_by_role("button", name=re.compile("Run and reveal")).click()
    page.get_by_text(re.compile("The class predicted")).first.wait_for(timeout=timeout)
    wait_idle(page)
    no_exception(page)


def test_the_lesson_runs_every_step_and_reveals_what_it_measured(page: object, server: str) -> None:
    open_page(page, server, "lesson")
    no_exception(page)
    _predict_and_run(page, STEPS[0], "Much worse: over 20 points lower")
    assert page.get_by_text(re.compile(r"Source \d+\.\d% → target \d+\.\d%")).first.is_visible()
    _predict_and_run(page, STEPS[1], "Yes: clearly larger than chance")
    assert page.get_by_text(re.compile(r"permutation test")).first.is_visible()
    _predict_and_run(page, STEPS[2], "No: a moderate strength is best, the strongest goes too far")
    _predict_and_run(page, STEPS[3], "Yes, clearly closer")
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 1
    page.get_by_role("radio", name=STEPS[4], exact=True).click()
    wait_idle(page)
    page.get_by_text("Quick comparison: one seed of one epoch").first.click()
    wait_idle(page)
    _predict_and_run(page, STEPS[4], "DANN (domain-adversarial)", timeout=480_000)
    assert page.get_by_text(re.compile(r"Target accuracy: source only \d")).first.is_visible()
    assert page.get_by_text("The DANN run's training film").first.is_visible()
    assert page.locator(".slider-container, .slider-group").count() >= 1  # the film's slider over the steps
    screenshot(page, "lesson")


def test_presenter_mode_is_readable_from_the_back_of_the_room(page: object, server: str) -> None:
    open_page(page, server, "lesson")
    before = page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
    assert page.locator('[data-testid="stSidebar"]').first.is_visible()
    page.get_by_text("Presenter mode").first.click()
    wait_idle(page)
    no_exception(page)
    after = page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
    assert after > before
    assert not page.locator('[data-testid="stSidebar"]').first.is_visible()
    assert page.get_by_text(re.compile("Open the full")).count() == 0
