"""Strict JSON for every output the library writes: NaN and inf become ``null``, numpy values plain numbers.

``json.dumps`` writes the bare tokens ``NaN``/``Infinity`` by default, which no strict parser accepts; every
``--json`` output, stored record and download goes through :func:`dumps` instead.
"""

from __future__ import annotations

import json
import math
from typing import Any


def finite(obj: Any) -> Any:
    """A copy of ``obj`` with NaN/inf floats (also numpy scalars and arrays) replaced by None."""
    if hasattr(obj, "tolist") and not isinstance(obj, str | bytes):  # numpy / torch scalars and arrays
        obj = obj.tolist()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    return obj


def _default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return finite(obj.item())
    return str(obj)


def dumps(obj: Any, indent: int | None = None, **kwargs: Any) -> str:
    """Strict JSON text of ``obj`` (see the module docstring); unknown objects are written as strings."""
    return json.dumps(finite(obj), indent=indent, default=_default, allow_nan=False, **kwargs)


def loads_strict(text: str | bytes) -> Any:
    """Parse JSON, refusing the non-standard ``NaN``/``Infinity`` tokens (what a strict parser does)."""

    def refuse(token: str) -> Any:
        raise ValueError(f"not strict JSON: bare {token}")

    return json.loads(text, parse_constant=refuse)
