"""Text fine-tuning in a real browser: the Datasets page's text-pair button, then the Training page (reached
through the sidebar, so the session keeps its pair) runs MiniLM with LoRA adapters to the end and says how many
parameters it trained."""

from __future__ import annotations

import re

from tests.e2e.conftest import no_exception, open_page, screenshot, wait_idle


def _set_number(page: object, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True).first
    box.fill(str(value))
    box.press("Tab")


def test_a_lora_run_on_the_text_pair_finishes_and_counts_its_parameters(page: object, server: str) -> None:
    open_page(page, server, "datasets")
    page.get_by_role("button", name=re.compile(r"Use the text pair")).click()
    wait_idle(page)
    no_exception(page)
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Training").click()
    wait_idle(page)
    no_exception(page)
    assert page.get_by_text("MiniLM sentence encoder").first.is_visible()
    mode = page.locator('[data-testid="stSelectbox"]').filter(has_text="Mode").first
    mode.click()
    page.get_by_role("option", name="LoRA adapters").click()
    _set_number(page, "Max steps (0 = by epochs)", 4)
    _set_number(page, "Held-out texts scored per domain (0 = all)", 60)
    page.get_by_role("button", name="Start run").click()
    label = page.get_by_text(re.compile(r"Run #\d+")).first
    label.wait_for(timeout=120_000)
    run_id = int(re.search(r"Run #(\d+)", label.inner_text()).group(1))
    page.get_by_text(f"Run #{run_id}: finished").first.wait_for(timeout=300_000)
    wait_idle(page)
    no_exception(page)
    assert page.get_by_text(re.compile(r"74,498 of 22,787,714 parameters trained \(0\.33%\)")).first.is_visible()
    assert page.get_by_text("Target accuracy").first.is_visible()
    screenshot(page, "train-text")
