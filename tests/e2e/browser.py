"""Real-browser helpers shared by the e2e fixtures (``conftest.py``) and ``benchmarks/bench_first_visit.py``:
start ``streamlit run app.py`` on a free port with its own cache and data folders, launch Debian's headless
Chromium, and wait until a page has settled.  No pytest here, so a benchmark can import it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("DA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]
VIEWPORT = {"width": 1400, "height": 1000}
GATE_KEY = "da-warmup-gate"  # the keyed container app.py shows while a page waits for the default pair's warm-up


def app_pages(app: Path = ROOT / "app.py") -> list[dict[str, object]]:
    """The pages in ``app.py``'s navigation, in order, read from its ``st.Page(...)`` calls (without running it):
    ``file``, ``title``, ``default`` and ``url_path`` ("" for the default page, else the file's stem)."""
    import ast

    calls = [node for node in ast.walk(ast.parse(app.read_text(), str(app))) if isinstance(node, ast.Call)
             and getattr(node.func, "attr", getattr(node.func, "id", None)) == "Page"]
    pages = []
    for node in sorted(calls, key=lambda n: (n.lineno, n.col_offset)):
        if not node.args or not isinstance(node.args[0], ast.Constant):
            raise ValueError(f"{app}:{node.lineno}: st.Page without a literal file name")
        kw = {k.arg: k.value.value for k in node.keywords if isinstance(k.value, ast.Constant)}
        file = str(node.args[0].value)
        default = bool(kw.get("default", False))
        pages.append({"file": file, "title": kw.get("title", Path(file).stem), "default": default,
                      "url_path": "" if default else str(kw.get("url_path", Path(file).stem))})
    return pages


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    """Poll ``/_stcore/health`` until the server answers (raises when it exits or the time runs out)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:  # noqa: S310 - local server
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError("streamlit did not become healthy")


@contextlib.contextmanager
def streamlit_server(cache_dir: Path, data_dir: Path, warm_up: bool = False, log_path: Path | None = None,
                     env: dict[str, str] | None = None) -> Iterator[str]:
    """Run ``streamlit run app.py`` with DA_CACHE_DIR / DA_DATA_DIR set; yields its base URL once healthy.

    ``warm_up`` sets DA_WARM_UP (off for tests: no background work competing with them).
    """
    port = free_port()
    full_env = {**os.environ, **(env or {}), "DA_CACHE_DIR": str(cache_dir), "DA_DATA_DIR": str(data_dir),
                "DA_WARM_UP": "1" if warm_up else "0"}
    log_path = log_path or Path(data_dir).parent / "server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, proc)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def chromium_available() -> bool:
    import shutil

    return Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is not None


def launch_chromium(playwright: object) -> object:
    """Headless Chromium from the system package (never a downloaded browser)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


# The script has run (not running, not initial) and nothing is still loading: no skeleton, no spinner, no
# running st.status, and no warm-up gate (a page waiting for the default pair's preparation).
SETTLED_JS = f"""() => {{
    const app = document.querySelector('[data-testid="stApp"]');
    const state = app && app.getAttribute('data-test-script-state');
    return !!state && state !== 'running' && state !== 'initial' &&
        !document.querySelector('[data-testid="stSkeleton"], [data-testid="stAppSkeleton"], ' +
                                '[data-testid="stSpinner"], [data-testid="stExpanderIconSpinner"], ' +
                                '.st-key-{GATE_KEY}'); }}"""


def wait_idle(page: object, timeout: float = 180.0) -> None:
    """Wait until the page has settled (see :data:`SETTLED_JS`), twice in a row 0.4 s apart."""
    for _ in range(2):
        page.wait_for_timeout(400)
        page.wait_for_function(SETTLED_JS, timeout=timeout * 1000)


def open_page(page: object, server: str, path: str = "", timeout: float = 180.0) -> None:
    """Open a page of the app and wait until it has settled."""
    page.goto(f"{server}/{path}")
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout * 1000)
    wait_idle(page, timeout)


def time_to_settle(page: object, server: str, path: str = "", timeout: float = 300.0) -> float:
    """Seconds from navigation to a settled page: polled every 50 ms, and it must still be settled 0.4 s later
    (the figure is the first moment of that stable state, so the 0.4 s check is not counted)."""
    start = time.perf_counter()
    page.goto(f"{server}/{path}")
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout * 1000)
    deadline = start + timeout
    while time.perf_counter() < deadline:
        page.wait_for_function(SETTLED_JS, timeout=max(deadline - time.perf_counter(), 0.1) * 1000, polling=50)
        settled_at = time.perf_counter() - start
        page.wait_for_timeout(400)
        if page.evaluate(SETTLED_JS):
            return settled_at
    raise TimeoutError(f"/{path} did not settle within {timeout:.0f} s")
