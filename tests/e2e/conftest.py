"""Real-browser fixtures: one Streamlit server per test session and headless Chromium from the system.

The server runs ``app.py`` on a free port with its own DA_CACHE_DIR / DA_DATA_DIR (under the session's
temporary folder), and the tests wait for ``/_stcore/health`` before opening pages.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("DA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:  # noqa: S310 - local server
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("streamlit did not become healthy")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a Streamlit server running app.py (started once for the e2e session).

    ``DA_E2E_URL`` points the suite at a server that is already running (handy while writing tests).
    """
    if os.environ.get("DA_E2E_URL"):
        yield os.environ["DA_E2E_URL"].rstrip("/")
        return
    port = _free_port()
    env = dict(os.environ)
    base = tmp_path_factory.mktemp("e2e-server")
    env.setdefault("DA_CACHE_DIR", str(base / "cache"))
    env["DA_DATA_DIR"] = str(base / "data")
    env["DA_WARM_UP"] = "0"
    log = open(base / "server.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Chromium from the system package (skips with a clear reason when it is missing)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -r requirements-e2e.txt")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium, or set DA_CHROMIUM)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture()
def page(browser: object, server: str) -> Iterator[object]:
    """A fresh browser context (its own Streamlit session) with a desktop-sized viewport."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
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


def wait_idle(page: object, timeout: float = 180.0) -> None:
    """Wait until Streamlit has run the script: not running, not initial, no loading skeletons, twice in a row."""
    script = """() => {
        const app = document.querySelector('[data-testid="stApp"]');
        const state = app && app.getAttribute('data-test-script-state');
        return !!state && state !== 'running' && state !== 'initial' &&
            !document.querySelector('[data-testid="stSkeleton"], [data-testid="stAppSkeleton"]'); }"""
    for _ in range(2):
        page.wait_for_timeout(400)
        page.wait_for_function(script, timeout=timeout * 1000)


def no_exception(page: object) -> None:
    """The page shows no exception element."""
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, errors.first.inner_text()


def open_page(page: object, server: str, path: str = "") -> None:
    """Open a page of the app and wait until its script has run."""
    page.goto(f"{server}/{path}")
    page.wait_for_selector('[data-testid="stApp"]')
    wait_idle(page)
