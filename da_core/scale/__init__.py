"""Past one machine: many runs as Ray tasks (sweeps and studies; searches through Ray Tune).

The default backend is ``local``: runs one after another in this process, as always, and needs no Ray.  The
``ray`` backend (:mod:`da_core.scale.ray_runs`, ``pip install -r requirements-scale.txt``) runs each run as a
Ray task on a local Ray started for the purpose, or on an existing cluster (``address``, else ``RAY_ADDRESS``),
each asking for the CPUs and (fractional) GPUs the user sets.  Results and metrics flow back into the same
run history: the tasks stream their events to the driver, which alone writes the store.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from da_core.errors import SpecError

BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class RayOptions:
    """How runs go to Ray: the cluster (``address`` None: ``RAY_ADDRESS``, else a local Ray of ``local_cpus``
    CPUs, default all of this machine's), what each run asks for, and how many run at once (None: as many as
    the cluster's CPUs allow)."""

    address: str | None = None
    cpus_per_run: float = 1.0
    gpus_per_run: float = 0.0
    workers: int | None = None
    local_cpus: int | None = None

    def validate(self) -> RayOptions:
        """Check the numbers; :class:`SpecError` names the bad one."""
        if not 0 < self.cpus_per_run <= 1024:
            raise SpecError(f"ray cpus per run: expected a number in (0, 1024], got {self.cpus_per_run!r}")
        if not 0 <= self.gpus_per_run <= 64:
            raise SpecError(f"ray gpus per run: expected a number in [0, 64] (fractions share a GPU), got "
                            f"{self.gpus_per_run!r}")
        if self.workers is not None and not 1 <= self.workers <= 10_000:
            raise SpecError(f"ray workers: expected a whole number >= 1, got {self.workers!r}")
        if self.local_cpus is not None and not 1 <= self.local_cpus <= 4096:
            raise SpecError(f"ray local cpus: expected a whole number >= 1, got {self.local_cpus!r}")
        return self

    @property
    def target(self) -> str | None:
        """The cluster to join: ``address``, else ``RAY_ADDRESS``, else None (a local Ray is started)."""
        return self.address or os.environ.get("RAY_ADDRESS") or None


def check_backend(name: str) -> str:
    """``name`` when it is a backend; a :class:`SpecError` naming the choices, or saying how to install Ray."""
    if name not in BACKENDS:
        raise SpecError(f"backend: expected one of {', '.join(BACKENDS)}, got {name!r}")
    if name == "ray" and not ray_available():
        raise SpecError("backend ray: Ray is not installed; install the scale extra with "
                        "`.venv/bin/pip install -r requirements-scale.txt` (or use the local backend)")
    return name


def ray_available() -> bool:
    """Whether Ray can be imported (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None
