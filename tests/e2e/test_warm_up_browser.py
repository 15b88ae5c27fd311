"""A fresh server with an empty cache (DA_WARM_UP on): the default pair is prepared in the background, Home
and the waiting pages show how far it is, the navigation keeps working, and the Gap map then draws from it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.e2e.browser import GATE_KEY, VIEWPORT, streamlit_server
from tests.e2e.conftest import no_exception, wait_idle

STEP = re.compile(r"Preparing the default pair: step (\d)/5")


@pytest.fixture()
def warm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("warm-up-server")
    with streamlit_server(base / "cache", base / "data", warm_up=True, log_path=base / "server.log") as url:
        yield url


def test_a_fresh_server_shows_the_preparation_and_then_the_gap_map(browser: object, warm_server: str) -> None:
    context = browser.new_context(viewport=VIEWPORT)
    home, gap = context.new_page(), context.new_page()
    try:
        for pg in (home, gap):
            pg.set_default_timeout(300_000)
        home.goto(warm_server)
        note = home.locator(".st-key-da-warmup-note").get_by_text(STEP).first
        note.wait_for(timeout=120_000)
        first = int(STEP.search(note.inner_text()).group(1))
        assert home.get_by_role("heading", name="Domain Shift Studio").is_visible()  # Home itself is usable

        gap.goto(f"{warm_server}/gap")
        gate = gap.locator(f".st-key-{GATE_KEY}")
        gate.wait_for(timeout=120_000)
        gate.get_by_role("heading", name="Gap map").wait_for(timeout=60_000)
        # the progress bar lives in a fragment that draws just after the waiting view: wait for it, not a snapshot
        gate.locator('[data-testid="stProgress"]').get_by_text("Preparing the default pair").wait_for(timeout=60_000)
        no_exception(gap)
        # the page is not frozen: the navigation works while the preparation goes on
        gap.get_by_role("link", name="Runs").first.click()
        gap.get_by_role("heading", name="Runs").first.wait_for(timeout=60_000)
        assert gap.locator(f".st-key-{GATE_KEY}").count() == 0
        gap.goto(f"{warm_server}/gap")

        # Home's note follows the steps (read every 2 s) until the pair is prepared
        home.wait_for_function("n => { const m = document.body.innerText.match(/Preparing the default pair: step "
                               "(\\d)\\/5/); return !m || Number(m[1]) > n }", arg=first, timeout=300_000)
        home.get_by_text("The default pair is prepared").first.wait_for(timeout=300_000)

        wait_idle(gap, timeout=300)  # the waiting view gives way to the page itself
        gap.get_by_text("UMAP by").first.wait_for(timeout=60_000)
        assert gap.get_by_text("Gap metrics").first.is_visible()
        assert gap.get_by_text("The gap is significant").first.is_visible()
        no_exception(gap)
    finally:
        context.close()
