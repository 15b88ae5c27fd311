"""Small image helpers shared by the loaders: resizing batches and building a Dataset from arrays."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from da_core.data.dataset import Dataset, LoadReport

if TYPE_CHECKING:  # pragma: no cover
    import torch


def resize_batch(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize a uint8 N x C x H x W batch to size x size (antialiased bilinear); no-op when it fits."""
    import torch
    import torch.nn.functional as F

    if images.shape[-2:] == (size, size):
        return images
    out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8)
    for start in range(0, len(images), 4096):  # chunks keep the float copy small
        chunk = images[start:start + 4096].float()
        resized = F.interpolate(chunk, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
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
