"""Timing helpers the benchmark scripts share (each script still runs on its own: ``python benchmarks/NAME.py``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def interleaved(bare: Callable[[], Any], ours: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """The best seconds of ``bare`` and of ``ours`` over ``repeats`` rounds, run in turn so machine noise hits both."""
    bare_t, ours_t = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        bare()
        bare_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        ours()
        ours_t.append(time.perf_counter() - t)
    return min(bare_t), min(ours_t)


def best_of(fn: Callable[[], Any], repeats: int = 5) -> float:
    """The fastest of ``repeats`` timed calls of ``fn``, in seconds."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)
