"""Test set-up: caches and stores go to a temporary folder, never to the user's home."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# One cache for the whole session so generated built-ins are made once; set before da_core is used.
_SESSION_TMP = tempfile.mkdtemp(prefix="da-test-")
# The text built-ins' corpora that `make setup` fetched into the user's cache are copied into the session's
# (2.7 MB, read-only use), so the tests never touch the user's cache and need no network.
_CORPORA = Path(os.environ.get("DA_CACHE_DIR") or Path.home() / ".cache" / "da-studio").expanduser() / "text"
if (_CORPORA / "vader-3.3.2").is_dir() and "DA_CACHE_DIR" not in os.environ:
    shutil.copytree(_CORPORA / "vader-3.3.2", Path(_SESSION_TMP, "cache", "text", "vader-3.3.2"))
os.environ.setdefault("DA_CACHE_DIR", os.path.join(_SESSION_TMP, "cache"))
os.environ.setdefault("DA_DATA_DIR", os.path.join(_SESSION_TMP, "data"))
os.environ.pop("DA_DATA_ROOT", None)
os.environ.setdefault("DA_WARM_UP", "0")  # no background UMAP warm-up competing with the tests


@pytest.fixture()
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DA_DATA_ROOT restricted to a fresh temporary folder."""
    root = tmp_path / "root"
    root.mkdir()
    monkeypatch.setenv("DA_DATA_ROOT", str(root))
    return root



@pytest.fixture(autouse=True)
def _small_robustness(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every finished run still measures its robustness, on 20 held-out target samples instead of the default
    100 images / 200 texts (tests that check the measure itself set ``robust_samples``): the measure stays
    exercised by every run while the suite keeps to its time on 2 cores."""
    from da_core.train import robustness

    monkeypatch.setattr(robustness, "SAMPLES", {"image": 20, "text": 20})
