"""The arms a comparison study can run: registry entries, each a recipe of ingredients over one base config.

An arm says which ingredients it uses — the selected source (``select``), augmentation (``augment``),
adversarial adaptation (``dann``) — and :meth:`Arm.configure` turns the study's base config and its
:class:`Ingredients` (the source pool, the selected samples, the pipeline and strength) into the run's config.
Every arm of a study trains for the same number of steps on the same splits with the same seeds (the trainer
gives a subset the whole source split's budget), so arms compare seed by seed.  A new arm is one
:func:`register_arm` call; the Study page and ``compare --arms`` list it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from da_core.errors import SpecError
from da_core.train.config import TrainConfig

REFERENCE = "source-only"  # the arm every other is compared with, seed by seed
WHERE = {"both": "source+target", "source": "source", "target": "labelled target"}


@dataclass(frozen=True)
class Ingredients:
    """What a study's arms are made from, computed once per cell (see :mod:`da_core.study.runner`).

    ``pool``: positions in the whole source the cell trains from (None: all of it); ``selected``: the pool's
    samples the selector keeps, with ``selection`` describing how (method, fraction, parameters); the
    augmentation ``pipeline`` at ``strength``, applied to the samples ``augment_on`` names.
    """

    pool: list[int] | None = None
    selected: list[int] | None = None
    selection: dict[str, Any] | None = None
    pipeline: dict[str, Any] | None = None
    strength: float | None = None
    augment_on: str = "both"
    adv_strength: float = 0.25  # the adversarial arm's strength: ε = adv_strength x the modality's ε scale


@dataclass(frozen=True)
class Arm:
    """One arm: its id, label, one-line summary, ingredients, and whether a new study runs it by default."""

    name: str
    label: str
    summary: str
    select: bool = False
    augment: bool = False
    dann: bool = False
    adversarial: bool = False  # trains on adversarial examples at the study's adversarial strength
    default: bool = True

    def title(self, ingredients: Ingredients) -> str:
        """The label with what it used: ``augmented (s=0.20, source+target)``, ``selected (density-ratio top 50%)``."""
        parts = []
        if self.select and ingredients.selection:
            sel = ingredients.selection
            parts.append(f"{sel.get('method')} top {float(sel.get('fraction', 0)):.0%}")
        if self.augment and ingredients.strength is not None:
            parts.append(f"s={ingredients.strength:.2f}, {WHERE.get(ingredients.augment_on, ingredients.augment_on)}")
        if self.adversarial:
            parts.append(f"s={ingredients.adv_strength:.2f}")
        return f"{self.label} ({'; '.join(parts)})" if parts else self.label

    def configure(self, base: TrainConfig, ingredients: Ingredients) -> TrainConfig:
        """The run config of this arm: the base with its ingredients (and nothing of the others)."""
        changes: dict[str, Any] = {"dann": self.dann, "pipeline": None, "strength": None, "source_weights": None,
                                   "source_subset": ingredients.pool, "selection": None,
                                   "augment_on": ingredients.augment_on,
                                   "objective": "adversarial" if self.adversarial else "cross-entropy"}
        if self.select:
            if not ingredients.selected:
                raise SpecError(f"arm {self.name!r}: the selection kept no source sample")
            changes["source_subset"] = list(ingredients.selected)
            changes["selection"] = ingredients.selection
        if self.augment:
            if ingredients.pipeline is None:
                raise SpecError(f"arm {self.name!r}: no augmentation pipeline was given")
            changes["pipeline"] = ingredients.pipeline
            changes["strength"] = ingredients.strength
        if self.adversarial:
            changes["strength"] = ingredients.adv_strength
        if self.dann and base.mode == "linear":
            raise SpecError(f"arm {self.name!r}: DANN needs mode 'full' (a frozen backbone cannot adapt)")
        return base.replace(**changes)


ARMS: dict[str, Arm] = {}


def register_arm(arm: Arm) -> Arm:
    """Add an arm to the registry (its name must be new)."""
    if arm.name in ARMS:
        raise ValueError(f"arm {arm.name!r} is already registered")
    ARMS[arm.name] = arm
    return arm


def arms() -> Iterator[Arm]:
    """Every registered arm, in registration order."""
    return iter(ARMS.values())


def default_arms() -> list[str]:
    """The arms a new study runs unless told otherwise."""
    return [a.name for a in arms() if a.default]


def get_arm(name: str) -> Arm:
    """An arm by name; :class:`SpecError` listing the arms otherwise."""
    try:
        return ARMS[name]
    except KeyError:
        raise SpecError(f"unknown arm {name!r}; arms: {', '.join(ARMS)}") from None


register_arm(Arm(REFERENCE, "source only", "the base run: all of the source pool, no augmentation, no DANN"))
register_arm(Arm("selected", "selected source", "the source samples the selector keeps (equal steps)", select=True))
register_arm(Arm("augmented", "augmented", "the base run with the pipeline at the chosen strength", augment=True))
register_arm(Arm("selected+augmented", "selected + augmented", "the selected source, augmented", select=True,
                 augment=True))
register_arm(Arm("dann", "DANN", "adversarial adaptation with a gradient-reversal discriminator", dann=True))
register_arm(Arm("adversarial", "adversarial augmentation",
                 "half of each batch replaced by FGSM examples of the current model (ε = strength x the modality's "
                 "scale)", adversarial=True, default=False))
register_arm(Arm("dann+augmented", "DANN + augmented", "DANN with the pipeline at the chosen strength", augment=True,
                 dann=True, default=False))
