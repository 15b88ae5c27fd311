"""The project's own error types: a user mistake is one of these, never a bare traceback."""

from __future__ import annotations


class DAError(Exception):
    """Base class for errors caused by user input or the environment, with a message fit to show."""


class SpecError(DAError, ValueError):
    """A dataset spec string is malformed, names an unknown source, or has a bad option."""


class DatasetError(DAError):
    """A dataset cannot be loaded or is unusable (missing files, empty, one class, refused archive)."""


class SecurityError(DatasetError):
    """Input refused for safety: a path outside DA_DATA_ROOT, a zip entry escaping its folder, a bomb."""


class PipelineError(DAError, ValueError):
    """An augmentation pipeline is invalid (unknown op, bad field); the message names the field."""
