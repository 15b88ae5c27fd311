"""What a comparison study runs: a base config, arms, seeds, the selection and augmentation its arms use, and
optionally a grid of cells (labelled target samples per class × share of the source pool).

A :class:`StudySpec` round-trips through JSON (it is stored with the study), and :meth:`StudySpec.validate`
names the bad field.  Without a grid a study is one cell: the base config's ``target_labels_per_class`` and
the whole source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from da_core.errors import SpecError
from da_core.study.arms import REFERENCE, default_arms, get_arm
from da_core.train.config import AUGMENT_ON, TrainConfig, check_seeds

DEFAULT_METHOD = "density-ratio"
DEFAULT_FRACTION = 0.5
DEFAULT_KS = (0, 5, 20)
DEFAULT_SHARES = (1.0, 0.2)
MAX_RUNS = 2000  # a study past this would not finish on one laptop; refuse it before it starts


@dataclass(frozen=True)
class Cell:
    """One cell of a study's grid: ``k`` labelled target samples per class, ``share`` of the source pool."""

    k: int
    share: float

    @property
    def key(self) -> str:
        """``k=5 share=0.2``: the cell's name in stored runs and results."""
        return f"k={self.k} share={self.share:g}"


@dataclass
class StudySpec:
    """Arms × seeds (× cells) at equal budget; see the module docstring.

    ``method``/``fraction``/``params``/``embedder``: the selection the selecting arms train on (``embedder``
    None: the base's backbone).  ``pipeline`` (None: the lab's default pipeline) at ``strength`` (None: the
    lab's measured sweet spot, found when the study starts) on the samples ``augment_on`` names; the adversarial
    arm trains at ``adv_strength`` (ε = adv_strength x the modality's scale).  ``ks`` and
    ``shares`` make the grid (None: one cell).
    """

    base: TrainConfig = field(default_factory=TrainConfig)
    arms: list[str] = field(default_factory=default_arms)
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    method: str = DEFAULT_METHOD
    fraction: float = DEFAULT_FRACTION
    params: dict[str, Any] = field(default_factory=dict)
    embedder: str | None = None
    pipeline: dict[str, Any] | None = None
    strength: float | None = None
    augment_on: str = "both"
    adv_strength: float = 0.25
    ks: list[int] | None = None
    shares: list[float] | None = None
    name: str = ""

    # ------------------------------------------------------------------------------- checks

    def validate(self) -> StudySpec:
        """Check every field (:class:`SpecError` names the bad one); the reference arm always runs, first."""
        if not isinstance(self.base, TrainConfig):
            raise SpecError("base: expected a training config")
        self.base = self.base.replace(pipeline=None, strength=None, dann=False, objective="cross-entropy",
                                      source_subset=None, source_weights=None, selection=None)
        if not isinstance(self.arms, list | tuple) or not self.arms:
            raise SpecError("arms: expected a non-empty list of arm names")
        for name in self.arms:
            get_arm(name)
        self.arms = [REFERENCE, *[a for a in dict.fromkeys(self.arms) if a != REFERENCE]]
        self.seeds = check_seeds(self.seeds)
        if not isinstance(self.method, str) or not self.method:
            raise SpecError("method: expected a selector name")
        if any(get_arm(a).select for a in self.arms):
            from da_core.select import get_selector

            get_selector(self.method).resolve(self.params)
        if isinstance(self.fraction, bool) or not isinstance(self.fraction, int | float) or \
                not 0.0 < float(self.fraction) <= 1.0:
            raise SpecError(f"fraction: expected a number in (0, 1], got {self.fraction!r}")
        self.fraction = float(self.fraction)
        if not isinstance(self.params, dict):
            raise SpecError("params: expected an object of selector parameters")
        if self.embedder is not None and (not isinstance(self.embedder, str) or not self.embedder):
            raise SpecError("embedder: expected an embedder id or null")
        if self.pipeline is not None:
            self.base.replace(pipeline=self.pipeline)  # the config's own check names pipeline.<field>
        if self.strength is not None and (isinstance(self.strength, bool) or not isinstance(self.strength, int | float)
                                          or not 0.0 <= float(self.strength) <= 1.0):
            raise SpecError(f"strength: expected a number in [0, 1] or null, got {self.strength!r}")
        if self.strength is not None:
            self.strength = float(self.strength)
        if isinstance(self.adv_strength, bool) or not isinstance(self.adv_strength, int | float) or \
                not 0.0 < float(self.adv_strength) <= 1.0:
            raise SpecError(f"adv_strength: expected a number in (0, 1], got {self.adv_strength!r}")
        self.adv_strength = float(self.adv_strength)
        if self.augment_on not in AUGMENT_ON:
            raise SpecError(f"augment_on: expected one of {', '.join(AUGMENT_ON)}, got {self.augment_on!r}")
        self._check_grid()
        if len(self.cells()) * len(self.arms) * len(self.seeds) > MAX_RUNS:
            raise SpecError(f"the study would make {len(self.cells()) * len(self.arms) * len(self.seeds)} runs; at "
                            f"most {MAX_RUNS}: fewer seeds, arms or cells")
        if not isinstance(self.name, str):
            raise SpecError("name: expected a string")
        return self

    def _check_grid(self) -> None:
        if (self.ks is None) != (self.shares is None):
            raise SpecError("grid: give both ks (labelled target per class) and shares (of the source), or neither")
        if self.ks is None or self.shares is None:
            return
        if not isinstance(self.ks, list | tuple) or not self.ks:
            raise SpecError("ks: expected a non-empty list of labelled target samples per class")
        for i, k in enumerate(self.ks):
            if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= 1_000_000:
                raise SpecError(f"ks[{i}]: expected a whole number >= 0, got {k!r}")
        if not isinstance(self.shares, list | tuple) or not self.shares:
            raise SpecError("shares: expected a non-empty list of source shares in (0, 1]")
        for i, s in enumerate(self.shares):
            if isinstance(s, bool) or not isinstance(s, int | float) or not math.isfinite(s) or not 0 < s <= 1:
                raise SpecError(f"shares[{i}]: expected a share of the source in (0, 1], got {s!r}")
        self.ks = sorted(set(self.ks))
        self.shares = sorted({round(float(s), 6) for s in self.shares}, reverse=True)

    # ------------------------------------------------------------------------------- shape

    @property
    def is_grid(self) -> bool:
        """Whether the study has a grid of cells (the map)."""
        return self.ks is not None

    def cells(self) -> list[Cell]:
        """The cells, the whole source first and then smaller pools, fewer labelled target samples first."""
        if self.ks is None or self.shares is None:
            return [Cell(self.base.target_labels_per_class, 1.0)]
        return [Cell(k, s) for s in self.shares for k in self.ks]

    def main_cell(self) -> Cell:
        """The cell the study's headline (arms table and recommendation) is about: the base's k on the whole
        source when the grid has it, else the first."""
        cells = self.cells()
        wanted = Cell(self.base.target_labels_per_class, 1.0)
        return wanted if wanted in cells else cells[0]

    def run_count(self) -> int:
        """Runs the study makes (every cell × arm × seed)."""
        return len(self.cells()) * len(self.arms) * len(self.seeds)

    # -------------------------------------------------------------------------------- JSON

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (round-trips through :meth:`from_dict`)."""
        return {"base": self.base.to_dict(), "arms": list(self.arms), "seeds": list(self.seeds),
                "method": self.method, "fraction": self.fraction, "params": dict(self.params),
                "embedder": self.embedder, "pipeline": self.pipeline, "strength": self.strength,
                "augment_on": self.augment_on, "adv_strength": self.adv_strength, "ks": self.ks,
                "shares": self.shares, "name": self.name}

    @classmethod
    def from_dict(cls, data: Any) -> StudySpec:
        """Build and validate (missing fields take their defaults)."""
        if not isinstance(data, dict):
            raise SpecError("study: expected a JSON object")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(f"study: unknown field {unknown[0]!r}; fields: {', '.join(sorted(known))}")
        values = dict(data)
        values["base"] = TrainConfig.from_dict(values.get("base") or {})
        return cls(**values).validate()
