"""Domain Shift Studio core library: datasets, embeddings, gap metrics, augmentation and training.

Importing this package is cheap: heavy dependencies (torch, PIL, scikit-learn, plotly) are imported by
the modules that need them, when they are first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    from da_core.data import Dataset, LoadReport, load_dataset, parse_spec

__all__ = ["Dataset", "LoadReport", "load_dataset", "parse_spec", "__version__"]


def __getattr__(name: str) -> Any:
    """Lazily expose the data API so `import da_core` stays fast."""
    if name in {"Dataset", "LoadReport", "load_dataset", "parse_spec"}:
        from da_core import data

        return getattr(data, name)
    raise AttributeError(name)
