"""Contact sheets: the same samples augmented at several strengths (or several draws), as arrays and PNG.

Each column is one call to the pipeline on all rows at once — torchvision v2 draws one set of random
parameters per call — so a slider change costs one batched call per column, not one per image.  In
``strengths`` mode every column uses the same seed, so a row shows the same random draw growing with s.
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from da_core.augment.pipeline import Pipeline

if TYPE_CHECKING:  # pragma: no cover
    import torch

DEFAULT_STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass
class Sheet:
    """Rows are samples, columns are strengths or draws.

    cells: uint8 R x K x C x H x W.  originals: uint8 R x C x H x W.  soft_labels: per column an R x classes
    tensor when MixUp/CutMix ran, else None.  lambdas: per column the mixing weight λ of each row's own
    image (None where no batch op ran).
    """

    cells: torch.Tensor
    originals: torch.Tensor
    columns: list[str]
    strengths: list[float]
    seeds: list[int]
    labels: list[int] | None = None
    soft_labels: list[torch.Tensor | None] = field(default_factory=list)
    lambdas: list[float | None] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        """Number of samples."""
        return int(self.cells.shape[0])

    def difference(self) -> torch.Tensor:
        """|augmented − original| per pixel, uint8 R x K x C x H x W (bright = changed)."""
        return (self.cells.int() - self.originals.unsqueeze(1).int()).abs().to(self.cells.dtype)

    def mix_table(self, classes: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """For MixUp/CutMix columns: per row its own class with weight λ and the partner row's class.

        torchvision mixes each image with the previous one in the batch (``roll(1)``).
        """
        rows = []
        labels = self.labels or [0] * self.rows
        name = (lambda c: classes[c]) if classes else str
        for j, soft in enumerate(self.soft_labels):
            if soft is None:
                continue
            for i in range(self.rows):
                partner = (i - 1) % self.rows
                own, other = labels[i], labels[partner]
                w_own = float(soft[i, own])
                text = (f"{w_own:.2f}·{name(own)}" if own == other else
                        f"{w_own:.2f}·{name(own)} + {float(soft[i, other]):.2f}·{name(other)} (row {partner})")
                rows.append({"row": i, "column": self.columns[j], "lambda": self.lambdas[j], "soft label": text})
        return rows


def contact_sheet(pipeline: Pipeline, images: torch.Tensor, strengths: Sequence[float] = DEFAULT_STRENGTHS,
                  seed: int | None = None, mode: str = "strengths", n_draws: int = 5,
                  labels: torch.Tensor | None = None, num_classes: int | None = None) -> Sheet:
    """Augment ``images`` (uint8 R x C x H x W) once per column; see the module docstring.

    mode ``strengths``: one column per strength, all with the same seed.  mode ``draws``: ``n_draws``
    columns at the pipeline's strength, each with its own seed.
    """
    import torch

    start = time.perf_counter()
    seed = pipeline.seed if seed is None else int(seed)
    if mode == "strengths":
        plan = [(float(s), seed, f"s = {float(s):.2f}") for s in strengths]
    elif mode == "draws":
        plan = [(pipeline.strength, seed + j, f"draw {j + 1}") for j in range(max(1, n_draws))]
    else:
        raise ValueError(f"mode must be 'strengths' or 'draws', got {mode!r}")
    if labels is None:
        labels = torch.zeros(len(images), dtype=torch.long)
    columns, softs, lambdas = [], [], []
    for s, col_seed, _ in plan:
        out = pipeline.apply(images, labels=labels, strength=s, generator=col_seed, num_classes=num_classes,
                             group_size=max(1, len(images)))
        columns.append(out.images)
        softs.append(out.soft_labels)
        lambdas.append(_mix_lambda(labels, out.soft_labels))
    cells = torch.stack(columns, dim=1)
    return Sheet(cells, images, [t for _, _, t in plan], [s for s, _, _ in plan], [c for _, c, _ in plan],
                 labels.tolist(), softs, lambdas, time.perf_counter() - start)


def _mix_lambda(labels: torch.Tensor, soft: torch.Tensor | None) -> float | None:
    """λ of MixUp/CutMix from the soft labels: the weight of a row's own class where its partner differs.

    torchvision pairs each image with the previous one in the batch (``roll(1)``).
    """
    if soft is None:
        return None
    partner = labels.roll(1, 0)
    differs = (labels != partner).nonzero().flatten()
    if len(differs) == 0:
        return 1.0
    i = int(differs[0])
    return round(float(soft[i, labels[i]]), 4)


# ------------------------------------------------------------------------------------ rendering


def _to_hwc(cell: torch.Tensor) -> np.ndarray:
    arr = cell.detach().cpu().numpy()
    if arr.shape[0] == 1:
        arr = np.repeat(arr, 3, axis=0)
    return arr.transpose(1, 2, 0)


def tile(images: torch.Tensor, scale: int = 1, pad: int = 2, background: int = 255) -> np.ndarray:
    """Tile a uint8 R x K x C x H x W block into one H x W x 3 array (nearest-neighbour upscaling)."""
    r, k, _, h, w = images.shape
    hs, ws = h * scale, w * scale
    out = np.full((r * (hs + pad) + pad, k * (ws + pad) + pad, 3), background, dtype=np.uint8)
    for i in range(r):
        for j in range(k):
            cell = _to_hwc(images[i, j])
            if scale > 1:
                cell = cell.repeat(scale, axis=0).repeat(scale, axis=1)
            y, x = pad + i * (hs + pad), pad + j * (ws + pad)
            out[y:y + hs, x:x + ws] = cell
    return out


def auto_scale(size: int, target: int = 96) -> int:
    """Integer upscaling that brings a cell near ``target`` pixels (28 px digits → ×3)."""
    return max(1, round(target / max(size, 1)))


HIGHLIGHT = (59, 111, 212)


def sheet_png(sheet: Sheet, target: torch.Tensor | None = None, diff: bool = False, scale: int | None = None,
              title: str = "", highlight: int | None = None, font_size: int = 14) -> bytes:
    """The sheet as a PNG: column titles in a readable font, the target samples in a column of their own
    (upscaled to the cell size), an optional title line, and column ``highlight`` framed in blue.

    Cells are upscaled with nearest neighbour (28 px digits → ×3) so pixels stay sharp.
    """
    from PIL import Image, ImageDraw, ImageFont

    block = sheet.difference() if diff else sheet.cells
    size = int(block.shape[-1])
    scale = scale or auto_scale(size, 84)
    pad, gap = 2, 14
    cell = size * scale
    parts = [tile(block, scale, pad)]
    titles = list(sheet.columns)
    if target is not None and len(target):
        tgt = target[: sheet.rows].unsqueeze(1)
        if tgt.shape[2] != block.shape[2]:  # grey vs colour: show both as RGB
            tgt = tgt.expand(-1, -1, 3, -1, -1) if tgt.shape[2] == 1 else tgt[:, :, :1]
        tgrid = tile(tgt, max(1, round(cell / max(int(tgt.shape[-1]), 1))), pad)
        tcol = np.full((parts[0].shape[0], tgrid.shape[1], 3), 255, np.uint8)
        tcol[:min(tgrid.shape[0], tcol.shape[0])] = tgrid[:tcol.shape[0]]
        parts += [np.full((parts[0].shape[0], gap, 3), 255, np.uint8), tcol]
        titles.append("target")
    body = np.concatenate(parts, axis=1)
    font = ImageFont.load_default(size=font_size)
    top = font_size + 10 if title else 0
    header = top + font_size + 10
    canvas = Image.new("RGB", (body.shape[1], body.shape[0] + header), "white")
    canvas.paste(Image.fromarray(body), (0, header))
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((4, 4), title, fill=(30, 30, 30), font=font)
    for j, name in enumerate(titles):
        x0 = pad + j * (cell + pad) + (gap + pad if j >= len(sheet.columns) else 0)
        width = draw.textlength(name, font=font)
        colour = HIGHLIGHT if j == highlight else (70, 70, 70)
        draw.text((x0 + max(0.0, (cell - width) / 2), top + 4), name, fill=colour, font=font)
    if highlight is not None and 0 <= highlight < len(sheet.columns):
        x0 = highlight * (cell + pad)
        draw.rectangle([x0, header, x0 + cell + 2 * pad - 1, canvas.height - 1], outline=HIGHLIGHT, width=2)
    buf = io.BytesIO()
    canvas.save(buf, format="PNG", compress_level=1)  # fast: this runs on every slider change
    return buf.getvalue()


def warm_up() -> Any:
    """Start a daemon thread that draws a tiny contact sheet, so the first real preview is fast.

    The first torchvision v2 call in a process costs seconds (imports, kernel registration); the app
    pays it in the background at start-up.  Errors are ignored: the preview will simply be slower.
    """
    import threading

    def body() -> None:
        try:
            import torch

            from da_core.augment.pipeline import default_pipeline

            contact_sheet(default_pipeline(), torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
        except Exception:  # noqa: BLE001 - a warm-up must never break the app
            pass

    thread = threading.Thread(target=body, name="augment-warm-up", daemon=True)
    thread.start()
    return thread


def strengths_with(strength: float, strengths: Sequence[float] = DEFAULT_STRENGTHS) -> list[float]:
    """The sheet's columns in ``strengths`` mode: ``strengths`` plus the user's own (to two decimals), sorted."""
    return sorted({*strengths, round(float(strength), 2)})


def mark_strength(sheet: Sheet, strength: float) -> int:
    """Title the column nearest ``strength`` with it (``s = 0.37``) and return its index, to frame it."""
    mine = min(range(len(sheet.strengths)), key=lambda j: abs(sheet.strengths[j] - strength))
    sheet.columns[mine] = f"s = {strength:.2f}"
    return mine


def mixed_columns(sheet: Sheet) -> list[str]:
    """Titles of the columns where MixUp/CutMix ran (those with soft labels)."""
    return [c for c, soft in zip(sheet.columns, sheet.soft_labels) if soft is not None]
