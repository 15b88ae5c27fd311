"""Where caches and stores live, and the safety caps; all overridable through environment variables.

- ``DA_CACHE_DIR`` (default ``~/.cache/da-studio``): generated datasets, embeddings, uploads.
- ``DA_DATA_DIR`` (default ``~/.local/share/da-studio``): run history and checkpoints.
- ``DA_DATA_ROOT`` (unset by default): when set, ``folder:`` and ``zip:`` paths must lie inside it.
- ``DA_MAX_ARCHIVE_BYTES``, ``DA_MAX_ARCHIVE_FILES``, ``DA_MAX_IMAGE_PIXELS``: caps for archives and images.
- ``DA_MAX_UPLOAD_BYTES``: largest archive the upload widget stores (default 200 MiB, as ``server.maxUploadSize``
  in ``.streamlit/config.toml``).
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_MAX_ARCHIVE_BYTES = 1 << 30  # 1 GiB uncompressed
DEFAULT_MAX_ARCHIVE_FILES = 100_000
DEFAULT_MAX_IMAGE_PIXELS = 40_000_000  # ~ 6300 x 6300
DEFAULT_MAX_UPLOAD_BYTES = 200 << 20  # 200 MiB, the same as server.maxUploadSize in .streamlit/config.toml


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else default


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        return default


def cache_dir() -> Path:
    """Directory for caches that can be rebuilt (``DA_CACHE_DIR``); created on demand."""
    path = _env_path("DA_CACHE_DIR", Path.home() / ".cache" / "da-studio")
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Directory for things worth keeping, such as run history (``DA_DATA_DIR``); created on demand."""
    path = _env_path("DA_DATA_DIR", Path.home() / ".local" / "share" / "da-studio")
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_root() -> Path | None:
    """The folder user datasets must live in (``DA_DATA_ROOT``), or None when unrestricted."""
    value = os.environ.get("DA_DATA_ROOT")
    return Path(value).expanduser().resolve() if value else None


def uploads_dir() -> Path:
    """Where archives uploaded through the page are stored (inside the cache)."""
    path = cache_dir() / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def max_archive_bytes() -> int:
    """Largest total uncompressed size an archive may declare."""
    return _env_int("DA_MAX_ARCHIVE_BYTES", DEFAULT_MAX_ARCHIVE_BYTES)


def max_archive_files() -> int:
    """Most entries an archive may hold."""
    return _env_int("DA_MAX_ARCHIVE_FILES", DEFAULT_MAX_ARCHIVE_FILES)


def max_image_pixels() -> int:
    """Largest width x height an image may declare before it is decoded (decompression-bomb guard)."""
    return _env_int("DA_MAX_IMAGE_PIXELS", DEFAULT_MAX_IMAGE_PIXELS)


def max_upload_bytes() -> int:
    """Largest uploaded archive that is stored (the browser's own limit may be set higher)."""
    return _env_int("DA_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES)
