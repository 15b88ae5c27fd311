"""Where caches and stores live, and the safety caps; all overridable through environment variables.

- ``DA_CACHE_DIR`` (default ``~/.cache/da-studio``): generated datasets, embeddings, uploads.
- ``DA_DATA_DIR`` (default ``~/.local/share/da-studio``): run history and checkpoints.
- ``DA_DATA_ROOT`` (unset by default): when set, ``folder:`` and ``zip:`` paths must lie inside it.
- ``DA_MAX_ARCHIVE_BYTES``, ``DA_MAX_ARCHIVE_FILES``, ``DA_MAX_IMAGE_PIXELS``: caps for archives and images.
- ``DA_MAX_TEXT_BYTES``: largest CSV/JSONL file a text source reads (default 256 MiB).
- ``DA_MAX_UPLOAD_BYTES``: largest archive the upload widget stores (default 200 MiB, as ``server.maxUploadSize``
  in ``.streamlit/config.toml``).
- ``DA_MAX_MEMORY``: the most one image dataset's decoded pixels may take (bytes, or with a K/M/G suffix; default
  2 GiB on every machine, so a spec loads the same samples everywhere).  A larger folder, archive or torchvision
  set is subsampled (class-stratified, seeded) before decoding, and its load report says so.

A folder variable that names a file (or a folder that cannot be created) is a :class:`CacheError` or
:class:`StoreError` naming the variable and the fix.  Caches go through :func:`cache_subdir` and
:func:`write_cache_file`: when they cannot be written the caller carries on with a warning, and no temporary
file is left behind.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Callable
from pathlib import Path

from da_core.errors import CacheError, StoreError

log = logging.getLogger("da_core.cache")

DEFAULT_SOURCE = "builtin:printed-digits"  # the built-in default pair: a real synthetic-to-real gap
DEFAULT_TARGET = "builtin:handwritten-digits"
# The default text pair: movie-review snippets -> tweet-like texts, both rated by humans (the VADER corpora); a
# linear probe on MiniLM embeddings loses accuracy from one to the other (tests/test_text_data.py shows it).
DEFAULT_TEXT_SOURCE = "builtin:reviews-movies"
DEFAULT_TEXT_TARGET = "builtin:tweets"
DEFAULT_MAX_TEXT_BYTES = 256 << 20  # 256 MiB
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


def parse_bytes(value: str) -> int:
    """``"2G"``, ``"512M"``, ``"100k"`` or a plain byte count as bytes (binary units); ValueError otherwise."""
    text = value.strip().upper().removesuffix("B").removesuffix("I")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(text[-1:], 1)
    number = float(text[:-1] if scale > 1 else text)
    if not number > 0:
        raise ValueError(f"expected a positive size, got {value!r}")
    return int(number * scale)


DEFAULT_MAX_MEMORY = 2 << 30  # the same on every machine: a dataset spec must give the same samples everywhere


def max_memory() -> int:
    """The most one image dataset's decoded pixels may take (``DA_MAX_MEMORY``; default 2 GiB; a value that does
    not parse gives the default, with a warning)."""
    default = DEFAULT_MAX_MEMORY
    value = os.environ.get("DA_MAX_MEMORY")
    if not value:
        return default
    try:
        return parse_bytes(value)
    except (ValueError, OverflowError):
        log.warning("DA_MAX_MEMORY=%r is not a size (e.g. 2G, 512M); using %d bytes", value, default)
        return default


def _make_dir(path: Path, variable: str, error: type[Exception]) -> Path:
    """Create ``path`` (a folder named by ``variable``); ``error`` with the fix when it is a file or cannot be made."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            return path
        problem = f"{variable}={path} is not a folder: point {variable} at a folder"
    except (FileExistsError, NotADirectoryError):
        problem = (f"{variable}={path} is a file, not a folder: point {variable} at a folder (or unset it to use "
                   "the default)")
    except OSError as exc:
        problem = (f"{variable}={path} cannot be created ({exc.strerror or exc}): point {variable} at a writable "
                   "folder")
    err = error(problem)
    err.path = path  # type: ignore[attr-defined]
    raise err


def cache_dir() -> Path:
    """Directory for caches that can be rebuilt (``DA_CACHE_DIR``); created on demand.

    Raises :class:`CacheError` naming the variable when it is a file or cannot be created.
    """
    return _make_dir(_env_path("DA_CACHE_DIR", Path.home() / ".cache" / "da-studio"), "DA_CACHE_DIR", CacheError)


def data_dir() -> Path:
    """Directory for things worth keeping, such as run history (``DA_DATA_DIR``); created on demand.

    Raises :class:`StoreError` naming the variable when it is a file or cannot be created.
    """
    return _make_dir(_env_path("DA_DATA_DIR", Path.home() / ".local" / "share" / "da-studio"), "DA_DATA_DIR",
                     StoreError)


def data_dir_path() -> Path:
    """Where ``DA_DATA_DIR`` points, without creating it (for opening a history that may be read-only)."""
    return _env_path("DA_DATA_DIR", Path.home() / ".local" / "share" / "da-studio")


# ------------------------------------------------------------------------------------ cache files


def cache_subdir(name: str) -> Path | None:
    """``cache_dir()/name``, created; None (after a warning) when the cache cannot be used.

    Caches are an optimisation: a cache folder that is a file, read-only or on a full disk costs speed, never
    the result.
    """
    try:
        folder = cache_dir() / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    except CacheError as exc:
        log.warning("warning: %s; carrying on without the cache", exc)
    except OSError as exc:
        log.warning("warning: cannot create the cache folder %s (%s); carrying on without the cache. %s",
                    exc.filename or name, exc.strerror or exc, _cache_fix(exc))
    return None


def write_cache_file(path: Path, write: Callable[[Path], None]) -> bool:
    """Write a cache file whole or not at all: ``write(tmp)`` fills a temporary sibling, which is then renamed.

    The temporary name ends like ``path`` (``.x.<pid>.tmp.npz`` for ``x.npz``), since numpy appends a missing
    suffix.  On any failure the temporary file is removed; an ``OSError`` (disk full, read-only folder) is
    reported as a warning and gives False, so the caller carries on with what it computed.
    """
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
        return True
    except OSError as exc:
        log.warning("warning: could not write the cache file %s (%s); carrying on without it. %s", path,
                    exc.strerror or exc, _cache_fix(exc))
        return False
    finally:
        with contextlib.suppress(OSError):  # nothing more can be done
            tmp.unlink(missing_ok=True)


def _cache_fix(exc: OSError) -> str:
    """What to do about a cache write that failed."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "Free some disk space or point DA_CACHE_DIR at a larger disk."
    return "Point DA_CACHE_DIR at a writable folder to keep caches."


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


def max_text_bytes() -> int:
    """Largest CSV or JSONL file a text source reads (``DA_MAX_TEXT_BYTES``); larger ones are refused unread."""
    return _env_int("DA_MAX_TEXT_BYTES", DEFAULT_MAX_TEXT_BYTES)


def text_corpora_dir() -> Path:
    """Where the set-up puts the VADER ground-truth corpora (``DA_CACHE_DIR/text/vader-3.3.2``; not created)."""
    return _env_path("DA_CACHE_DIR", Path.home() / ".cache" / "da-studio") / "text" / "vader-3.3.2"


def max_upload_bytes() -> int:
    """Largest uploaded archive that is stored (the browser's own limit may be set higher)."""
    return _env_int("DA_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES)
