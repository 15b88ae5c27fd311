"""One loop over a group's runs, whatever the backend (a sweep's grid, a study's plan).

``one(index, train)`` records run ``index`` and returns its status; ``train`` is None locally and a Ray session's
``train`` on Ray (:func:`da_core.scale.ray_runs.map_runs`).  Locally the runs go one after another; after Stop,
or once a run ends stopped, nothing more starts and the remaining indices are ``"skipped"``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from da_core.scale import RayOptions


def run_each(count: int, one: Callable[[int, Any], str], stop: threading.Event, backend: str = "local",
             options: RayOptions | None = None, data: Any = None) -> list[str]:
    """Every index's status (``"skipped"`` for those that never started)."""
    if backend == "ray":
        from da_core.scale.ray_runs import map_runs

        return map_runs(options or RayOptions(), data, count, one, stop)
    statuses: list[str] = []
    for index in range(count):
        if stop.is_set() or (statuses and statuses[-1] == "stopped"):
            statuses.append("skipped")
        else:
            statuses.append(one(index, None))
    return statuses


def ended_early(statuses: list[str]) -> bool:
    """Whether Stop cut the group short (a run stopped, or some never started)."""
    return "stopped" in statuses or "skipped" in statuses


def completed(statuses: list[str]) -> int:
    """How many runs ran to their end (finished, failed or diverged)."""
    return sum(s not in ("stopped", "skipped") for s in statuses)
