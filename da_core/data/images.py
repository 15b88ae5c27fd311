"""Small image helpers shared by the loaders: resizing batches and building a Dataset from arrays."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from da_core.data.dataset import Dataset, LoadReport

if TYPE_CHECKING:  # pragma: no cover
    import torch


def resize_batch(images: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Resize a uint8 N x C x H x W batch to size x size (or (height, width)), antialiased bilinear; no-op
    when it fits."""
    import torch
    import torch.nn.functional as F

    h, w = (size, size) if isinstance(size, int) else size
    if tuple(images.shape[-2:]) == (h, w):
        return images
    out = torch.empty((images.shape[0], images.shape[1], h, w), dtype=torch.uint8)
    for start in range(0, len(images), 4096):  # chunks keep the float copy small
        chunk = images[start:start + 4096].float()
        resized = F.interpolate(chunk, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
        out[start:start + 4096] = resized.round_().clamp_(0, 255).to(torch.uint8)
    return out


def make_dataset(images: Any, labels: Any, classes: list[str], domain: str, meta: pd.DataFrame | None = None,
                 report: LoadReport | None = None) -> Dataset:
    """Build a :class:`Dataset` from numpy/torch arrays (images N x C x H x W or N x H x W, uint8)."""
    import torch

    imgs = torch.as_tensor(np.ascontiguousarray(images) if isinstance(images, np.ndarray) else images)
    if imgs.ndim == 3:
        imgs = imgs.unsqueeze(1)
    labs = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    if meta is None:
        meta = pd.DataFrame(index=range(len(labs)))
    return Dataset(imgs.to(torch.uint8).contiguous(), labs, list(classes), meta, domain, report or LoadReport())
