"""Real-browser fixtures: one Streamlit server per test session and headless Chromium from the system.

The server runs ``app.py`` on a free port with its own DA_CACHE_DIR / DA_DATA_DIR (under the session's
temporary folder), and the tests wait for ``/_stcore/health`` before opening pages.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.browser import (  # noqa: F401  (open_page and wait_idle are imported by the tests from here)
    ROOT,
    VIEWPORT,
    chromium_available,
    launch_chromium,
    open_page,
    streamlit_server,
    wait_idle,
)

SHOTS = ROOT / "docs" / "screenshots"


@pytest.fixture(scope="session")
def server_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | None]:
    """The e2e server's DA_CACHE_DIR and DA_DATA_DIR (data None for a server given by ``DA_E2E_URL`` unless
    ``DA_E2E_DATA_DIR`` names its data folder)."""
    if os.environ.get("DA_E2E_URL"):
        data = os.environ.get("DA_E2E_DATA_DIR")
        return {"cache": None, "data": Path(data) if data else None}
    base = tmp_path_factory.mktemp("e2e-server")
    return {"cache": Path(os.environ.get("DA_CACHE_DIR") or base / "cache"), "data": base / "data"}


@pytest.fixture(scope="session")
def server(server_dirs: dict[str, Path | None]) -> Iterator[str]:
    """Base URL of a Streamlit server running app.py (started once for the e2e session, no warm-up).

    ``DA_E2E_URL`` points the suite at a server that is already running (handy while writing tests).
    """
    if os.environ.get("DA_E2E_URL"):
        yield os.environ["DA_E2E_URL"].rstrip("/")
        return
    data = server_dirs["data"]
    with streamlit_server(server_dirs["cache"], data, warm_up=False, log_path=data.parent / "server.log") as url:
        yield url


@pytest.fixture()
def run_store(server: str, server_dirs: dict[str, Path | None]) -> Iterator[object]:
    """The server's run history (``RunStore`` under its DA_DATA_DIR), read beside the server."""
    if server_dirs["data"] is None:
        pytest.skip("set DA_E2E_DATA_DIR to the external server's DA_DATA_DIR to read its run store")
    from da_core.train.store import DB_NAME, RunStore

    store = RunStore(server_dirs["data"] / DB_NAME)
    yield store
    store.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Chromium from the system package (skips with a clear reason when it is missing)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -r requirements-e2e.txt")
    if not chromium_available():
        pytest.skip("Chromium not found (apt-get install -y chromium, or set DA_CHROMIUM)")
    with sync_api.sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest.fixture()
def page(browser: object, server: str) -> Iterator[object]:
    """A fresh browser context (its own Streamlit session) with a desktop-sized viewport."""
    context = browser.new_context(viewport=VIEWPORT)
    pg = context.new_page()
    pg.set_default_timeout(120_000)
    yield pg
    context.close()


def screenshot(page: object, name: str, max_height: int = 3000) -> Path:
    """Save a screenshot of the whole page under docs/screenshots (the README shows these).

    Streamlit scrolls inside its main container, so the viewport is stretched to the content first.
    """
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    size = page.viewport_size
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight || 0")
    page.set_viewport_size({"width": size["width"], "height": int(min(max(height, size["height"]), max_height))})
    page.wait_for_timeout(500)
    page.screenshot(path=str(path))
    page.set_viewport_size(size)
    return path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e is a browser test (run by ``make test-e2e``, skipped by ``make test``)."""
    for item in items:
        if "/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)


def no_exception(page: object) -> None:
    """The page shows no exception element."""
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, errors.first.inner_text()
