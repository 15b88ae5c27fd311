"""Helpers shared by the test modules (imported as ``from _helpers import ...``, like ``_fault``)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def strict_json(text: str) -> object:
    """Parse a command's ``--json`` output the way a strict parser does (bare NaN/Infinity refused)."""
    from da_core.jsonio import loads_strict

    return loads_strict(text)


APP = str(ROOT / "app.py")


def app_on_pair(source: str, target: str, timeout: float = 240) -> object:
    """A Streamlit AppTest of the whole app with the session's pair set to ``source`` -> ``target``, run once."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=timeout)
    at.session_state["source_spec"] = source
    at.session_state["target_spec"] = target
    at.run()
    return at
