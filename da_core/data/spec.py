"""Dataset spec strings: one string names any dataset, in the UI and on the command line.

    builtin:printed-digits?n=2000&seed=0&size=28
    torchvision:MNIST?root=PATH&split=test
    folder:PATH?size=64          zip:PATH
    builtin:reviews-movies?n=2000  csv:PATH?text=review&label=stars  jsonl:PATH  hfdisk:PATH?split=train

A spec is ``scheme:body`` with optional ``?key=value&...`` options.  Parsing checks only the syntax;
:func:`da_core.data.registry.resolve` checks names and option values against the source registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from da_core.errors import SpecError

SCHEMES = ("builtin", "torchvision", "folder", "zip", "csv", "jsonl", "hfdisk")
PATH_SCHEMES = ("folder", "zip", "csv", "jsonl", "hfdisk")  # the body is a path


@dataclass(frozen=True)
class Param:
    """One option a dataset source (or op, embedder, metric) accepts; the UI builds its widget from it."""

    name: str
    kind: type
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None

    def coerce(self, raw: Any, where: str) -> Any:
        """Convert a raw (string) value to this parameter's type and check its range or choices."""
        try:
            if isinstance(raw, self.kind) and not (self.kind is int and isinstance(raw, bool)):
                value = raw
            elif self.kind is bool:
                text = str(raw).strip().lower()
                if text not in {"1", "0", "true", "false", "yes", "no"}:
                    raise ValueError
                value = text in {"1", "true", "yes"}
            elif self.kind is int:
                value = int(str(raw).strip())
            elif self.kind is float:
                value = float(str(raw).strip())
            else:
                value = self.kind(raw)
        except (TypeError, ValueError):
            raise SpecError(f"{where}: option {self.name!r} must be {self.kind.__name__}, got {raw!r}") from None
        if self.choices is not None and value not in self.choices:
            options = ", ".join(str(c) for c in self.choices)
            raise SpecError(f"{where}: option {self.name!r} must be one of {options}; got {value!r}")
        if self.min is not None and value < self.min:
            raise SpecError(f"{where}: option {self.name!r} must be >= {self.min:g}, got {value!r}")
        if self.max is not None and value > self.max:
            raise SpecError(f"{where}: option {self.name!r} must be <= {self.max:g}, got {value!r}")
        return value

    def describe(self) -> str:
        """A short human description with the default and the allowed values."""
        allowed = ""
        if self.choices is not None:
            allowed = " one of " + "/".join(str(c) for c in self.choices)
        elif self.min is not None or self.max is not None:
            lo = "" if self.min is None else f"{self.min:g}"
            hi = "" if self.max is None else f"{self.max:g}"
            allowed = f" in [{lo}, {hi}]"
        default = "" if self.default is None else f" (default {self.default})"
        return f"{self.name}: {self.help}{allowed}{default}"


@dataclass(frozen=True)
class DatasetSpec:
    """A parsed spec: scheme, name (built-in or torchvision dataset) or path, and options."""

    scheme: str
    body: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Registry key of the source this spec names: ``builtin:NAME``, ``torchvision:NAME``, ``folder``..."""
        return f"{self.scheme}:{self.body}" if self.scheme in ("builtin", "torchvision") else self.scheme

    def with_options(self, **options: Any) -> DatasetSpec:
        """A copy with some options set (None removes an option)."""
        merged = {**self.options, **options}
        return DatasetSpec(self.scheme, self.body, {k: v for k, v in merged.items() if v is not None})

    def __str__(self) -> str:
        opts = "&".join(f"{k}={_fmt(v)}" for k, v in sorted(self.options.items()))
        return f"{self.scheme}:{_fmt_body(self.body)}" + (f"?{opts}" if opts else "")


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return quote(str(value), safe="/:.-_~")


def _fmt_body(body: str) -> str:
    """The body as written in a spec string so that it parses back unchanged: ``%`` and ``?`` escaped, and
    whitespace at either end (which parsing strips); anything else stays readable (``/data/my set``)."""
    text = body.replace("%", "%25").replace("?", "%3F")
    core = text.strip()
    if not core:
        return quote(text)
    lead, trail = len(text) - len(text.lstrip()), len(text) - len(text.rstrip())
    return quote(text[:lead]) + core + quote(text[len(text) - trail:])


def parse_spec(text: str | DatasetSpec) -> DatasetSpec:
    """Parse ``scheme:body?opt=value&...``; raise :class:`SpecError` naming what is wrong."""
    if isinstance(text, DatasetSpec):
        return text
    if not isinstance(text, str) or not text.strip():
        raise SpecError("empty dataset spec; expected e.g. 'builtin:printed-digits'")
    text = text.strip()
    scheme, sep, rest = text.partition(":")
    if not sep:
        raise SpecError(
            f"dataset spec {text!r} has no scheme; expected one of {', '.join(s + ':' for s in SCHEMES)} "
            "(e.g. 'builtin:printed-digits')"
        )
    scheme = scheme.strip().lower()
    if scheme not in SCHEMES:
        raise SpecError(f"unknown dataset scheme {scheme!r} in {text!r}; expected one of {', '.join(SCHEMES)}")
    body, _, query = rest.partition("?")
    body = unquote(body.strip())
    if not body:
        what = "path" if scheme in PATH_SCHEMES else "name"
        raise SpecError(f"dataset spec {text!r} is missing the {what} after '{scheme}:'")
    options: dict[str, Any] = {}
    if query:
        for part in query.split("&"):
            if not part:
                continue
            key, eq, value = part.partition("=")
            key = key.strip()
            if not eq or not key:
                raise SpecError(f"malformed option {part!r} in {text!r}; expected key=value")
            if key in options:
                raise SpecError(f"option {key!r} given twice in {text!r}")
            options[key] = unquote(value)
    return DatasetSpec(scheme, body, options)
