"""Registry of dataset sources.  Each entry declares its name, modality and parameters, so the UI and
the command line build their controls and help from the same metadata."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from da_core.data.dataset import Dataset, check_modality, check_usable
from da_core.data.spec import DatasetSpec, Param, parse_spec
from da_core.errors import SpecError

Progress = Callable[[float, str], None]
"""Progress callback: fraction done in [0, 1] and a short message."""

Loader = Callable[[DatasetSpec, Progress], Dataset]

# Options every source understands (a source may override a default, e.g. size).
N_PARAM = Param("n", int, None, "number of samples (a seeded, class-stratified subset; all when unset)", min=1)
SEED_PARAM = Param("seed", int, 0, "random seed: the same seed gives the same data", min=0)
SIZE_PARAM = Param("size", int, 28, "images are resized to size x size pixels", min=8, max=512)


@dataclass(frozen=True)
class Source:
    """A registry entry: where a dataset comes from and which options it takes."""

    key: str
    summary: str
    params: tuple[Param, ...]
    loader: Loader
    modality: str = "image"
    offline: bool = True

    def param(self, name: str) -> Param:
        """The declared parameter called ``name``."""
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def scheme(self) -> str:
        """The spec scheme (``builtin``, ``torchvision``, ``folder``, ``zip``)."""
        return self.key.partition(":")[0]

    @property
    def name(self) -> str:
        """Name after the scheme (empty for path-based sources)."""
        return self.key.partition(":")[2]


_SOURCES: dict[str, Source] = {}


def register(key: str, summary: str, params: tuple[Param, ...], *, modality: str = "image",
             offline: bool = True) -> Callable[[Loader], Loader]:
    """Decorator registering a loader under ``key`` (``builtin:NAME``, ``torchvision:NAME``, ``folder``)."""

    def deco(fn: Loader) -> Loader:
        _SOURCES[key] = Source(key, summary, params, fn, modality, offline)
        return fn

    return deco


def sources(scheme: str | None = None) -> list[Source]:
    """All registered sources, optionally only those of one scheme."""
    return [s for s in _SOURCES.values() if scheme is None or s.scheme == scheme]


def get_source(spec: DatasetSpec) -> Source:
    """The source a spec names; a :class:`SpecError` lists the valid names when it is unknown."""
    if spec.scheme in ("builtin", "torchvision"):
        by_lower = {s.name.lower(): s for s in sources(spec.scheme)}
        found = by_lower.get(spec.body.lower())
        if found is None:
            names = ", ".join(s.name for s in sources(spec.scheme))
            raise SpecError(f"unknown {spec.scheme} dataset {spec.body!r}; available: {names}")
        return found
    return _SOURCES[spec.scheme]


def resolve(spec: str | DatasetSpec) -> tuple[Source, DatasetSpec]:
    """Parse and validate a spec: canonical name, typed options with defaults filled in."""
    parsed = parse_spec(spec)
    source = get_source(parsed)
    where = str(spec)
    known = {p.name: p for p in source.params}
    unknown = sorted(set(parsed.options) - set(known))
    if unknown:
        raise SpecError(
            f"{where}: unknown option {unknown[0]!r} for {source.key}; valid options: {', '.join(known)}"
        )
    options: dict[str, Any] = {}
    for p in source.params:
        if p.name in parsed.options:
            options[p.name] = p.coerce(parsed.options[p.name], where)
        elif p.default is not None:
            options[p.name] = p.default
    body = source.name if source.name else parsed.body
    return source, DatasetSpec(parsed.scheme, body, options)


def modality_of(spec: str | DatasetSpec) -> str:
    """The modality a spec's source loads (image or text), known without loading anything."""
    return resolve(spec)[0].modality


def load_dataset(spec: str | DatasetSpec, progress: Progress | None = None) -> Dataset:
    """Load any dataset named by a spec string; the result is checked to be non-empty with >= 2 classes.

    Raises :class:`~da_core.errors.SpecError` for a bad spec and
    :class:`~da_core.errors.DatasetError` when the data cannot be loaded or used.
    """
    source, resolved = resolve(spec)
    report = progress or (lambda _f, _m: None)
    ds = source.loader(resolved, report)
    ds.domain = ds.domain or str(resolved)
    check_modality(ds, source.modality, f"source {source.key!r}")
    report(1.0, f"loaded {len(ds)} samples")
    return check_usable(ds, "dataset")
