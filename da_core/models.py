"""Small models our code trains itself, so the app needs no downloaded weights.

``DigitsCNN`` is the default image backbone: pretrained on ``builtin:printed-digits`` in a few seconds on
a CPU, cached on disk, and the starting point for embeddings, augmentation measures and fine-tuning.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from da_core import config

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

    from da_core.data import Dataset

DIGITS_CNN_VERSION = "1"
PRETRAIN_SPEC = "builtin:printed-digits?n=4000&seed=1000&size=28"
INPUT_SIZE = 28
MEAN, STD = 0.15, 0.30


def build_digits_cnn(n_classes: int = 10, embed_dim: int = 128) -> nn.Module:
    """A compact CNN for 28x28 grey digits: three conv blocks (32-64-128), global pooling, a 128-d embedding, a head."""
    from torch import nn

    class DigitsCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()

            def block(cin: int, cout: int) -> nn.Sequential:
                return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                                     nn.ReLU(inplace=True))

            self.features = nn.Sequential(
                block(1, 32), nn.MaxPool2d(2),
                block(32, 64), nn.MaxPool2d(2),
                block(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                nn.Linear(128, embed_dim), nn.ReLU(inplace=True),
            )
            self.head = nn.Linear(embed_dim, n_classes)
            self.embed_dim = embed_dim

        def embed(self, x: torch.Tensor) -> torch.Tensor:
            """Penultimate-layer features."""
            return self.features(x)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.features(x))

    return DigitsCNN()


def digits_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 N x C x H x W -> normalised float N x 1 x 28 x 28 (grey, resized) for :func:`build_digits_cnn`."""
    import torch.nn.functional as F

    x = images.float().div_(255.0)
    if x.shape[1] == 3:
        x = (x * x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=True, align_corners=False)
    return (x - MEAN) / STD


@dataclass
class PretrainedInfo:
    """What the cached backbone was trained on and how well it does on held-out source data."""

    path: str
    source_spec: str
    source_accuracy: float
    epochs: int
    seconds: float
    sha: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return dict(self.__dict__)


def _checkpoint_path() -> Path | None:
    """The cached checkpoint's path; None when the cache folder cannot be used (the model stays in memory)."""
    folder = config.cache_subdir("models")
    return None if folder is None else folder / f"digits-cnn-v{DIGITS_CNN_VERSION}.pt"


def _mtime(path: Path | None) -> float:
    try:
        return path.stat().st_mtime if path is not None else 0.0
    except OSError:
        return 0.0


def pretrain_digits_cnn(epochs: int = 3, seed: int = 0, progress: Any = None) -> tuple[nn.Module, PretrainedInfo]:
    """Train :func:`build_digits_cnn` on printed digits (deterministic for a seed); returns model and info."""
    import torch
    from torch import nn

    from da_core.data import load_dataset

    start = time.perf_counter()
    torch.manual_seed(seed)
    data = load_dataset(PRETRAIN_SPEC)
    train, held = data.split(0.2, seed=seed)
    x, y = digits_input(train.images), train.labels
    model = build_digits_cnn(len(data.classes))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = epochs * ((len(x) + 127) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    step = 0
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 128):
            idx = order[i:i + 128]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if progress is not None:
                progress(step / steps, f"pretraining digits-cnn: epoch {epoch + 1}/{epochs}")
    model.eval()
    with torch.no_grad():
        acc = float((model(digits_input(held.images)).argmax(1) == held.labels).float().mean())
    info = PretrainedInfo("", PRETRAIN_SPEC, round(acc, 4), epochs, round(time.perf_counter() - start, 2), "")
    return model, info


_LOADED: dict[tuple[str, float], tuple[Any, PretrainedInfo]] = {}


def load_digits_cnn(progress: Any = None) -> tuple[nn.Module, PretrainedInfo]:
    """The cached pretrained backbone, trained and saved on first use (loaded with ``weights_only=True``).

    Kept in memory per checkpoint file, so repeated calls cost nothing; callers must not modify the model
    (fine-tuning copies it first).
    """
    path = _checkpoint_path()
    key = (str(path), _mtime(path))
    if key not in _LOADED:
        _LOADED.clear()
        model, info = _load_or_train(path, progress)
        key = (str(path), _mtime(path))  # 0.0 when it could not be saved: kept in memory for this process
        _LOADED[key] = (model, info)
    return _LOADED[key]


def _load_or_train(path: Path | None, progress: Any) -> tuple[nn.Module, PretrainedInfo]:
    import torch

    model = build_digits_cnn()
    if path is not None and path.exists():
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(blob["state_dict"])
            info = PretrainedInfo(**json.loads(blob["info"]))
            model.eval()
            return model, info
        except Exception:  # damaged or stale checkpoint: retrain
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
    model, info = pretrain_digits_cnn(progress=progress)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    digest = hashlib.blake2b(digest_size=8)
    for k in sorted(state):
        digest.update(k.encode())
        digest.update(state[k].numpy().tobytes())
    info.sha, info.path = digest.hexdigest(), str(path) if path is not None else ""
    if path is not None:  # whole or not at all; when it cannot be saved (warned) it is retrained next process
        blob = {"state_dict": state, "info": json.dumps(info.to_dict())}
        config.write_cache_file(path, lambda tmp: torch.save(blob, tmp))
    return model, info


def source_accuracy(model: nn.Module, ds: Dataset, batch_size: int = 512) -> float:
    """Accuracy of a digits classifier on a dataset (CPU)."""
    import torch

    correct = 0
    with torch.no_grad():
        for i in range(0, len(ds), batch_size):
            pred = model(digits_input(ds.images[i:i + batch_size])).argmax(1)
            correct += int((pred == ds.labels[i:i + batch_size]).sum())
    return correct / max(len(ds), 1)
