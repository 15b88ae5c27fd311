"""The Augmentation lab's strength grids (da_core.augment.lab)."""

from __future__ import annotations

from da_core.augment.lab import DEFAULT_GRID, MEASURE_GRIDS
from da_core.augment.preview import DEFAULT_STRENGTHS


def test_every_grid_runs_from_identity_to_full_strength_and_the_default_is_finer_below_half() -> None:
    for name, grid in MEASURE_GRIDS.items():
        assert list(grid) == sorted(set(grid)) and grid[0] == 0.0 and grid[-1] == 1.0, name
    assert MEASURE_GRIDS["5 points: 0, 0.25, …, 1"] == tuple(DEFAULT_STRENGTHS)
    assert len(MEASURE_GRIDS["11 points: 0, 0.1, …, 1"]) == 11
    default = MEASURE_GRIDS[DEFAULT_GRID]
    assert next(iter(MEASURE_GRIDS)) == DEFAULT_GRID and sum(s < 0.5 for s in default) > sum(s > 0.5 for s in default)
