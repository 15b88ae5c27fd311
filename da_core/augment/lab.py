"""The Augmentation lab's measuring choices, free of any UI toolkit (the editor's widget state is in
:mod:`da_core.augment.editor`, the contact sheet in :mod:`da_core.augment.preview`)."""

from __future__ import annotations

from da_core.augment.preview import DEFAULT_STRENGTHS

# The strength grids the over-augmentation measures and the self-test can sweep, by the name the lab shows.
# Ranges grow with s², so most of what matters happens below s = 0.5: the default grid is finer there.
MEASURE_GRIDS: dict[str, tuple[float, ...]] = {
    "8 points, fine below 0.5": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0),
    "5 points: 0, 0.25, …, 1": tuple(DEFAULT_STRENGTHS),
    "11 points: 0, 0.1, …, 1": tuple(i / 10 for i in range(11)),
}
DEFAULT_GRID = next(iter(MEASURE_GRIDS))
