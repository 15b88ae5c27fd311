"""Embedder registry.  Each entry declares its id, modality, input size and where its weights come from;
the page lists them (with the reason when one is unavailable) from this metadata."""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from da_core.data.spec import Param
from da_core.errors import DAError

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn


class EmbedderUnavailable(DAError):
    """The embedder's weights or packages are not on this machine (the message says what and where)."""


def downloads_allowed() -> bool:
    """Whether the user opted in to fetching weights from the network (``DA_ALLOW_DOWNLOAD=1``)."""
    return os.environ.get("DA_ALLOW_DOWNLOAD", "").strip().lower() in {"1", "true", "yes"}


@dataclass(frozen=True)
class EmbedderInfo:
    """Registry metadata of an embedder."""

    id: str
    label: str
    modality: str
    input_size: int | None
    weights: str
    params: tuple[Param, ...] = ()


class Embedder(ABC):
    """Maps a batch of uint8 images to feature vectors.  Subclasses declare :attr:`info`."""

    info: EmbedderInfo
    joint_pca: int | None = None  # when set, embed_pair reduces both domains with one PCA fitted on both
    mixed_precision: bool = True  # autocast to bf16/fp16 on accelerators

    def unavailable(self) -> str | None:
        """None when usable; otherwise what is missing and how to provide it."""
        return None

    def cache_key(self) -> str:
        """Identity of the embedding function (id, parameters, weights) for the disk cache."""
        return self.info.id

    @abstractmethod
    def load(self, device: torch.device, progress: Any = None) -> nn.Module:
        """The feature extractor on ``device``, in eval mode."""

    @abstractmethod
    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 N x C x H x W (already on the device) -> the model's float input."""

    def batch_size(self, device: torch.device) -> int:
        """A batch size that fits comfortably."""
        small = (self.info.input_size or 28) <= 64
        if device.type == "cuda":
            return 4096 if small else 256
        return 1024 if small else 32


# --------------------------------------------------------------------------------------- digits-cnn


def _features(model: nn.Module) -> nn.Module:
    """Wrap a model that has ``embed()`` so calling the wrapper returns its penultimate features."""
    from torch import nn

    class Features(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner.embed(x)

    return Features(model)


class DigitsCNNEmbedder(Embedder):
    """Our small CNN pretrained on printed digits (trained on first use, cached on disk)."""

    info = EmbedderInfo("digits-cnn", "Digits CNN (pretrained here on printed digits)", "image", 28,
                        "trained by this app on builtin:printed-digits on first use; cached under DA_CACHE_DIR")

    def __init__(self) -> None:
        self.pretrained: Any = None

    def _model(self, progress: Any = None) -> nn.Module:
        from da_core.models import load_digits_cnn

        model, self.pretrained = load_digits_cnn(progress=progress)
        return model

    def cache_key(self) -> str:
        self._model()
        return f"digits-cnn:{self.pretrained.sha}"

    def load(self, device: torch.device, progress: Any = None) -> nn.Module:
        import copy

        return _features(copy.deepcopy(self._model(progress))).to(device).eval()

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        from da_core.models import digits_input

        return digits_input(images)


# ------------------------------------------------------------------------------------------- pixels


class PixelsEmbedder(Embedder):
    """Raw pixels in [0, 1], optionally reduced by one PCA fitted on both domains (a sanity baseline)."""

    info = EmbedderInfo("pixels", "Raw pixels (PCA to 50 by default)", "image", None, "none",
                        (Param("pca", int, 50, "PCA dimensions fitted on both domains (0 = raw pixels)",
                               min=0, max=512),))

    def __init__(self, pca: int = 50) -> None:
        self.joint_pca = pca or None

    def cache_key(self) -> str:
        return "pixels"  # the joint PCA is applied after the cache, per pair

    def load(self, device: torch.device, progress: Any = None) -> nn.Module:
        from torch import nn

        return nn.Flatten().to(device)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        return images.float().div_(255.0)


# -------------------------------------------------------------------------------------- torchvision

TORCHVISION_ARCHS = ("resnet18", "resnet50", "efficientnet_b0", "convnext_tiny", "mobilenet_v3_small", "vit_b_16")


def _strip_head(model: nn.Module) -> nn.Module:
    from torch import nn

    for attr in ("fc", "heads"):
        if hasattr(model, attr):
            setattr(model, attr, nn.Identity())
            return model
    if hasattr(model, "classifier"):
        classifier = model.classifier
        if isinstance(classifier, nn.Sequential):
            # keep norm/flatten layers (convnext), drop the final linear layer
            layers = [m for m in classifier if not isinstance(m, (nn.Linear, nn.Dropout))]
            model.classifier = nn.Sequential(*layers) if layers else nn.Identity()
        else:
            model.classifier = nn.Identity()
    return model


class TorchvisionEmbedder(Embedder):
    """A torchvision ImageNet classifier without its head; weights from the torch hub cache only."""

    def __init__(self, arch: str) -> None:
        self.arch = arch
        self.info = EmbedderInfo(f"torchvision:{arch}", f"torchvision {arch} (ImageNet weights)", "image", 224,
                                 f"torch hub cache: {self.weights_path()}")

    def _weights(self) -> Any:
        from torchvision.models import get_model_weights

        return get_model_weights(self.arch).DEFAULT

    def weights_path(self) -> Path:
        """Where torchvision keeps (or would download) this architecture's default weights."""
        import torch

        url = self._weights().url
        return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]

    def unavailable(self) -> str | None:
        path = self.weights_path()
        if path.exists() or downloads_allowed():
            return None
        return (f"weights file {path.name} is not in {path.parent}; copy it there (or set TORCH_HOME to a folder "
                f"holding hub/checkpoints/{path.name}), or set DA_ALLOW_DOWNLOAD=1 to let torchvision download it")

    def cache_key(self) -> str:
        path = self.weights_path()
        stamp = f"{path.stat().st_size}:{int(path.stat().st_mtime)}" if path.exists() else "download"
        return f"torchvision:{self.arch}:{path.name}:{stamp}"

    def load(self, device: torch.device, progress: Any = None) -> nn.Module:
        import torch
        from torchvision.models import get_model

        reason = self.unavailable()
        if reason:
            raise EmbedderUnavailable(f"{self.info.id}: {reason}")
        path = self.weights_path()
        if not path.exists():  # opted in: let torch fetch it into the hub cache
            try:
                torch.hub.load_state_dict_from_url(self._weights().url, progress=False, weights_only=True)
            except Exception as exc:  # network failure
                raise EmbedderUnavailable(f"{self.info.id}: download failed ({exc}); copy {path.name} to "
                                          f"{path.parent} instead") from None
        model = get_model(self.arch, weights=None)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        except Exception as exc:  # refused by weights_only (pickled objects), damaged, or another model's weights
            raise EmbedderUnavailable(f"{self.info.id}: cannot load {path} ({_first_line(exc)}); replace it with "
                                      "torchvision's weights file") from None
        return _strip_head(model).to(device).eval()

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        t = self._weights().transforms()
        size = int(t.crop_size[0])
        x = images.float().div_(255.0)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        mean = x.new_tensor(t.mean).view(1, 3, 1, 1)
        std = x.new_tensor(t.std).view(1, 3, 1, 1)
        return (x - mean) / std


# ------------------------------------------------------------------------------------- transformers


class HFEmbedder(Embedder):
    """Any transformers vision model (ViT, DINOv2, CLIP vision tower) from local files only.

    Never ``trust_remote_code``; the hub is used only when the user opts in with ``DA_ALLOW_DOWNLOAD=1``.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.info = EmbedderInfo(f"hf:{name}", f"transformers {name}", "image", None,
                                 "a local folder or the Hugging Face cache (no download unless DA_ALLOW_DOWNLOAD=1)")
        self._processor: Any = None

    def _local(self) -> bool:
        return not downloads_allowed()

    def unavailable(self) -> str | None:
        path = Path(self.name).expanduser()
        if path.is_dir():
            return None if (path / "config.json").exists() else f"{path} has no config.json"
        try:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(self.name, "config.json")
        except Exception:  # not a valid repo id
            found = None
        if isinstance(found, str) or downloads_allowed():
            return None
        return (f"{self.name!r} is neither a model folder nor in the Hugging Face cache; save the model with "
                "save_pretrained() into a folder and give its path, or set DA_ALLOW_DOWNLOAD=1")

    def cache_key(self) -> str:
        path = Path(self.name).expanduser()
        if path.is_dir():
            h = hashlib.blake2b(digest_size=8)
            for f in sorted(path.iterdir()):
                if f.is_file():
                    h.update(f"{f.name}:{f.stat().st_size}:{int(f.stat().st_mtime)}".encode())
            return f"hf:{path.resolve()}:{h.hexdigest()}"
        return f"hf:{self.name}"

    def load(self, device: torch.device, progress: Any = None) -> nn.Module:
        from torch import nn
        from transformers import AutoImageProcessor, AutoModel

        reason = self.unavailable()
        if reason:
            raise EmbedderUnavailable(f"{self.info.id}: {reason}")
        source = str(Path(self.name).expanduser()) if Path(self.name).expanduser().is_dir() else self.name
        try:
            self._processor = AutoImageProcessor.from_pretrained(source, local_files_only=self._local(),
                                                                 trust_remote_code=False)
            model = AutoModel.from_pretrained(source, local_files_only=self._local(), trust_remote_code=False)
        except Exception as exc:  # OSError, ValueError (remote code refused), UnpicklingError (weights_only), ...
            raise EmbedderUnavailable(f"{self.info.id}: cannot load ({_first_line(exc)})") from None

        class Pooled(nn.Module):
            def __init__(self, inner: nn.Module) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                if hasattr(self.inner, "get_image_features"):
                    out = self.inner.get_image_features(pixel_values=x)
                    return out if not hasattr(out, "pooler_output") else out.pooler_output
                out = self.inner(pixel_values=x)
                pooled = getattr(out, "pooler_output", None)
                return pooled if pooled is not None else out.last_hidden_state.mean(dim=1)

        return Pooled(model).to(device).eval()

    def _size(self) -> tuple[int, int]:
        size = getattr(self._processor, "crop_size", None) or getattr(self._processor, "size", None) or {}
        if not isinstance(size, dict):
            size = dict(size)
        if "height" in size and "width" in size:
            return int(size["height"]), int(size["width"])
        edge = int(size.get("shortest_edge", 224))
        return edge, edge

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        h, w = self._size()
        x = images.float().div_(255.0)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-2:] != (h, w):
            x = F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
        mean = getattr(self._processor, "image_mean", None) or [0.5, 0.5, 0.5]
        std = getattr(self._processor, "image_std", None) or [0.5, 0.5, 0.5]
        return (x - x.new_tensor(mean).view(1, 3, 1, 1)) / x.new_tensor(std).view(1, 3, 1, 1)

    def batch_size(self, device: torch.device) -> int:
        return 256 if device.type == "cuda" else 32


def _first_line(exc: BaseException) -> str:
    """Why a weights file was not loaded, in one line (torch's unpickling errors run to many lines)."""
    import pickle

    if isinstance(exc, pickle.UnpicklingError):
        return "refused: it holds pickled Python objects, and only tensors are ever loaded (weights_only=True)"
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:300]}" if lines else type(exc).__name__


# ----------------------------------------------------------------------------------------- registry


def get_embedder(embedder_id: str) -> Embedder:
    """An embedder by id: ``digits-cnn``, ``pixels`` (``pixels?pca=0`` for raw), ``torchvision:ARCH``, ``hf:PATH``."""
    base, _, query = embedder_id.partition("?")
    opts = dict(part.split("=", 1) for part in query.split("&") if "=" in part)
    if base == "digits-cnn":
        return DigitsCNNEmbedder()
    if base == "pixels":
        pca = PixelsEmbedder.info.params[0].coerce(opts.get("pca", 50), embedder_id)
        return PixelsEmbedder(pca)
    if base.startswith("torchvision:"):
        arch = base.split(":", 1)[1]
        from torchvision.models import list_models

        if arch not in list_models(module=__import__("torchvision.models", fromlist=["models"])):
            raise EmbedderUnavailable(f"unknown torchvision architecture {arch!r}; e.g. {', '.join(TORCHVISION_ARCHS)}")
        return TorchvisionEmbedder(arch)
    if base.startswith("hf:") and len(base) > 3:
        return HFEmbedder(base[3:])
    raise EmbedderUnavailable(
        f"unknown embedder {embedder_id!r}; use digits-cnn, pixels, torchvision:ARCH (e.g. resnet18) or hf:PATH"
    )


def list_embedders() -> list[tuple[EmbedderInfo, str | None]]:
    """The built-in entries and the torchvision ones, each with None or the reason it is unavailable."""
    out: list[tuple[EmbedderInfo, str | None]] = []
    for emb in [DigitsCNNEmbedder(), PixelsEmbedder(), *(TorchvisionEmbedder(a) for a in TORCHVISION_ARCHS)]:
        out.append((emb.info, emb.unavailable()))
    return out
