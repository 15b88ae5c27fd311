"""The Streamlit internals that pages/_routing.py patches are still there and still work as it assumes; a Streamlit
upgrade that changes them fails here, not silently in the browser (see the module's docstring)."""

from __future__ import annotations

import inspect
import threading
from typing import Any

import pytest
from _helpers import APP
from streamlit.testing.v1 import AppTest

from da_core import warmup


def test_the_flag_streamlit_routes_by_is_still_where_the_patch_sets_it() -> None:
    from streamlit.commands import navigation
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import script_runner

    assert hasattr(PagesManager, "uses_pages_directory")
    # set from the pages/ folder when None; the runner then runs a page file alone (_mpa_v1) instead of app.py
    assert "PagesManager.uses_pages_directory is None" in inspect.getsource(PagesManager.__init__)
    runner = inspect.getsource(script_runner)
    assert "if PagesManager.uses_pages_directory:" in runner and "_mpa_v1(" in runner
    # and st.navigation, which app.py calls, is what clears it
    assert "PagesManager.uses_pages_directory = False" in inspect.getsource(navigation.navigation)


def test_a_page_opened_first_is_routed_through_app_py(monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.runtime.pages_manager import PagesManager

    from pages import _routing

    runs: list[Any] = []  # one entry per run of app.py (it starts the warm-up on every run)
    monkeypatch.setenv("DA_WARM_UP", "1")
    monkeypatch.setattr(warmup, "start_background", lambda *a, **k: runs.append(a) or threading.current_thread())
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception and len(runs) == 1
    _routing.reset()
    at.switch_page("pages/home.py").run()  # AppTest sets the flag again: the page file would run alone
    assert not at.exception, [e.value for e in at.exception]
    assert len(runs) == 2, "the page ran without app.py (page config, navigation, warm-up gate)"
    assert PagesManager.uses_pages_directory is False
    assert [t.value for t in at.title][:1] == ["Domain Shift Studio"]
    # once per process: later AppTest runs may run a page file alone (what the page tests rely on); if this
    # fails, Streamlit no longer runs page files alone, and pages/_routing.py may be deleted
    at.switch_page("pages/home.py").run()
    assert not at.exception and len(runs) == 2
