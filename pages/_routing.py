"""The one patch of a Streamlit internal: a deep link that arrives first after a server start goes through
``app.py``.

Why it exists (checked against Streamlit 1.67.0; ``tests/test_routing.py`` fails when an upgrade changes it):
``PagesManager.__init__`` (``streamlit/runtime/pages_manager.py``) sets the class attribute
``PagesManager.uses_pages_directory`` from the mere presence of a ``pages/`` folder beside the main script, and
only ``st.navigation`` sets it back to False.  While it is True, the script runner
(``streamlit/runtime/scriptrunner/script_runner.py``) does not execute ``app.py`` but ``_mpa_v1``: the old
multipage mode, which runs the requested page file alone.  So the first request of a fresh server for
``/datasets`` would draw that page without the page config, the navigation and the warm-up gate.  No supported
setting avoids this: ``client.showSidebarNavigation = false`` and ``st.navigation(position="hidden")`` only hide
the menu, and ``st.navigation`` resets the flag only once ``app.py`` runs, which is what the deep link skips.
(Renaming the ``pages/`` folder would, at the price of every path that names it.)

:func:`route_through_app` runs at the top of every page (``_ui.init_state``): when it finds the flag set, it
clears it and reruns, which runs ``app.py`` and routes to the same page.  ``AppTest`` sets the flag afresh
before every run, so the rerun happens once per process; :func:`reset` (for tests) allows it once more.
"""

from __future__ import annotations

import streamlit as st

_state = {"rerouted": False}


def route_through_app() -> None:
    """If this run is a page file run alone by Streamlit's old multipage mode, clear the mode and rerun through
    ``app.py`` (once per process); otherwise do nothing."""
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # pragma: no cover - internal module moved (tests/test_routing.py fails first)
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        if not _state["rerouted"]:
            _state["rerouted"] = True
            st.rerun()


def reset() -> None:
    """Let the next page run alone reroute through ``app.py`` again (tests that need app.py's gate on a page)."""
    _state["rerouted"] = False
