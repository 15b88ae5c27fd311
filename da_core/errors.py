"""The project's own error types: a user mistake is one of these, never a bare traceback."""

from __future__ import annotations


class DAError(Exception):
    """Base class for errors caused by user input or the environment, with a message fit to show."""


class SpecError(DAError, ValueError):
    """A dataset spec string is malformed, names an unknown source, or has a bad option."""


class DatasetError(DAError):
    """A dataset cannot be loaded or is unusable (missing files, empty, one class, refused archive)."""


class ModalityError(DAError, ValueError):
    """Something made for one modality met data of another (an image op in a text pipeline, an image embedder
    on a text dataset); the message names both."""


class SecurityError(DatasetError):
    """Input refused for safety: a path outside DA_DATA_ROOT, a zip entry escaping its folder, a bomb."""


class PipelineError(DAError, ValueError):
    """An augmentation pipeline is invalid (unknown op, bad field); the message names the field."""


class StoreError(DAError):
    """The run history (``runs.sqlite`` under ``DA_DATA_DIR``) cannot be opened or written; names the file."""

    def __init__(self, message: str, path: object = None) -> None:
        super().__init__(message)
        self.path = path


class StoreDamagedError(StoreError):
    """The run history file is not a database or is corrupt; it can be set aside (renamed) for a new one."""


class StoreWriteError(StoreError):
    """A write to the run history failed (disk full, I/O error); what was written before stays."""


class StoreReadOnlyError(StoreWriteError):
    """The run history can only be read (read-only file, folder or disk): history shows, new runs cannot start."""


class CacheError(DAError):
    """The cache folder (``DA_CACHE_DIR``) cannot be used; caches are skipped, things that need it fail."""


class OutputError(DAError):
    """A file named on the command line (``--umap``, ``--sheet``, ...) cannot be written there."""
