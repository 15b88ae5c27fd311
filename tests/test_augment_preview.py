"""Contact sheets: layout, identity column, growth with strength, draws, MixUp λ, PNG."""

from __future__ import annotations

import io

import torch
from PIL import Image

from da_core.augment import OpConfig, Pipeline
from da_core.augment.preview import (
    DEFAULT_STRENGTHS,
    HIGHLIGHT,
    contact_sheet,
    mark_strength,
    mixed_columns,
    sheet_png,
    strengths_with,
    tile,
)


def _digits(n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.zeros(n, 1, 28, 28, dtype=torch.uint8)
    images[:, :, 6:22, 12:16] = 255
    return images, torch.arange(n) % 10


def test_sheet_rows_columns_and_identity_column() -> None:
    images, labels = _digits()
    sheet = contact_sheet(Pipeline([OpConfig("rotation")], seed=3), images, labels=labels)
    assert sheet.cells.shape == (8, 5, 1, 28, 28)
    assert sheet.columns == ["s = 0.00", "s = 0.25", "s = 0.50", "s = 0.75", "s = 1.00"]
    assert torch.equal(sheet.cells[:, 0], images)
    assert int(sheet.difference()[:, 0].max()) == 0


def test_same_draw_grows_with_strength() -> None:
    images, labels = _digits()
    sheet = contact_sheet(Pipeline([OpConfig("rotation")], seed=1), images, labels=labels)
    change = sheet.difference().float().mean(dim=(0, 2, 3, 4))
    assert change[0] == 0
    assert all(float(change[i]) <= float(change[i + 1]) + 1e-6 for i in range(4)), change


def test_draws_mode_shows_different_draws_at_the_current_strength() -> None:
    images, labels = _digits()
    pipe = Pipeline([OpConfig("rotation")], strength=0.8, seed=0)
    sheet = contact_sheet(pipe, images, mode="draws", n_draws=4, labels=labels)
    assert sheet.columns == ["draw 1", "draw 2", "draw 3", "draw 4"] and set(sheet.strengths) == {0.8}
    assert not torch.equal(sheet.cells[:, 0], sheet.cells[:, 1])
    again = contact_sheet(pipe, images, mode="draws", n_draws=4, labels=labels)
    assert torch.equal(sheet.cells, again.cells)


def test_mixup_sheet_reports_lambda_and_soft_labels() -> None:
    images, labels = _digits()
    images = images * (torch.arange(8).view(8, 1, 1, 1) + 1).to(torch.uint8) // 8
    sheet = contact_sheet(Pipeline([OpConfig("mixup")], seed=2), images, labels=labels, num_classes=10)
    assert sheet.lambdas[0] is None and all(0 <= lam <= 1 for lam in sheet.lambdas[1:])
    table = sheet.mix_table([str(i) for i in range(10)])
    assert len(table) == 8 * 4
    first = next(r for r in table if r["row"] == 1 and r["column"] == "s = 1.00")
    lam = sheet.lambdas[-1]
    assert first["soft label"].startswith(f"{lam:.2f}·1 + {1 - lam:.2f}·0 (row 0)")


def test_png_and_tile() -> None:
    images, labels = _digits(4)
    sheet = contact_sheet(Pipeline([OpConfig("rotation")]), images, labels=labels)
    target = torch.full((4, 1, 28, 28), 128, dtype=torch.uint8)
    png = Image.open(io.BytesIO(sheet_png(sheet, target=target, title="rotation")))
    assert png.size[0] > 6 * 28 * 3 and png.size[1] > 4 * 28 * 3
    grid = tile(sheet.cells, scale=2, pad=2)
    assert grid.shape == (4 * 58 + 2, 5 * 58 + 2, 3)
    assert (grid[2:58, 2:58, 0] == images[0, 0].repeat_interleave(2, 0).repeat_interleave(2, 1).numpy()).all()


def test_sheet_png_has_titles_target_column_and_a_frame_on_the_users_column() -> None:
    import io

    import numpy as np
    from PIL import Image

    images = torch.zeros(3, 1, 28, 28, dtype=torch.uint8)
    images[:, :, 8:20, 12:16] = 255
    sheet = contact_sheet(Pipeline([OpConfig("rotation")]), images, strengths=(0.0, 0.5, 1.0))
    plain = Image.open(io.BytesIO(sheet_png(sheet)))
    framed = np.asarray(Image.open(io.BytesIO(sheet_png(sheet, images, highlight=1))))
    cell = 28 * 3 + 2  # 28 px digits are shown ×3, nearest neighbour
    assert plain.size[0] == 3 * cell + 2 and framed.shape[1] == 4 * cell + 2 + 14 + 2
    header = framed.shape[0] - (3 * cell + 2)
    assert tuple(framed[header + 40, cell]) == HIGHLIGHT  # the left edge of column 1's frame
    assert (framed[header + 2:header + 86, -86:-2] == np.asarray(plain)[header + 2:header + 86, 2:86]).all()



def test_the_users_strength_joins_the_columns_and_is_marked() -> None:
    assert strengths_with(0.37) == [0.0, 0.25, 0.37, 0.5, 0.75, 1.0]
    assert strengths_with(0.5) == list(DEFAULT_STRENGTHS) and strengths_with(0.333, (0.0, 1.0)) == [0.0, 0.33, 1.0]
    images, labels = _digits(4)
    sheet = contact_sheet(Pipeline([OpConfig("rotation")]), images, strengths=strengths_with(0.37))
    assert mark_strength(sheet, 0.37) == 2 and sheet.columns[2] == "s = 0.37" and sheet.columns[1] == "s = 0.25"
    assert mark_strength(sheet, 0.9) == 5 and sheet.columns[5] == "s = 0.90"  # the nearest column takes the title
    assert mixed_columns(sheet) == []
    mixed = contact_sheet(Pipeline([OpConfig("mixup")], seed=2), images, labels=labels, num_classes=10)
    assert mixed_columns(mixed) == mixed.columns[1:]  # s = 0 mixes nothing
