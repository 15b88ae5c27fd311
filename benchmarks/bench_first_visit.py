"""A new user's first visit: seconds until each page of the navigation settles, from an empty cache.

Every scenario starts from fresh temporary DA_CACHE_DIR / DA_DATA_DIR folders and a fresh ``streamlit run
app.py``, then visits each page in the navigation once, in order, each in a new browser context (a new
session), with Debian's headless Chromium.  A page has settled when the script is not running, and no
skeleton, spinner, running status box or warm-up gate is left (``tests/e2e/browser.py``: SETTLED_JS); the time
runs from navigation to the first moment of a state still settled 0.4 s later.

bare:      DA_WARM_UP=0, nothing prepared: each page does the one-time work itself (the baseline).
cold:      a server started without ``make run`` (DA_WARM_UP on): the preparation runs in the background from
           the first request, and pages that need it show its progress meanwhile.
prepared:  ``python -m da_core warmup`` first (what ``make run`` does; timed as set-up, then timed again to
           show a repeat is quick), then a fresh server and the same visits.
gap-first: prepared (a copy of the prepared cache), and the very first request of a fresh server is the Gap map.

Run: .venv/bin/python benchmarks/bench_first_visit.py [--scenarios bare,cold,prepared,gap-first]
(needs requirements-e2e.txt and /usr/bin/chromium; ends with one line of JSON).  Target: every page of the
prepared path settles in <= 15 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.browser import (  # noqa: E402
    VIEWPORT,
    app_pages,
    chromium_available,
    launch_chromium,
    streamlit_server,
    time_to_settle,
)

TARGET_S = 15.0
SCENARIOS = ("bare", "cold", "prepared", "gap-first")


def _folders(name: str) -> tuple[Path, Path]:
    base = Path(tempfile.mkdtemp(prefix=f"da-bench-visit-{name}-"))
    return base / "cache", base / "data"


def _warmup_command(cache: Path, data: Path) -> tuple[float, dict[str, float]]:
    """Run the set-up warm-up (``python -m da_core warmup --json``) in a fresh process: wall seconds (interpreter
    start and imports included) and the seconds of each step."""
    env = {**os.environ, "DA_CACHE_DIR": str(cache), "DA_DATA_DIR": str(data)}
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "da_core", "warmup", "--json"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t
    if out.returncode != 0:
        raise RuntimeError(f"warmup failed ({out.returncode}): {out.stderr[-2000:]}")
    steps = json.loads(out.stdout.strip().splitlines()[-1])["steps"]
    return seconds, {s["name"]: round(s["seconds"], 1) for s in steps}


def _visits(browser: object, url: str, paths: list[str]) -> dict[str, float]:
    times: dict[str, float] = {}
    for path in paths:
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        try:
            times[path or "home"] = round(time_to_settle(page, url, path), 2)
        finally:
            context.close()
        print(f"    /{path:<10} {times[path or 'home']:6.1f} s", file=sys.stderr, flush=True)
    return times


def run_scenario(name: str, browser: object, paths: list[str], prepared_copy: Path | None = None
                 ) -> dict[str, object]:
    cache, data = _folders(name)
    out: dict[str, object] = {}
    if name == "gap-first" and prepared_copy is not None:  # the same prepared cache as "prepared", copied
        shutil.copytree(prepared_copy, cache)
    elif name in ("prepared", "gap-first"):
        seconds, out["setup_steps"] = _warmup_command(cache, data)
        out["setup_s"] = round(seconds, 1)
        out["setup_again_s"] = round(_warmup_command(cache, data)[0], 1)
        if name == "prepared":
            shutil.copytree(cache, cache.parent / "prepared-cache")  # before any server adds to it
            out["cache_copy"] = cache.parent / "prepared-cache"
    order = ["gap"] if name == "gap-first" else paths
    print(f"  {name}: server start", file=sys.stderr, flush=True)
    with streamlit_server(cache, data, warm_up=name != "bare", log_path=cache.parent / "server.log") as url:
        out["visits"] = _visits(browser, url, order)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated, from {', '.join(SCENARIOS)}")
    args = parser.parse_args()
    chosen = [s for s in args.scenarios.split(",") if s]
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r}")
    if not chromium_available():
        sys.exit("Chromium not found (apt-get install -y chromium, or set DA_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    pages = app_pages()
    paths = [str(p["url_path"]) for p in pages]
    titles = {str(p["url_path"]): str(p["title"]) for p in pages}
    results: dict[str, dict[str, object]] = {}
    load = os.getloadavg()[0]
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            for name in chosen:
                copy = results.get("prepared", {}).get("cache_copy")
                results[name] = run_scenario(name, browser, paths, copy)
        finally:
            browser.close()

    shown = [n for n in chosen if n != "gap-first"]
    print(f"\nFirst visit to each page, seconds until settled (load average {load:.1f} at the start, "
          f"{os.cpu_count()} CPUs)")
    print(f"{'page':<18}" + "".join(f"{n:>12}" for n in shown))
    for path in paths:
        print(f"{titles[path]:<18}" + "".join(f"{results[n]['visits'].get(path or 'home', float('nan')):>12.1f}"
                                             for n in shown))
    for name in ("prepared", "gap-first"):
        if name in results and "setup_s" in results[name]:
            r = results[name]
            steps = ", ".join(f"{k} {v:.1f} s" for k, v in r["setup_steps"].items())
            print(f"{name}: set-up `python -m da_core warmup` {r['setup_s']:.1f} s ({steps}); "
                  f"again, all cached: {r['setup_again_s']:.1f} s")
    if "gap-first" in results:
        print(f"gap-first: the Gap map as the fresh server's very first request: "
              f"{results['gap-first']['visits']['gap']:.1f} s")
    figures: dict[str, object] = {name: r["visits"] for name, r in results.items()}
    for name in ("prepared", "gap-first"):
        if name in results and "setup_s" in results[name]:
            figures[f"{name}_setup_s"] = results[name]["setup_s"]
            figures[f"{name}_setup_steps"] = results[name]["setup_steps"]
            figures[f"{name}_setup_again_s"] = results[name]["setup_again_s"]
    if "prepared" in results:
        worst = max(results["prepared"]["visits"].values())
        figures["prepared_max_s"] = worst
        figures["target_s"] = TARGET_S
        figures["meets_target"] = worst <= TARGET_S
        print(f"prepared: slowest first visit {worst:.1f} s (target <= {TARGET_S:.0f} s)")
    figures["load_average"] = round(load, 2)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
