"""Embedder registry.  Each embedder declares its id, modality, output dimension, the devices it runs on, its
input size and where its weights come from; the pages list them (with the reason when one is unavailable,
only those fitting the loaded modality) from this metadata.

Every embedder meets one contract, :meth:`Embedder.embed_batch` (a batch of the dataset's content, as given by
:meth:`Embedder.collate`, to float features on a device), which a sentence encoder can satisfy as well as an
image CNN.  An embedder that can be fine-tuned gives the trainer its :meth:`Embedder.backbone`; its own special
cases (a source-trained head, no trainable layers) live in its class, not in the trainer.

The registry maps an id prefix to a factory (:func:`register_embedder`): ``digits-cnn``, ``pixels``,
``torchvision:ARCH``, ``hf:PATH``.  Adding an embedder is one class and one registration.
"""

from __future__ import annotations

import copy
import hashlib
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from da_core.data.spec import Param
from da_core.errors import DAError, SpecError

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn


class EmbedderUnavailable(DAError):
    """The embedder's weights or packages are not on this machine (the message says what and where)."""


def downloads_allowed() -> bool:
    """Whether the user opted in to fetching weights from the network (``DA_ALLOW_DOWNLOAD=1``)."""
    return os.environ.get("DA_ALLOW_DOWNLOAD", "").strip().lower() in {"1", "true", "yes"}


def in_hf_cache(repo_id: str) -> bool:
    """Whether a Hugging Face model id already has its ``config.json`` in the local cache (nothing is fetched)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # not a valid repo id
        found = None
    return isinstance(found, str)


ALL_DEVICES = ("cuda", "mps", "cpu")


@dataclass(frozen=True)
class EmbedderInfo:
    """Registry metadata of an embedder.

    ``dim``: the length of its vectors (None when it depends on the data, as for raw pixels, or on weights
    not yet read).  ``devices``: the device types it runs on (others fall back to the CPU).  ``trainable``:
    whether the trainer can fine-tune it as a backbone.
    """

    id: str
    label: str
    modality: str
    input_size: int | None
    weights: str
    params: tuple[Param, ...] = ()
    dim: int | None = None
    devices: tuple[str, ...] = ALL_DEVICES
    trainable: bool = True


@dataclass
class Backbone:
    """A fresh, trainable copy of an embedder's network for the trainer: the module, its preprocessing, the
    feature dimension, and a source-trained head when the embedder brings one for these classes."""

    module: nn.Module
    preprocess: Callable[[Any], torch.Tensor]
    dim: int
    head: nn.Linear | None
    description: str
    # text backbones: texts -> padded token ids (the trainer's pools hold these; ``preprocess`` trims a batch to
    # its longest text), the evaluation batch size, how many source samples the baseline probe is fitted on,
    # and the modules LoRA adapts by default
    encode: Callable[[Sequence[str]], torch.Tensor] | None = None
    eval_batch: int = 1024
    probe_samples: int | None = None
    pad_id: int = 0  # text: the padding token's id (adversarial perturbations leave padding alone)
    lora_targets: tuple[str, ...] = ()
    order: Callable[[torch.Tensor], torch.Tensor] | None = None  # the order to run many inputs in (text: longest
    # first, so each evaluation batch pads little)


_MODELS: dict[tuple[str, str], Any] = {}
_MODELS_LOCK = threading.Lock()


class Embedder(ABC):
    """Maps a batch of one modality's samples to feature vectors.  Subclasses declare :attr:`info`."""

    info: EmbedderInfo
    joint_pca: int | None = None  # when set, embed_pair reduces both domains with one PCA fitted on both
    mixed_precision: bool = True  # autocast to bf16/fp16 on accelerators
    fits_on_data: bool = False  # learns from the data (tfidf's vocabulary): embed_pair fits it on both domains

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` has been given its data (always, for an embedder that learns nothing)."""
        return True

    def fit(self, datasets: Sequence[Any]) -> None:
        """Learn what the embedding needs from ``datasets`` (only for ``fits_on_data`` embedders; others need
        nothing)."""
        return None

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
    def preprocess(self, batch: Any) -> torch.Tensor:
        """A collated batch (for images: uint8 N x C x H x W, already on the device) -> the model's input."""

    def collate(self, items: Any, device: torch.device) -> Any:
        """A slice of the dataset's content (a uint8 image tensor, or a list of texts) as one batch on
        ``device``: images travel as uint8 (4x less than floats); a text embedder tokenizes here."""
        return items.to(device, non_blocking=True)

    def model(self, device: torch.device, progress: Any = None) -> nn.Module:
        """The loaded feature extractor on ``device``, loaded once per process (a few recent ones are kept); this
        instance remembers it, so a per-batch call costs a dictionary lookup."""
        mine: dict[str, nn.Module] = self.__dict__.setdefault("_on_device", {})
        if str(device) in mine:
            return mine[str(device)]
        key = (self.cache_key(), str(device))
        with _MODELS_LOCK:
            if key not in _MODELS:
                while len(_MODELS) >= 3:
                    _MODELS.pop(next(iter(_MODELS)))
                _MODELS[key] = self.load(device, progress=progress)
            mine[str(device)] = _MODELS[key]
            return mine[str(device)]

    def order(self, content: Any) -> Any:
        """The order to embed ``content`` in (an index array), or None for as it comes.  A text encoder groups
        texts of similar length into one batch, so little padding is computed; the vectors come back in the
        dataset's order either way."""
        return None

    def embed_batch(self, batch: Any, device: torch.device) -> torch.Tensor:
        """The contract every embedder meets: a slice of content -> float features N x D on ``device``."""
        return self.model(device)(self.preprocess(self.collate(batch, device))).flatten(1)

    def batch_size(self, device: torch.device) -> int:
        """A batch size that fits comfortably."""
        small = (self.info.input_size or 28) <= 64
        if device.type == "cuda":
            return 4096 if small else 256
        return 1024 if small else 32

    def backbone(self, classes: Sequence[str], device: torch.device) -> Backbone:
        """A trainable copy of the network for fine-tuning on ``classes`` (the cached model is never changed)."""
        import torch

        if not self.info.trainable:
            options = trainable_embedders(self.info.modality)
            hint = f"; use {' or '.join(options)}" if options else ""
            raise SpecError(f"backbone: {self.info.id!r} has no trainable layers{hint}")
        why = self.unavailable()
        if why:
            raise SpecError(f"backbone: {self.info.id} is unavailable: {why}")
        module = copy.deepcopy(self.load(device))
        with torch.no_grad():
            side = self.info.input_size or 28
            probe = torch.zeros(2, 3, side, side, dtype=torch.uint8)
            dim = int(module(self.preprocess(probe.to(device))).flatten(1).shape[1])
        return Backbone(module, self.preprocess, dim, None, self.info.label)


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
                        "trained by this app on builtin:printed-digits on first use; cached under DA_CACHE_DIR",
                        dim=128)

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
        return _features(copy.deepcopy(self._model(progress))).to(device).eval()

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        from da_core.models import digits_input

        return digits_input(images)

    def backbone(self, classes: Sequence[str], device: torch.device) -> Backbone:
        """Its convolutional features, with its own source-trained head when the classes are the digits 0-9."""
        from da_core.models import digits_input, load_digits_cnn

        base, info = load_digits_cnn()
        module = copy.deepcopy(base.features).to(device)
        head = None
        if list(classes) == [str(i) for i in range(10)] and base.head.out_features == 10:
            head = copy.deepcopy(base.head).to(device)
        return Backbone(module, digits_input, int(base.embed_dim), head,
                        f"digits-cnn (pretrained on {info.source_spec})")


# ------------------------------------------------------------------------------------------- pixels


class PixelsEmbedder(Embedder):
    """Raw pixels in [0, 1], optionally reduced by one PCA fitted on both domains (a sanity baseline)."""

    info = EmbedderInfo("pixels", "Raw pixels (PCA to 50 by default)", "image", None, "none",
                        (Param("pca", int, 50, "PCA dimensions fitted on both domains (0 = raw pixels)",
                               min=0, max=512),), trainable=False)

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
TORCHVISION_DIMS = {"resnet18": 512, "resnet50": 2048, "efficientnet_b0": 1280, "convnext_tiny": 768,
                    "mobilenet_v3_small": 576, "vit_b_16": 768}  # features once the classifier is removed


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
                                 f"torch hub cache: {self.weights_path()}", dim=TORCHVISION_DIMS.get(arch))

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
        if in_hf_cache(self.name) or downloads_allowed():
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


@dataclass(frozen=True)
class EmbedderEntry:
    """A registry entry: an id prefix, the factory that builds an embedder from the rest of the id and its
    ``?k=v`` options, the embedders it lists on the pages, and its modality."""

    prefix: str  # "digits-cnn" (an exact id) or "torchvision:" (a family: the part after the colon is free)
    factory: Callable[[str, dict[str, str]], Embedder]
    listed: Callable[[], list[Embedder]]
    modality: str | tuple[str, ...]  # a family may serve several (hf:PATH: a vision model or a text encoder)
    usage: str  # how to name it, for the unknown-embedder message
    free_form: str | None = None  # for a family named by a free part (hf:PATH): what the user is asked for

    def takes(self, modality: str | None) -> bool:
        """Whether this family serves ``modality`` (any when None)."""
        return modality is None or modality == self.modality or (isinstance(self.modality, tuple)
                                                                 and modality in self.modality)

    def matches(self, base: str) -> bool:
        """Whether ``base`` (an id without options) belongs to this entry."""
        if self.prefix.endswith(":"):
            return base.startswith(self.prefix) and len(base) > len(self.prefix)
        return base == self.prefix


_EMBEDDERS: dict[str, EmbedderEntry] = {}


def register_embedder(prefix: str, factory: Callable[[str, dict[str, str]], Embedder], *,
                      modality: str | tuple[str, ...],
                      usage: str, listed: Callable[[], list[Embedder]] | None = None,
                      free_form: str | None = None) -> None:
    """Add an embedder family: ``factory(rest_of_id, options)``; ``listed()`` gives the ones the pages show;
    ``free_form`` says what to ask for when the id's free part is the user's (a model folder)."""
    _EMBEDDERS[prefix] = EmbedderEntry(prefix, factory, listed or (lambda: []), modality, usage, free_form)


def get_embedder(embedder_id: str) -> Embedder:
    """An embedder by id: ``digits-cnn``, ``pixels`` (``pixels?pca=0`` for raw), ``torchvision:ARCH``, ``hf:PATH``."""
    base, _, query = embedder_id.partition("?")
    opts = dict(part.split("=", 1) for part in query.split("&") if "=" in part)
    for entry in _EMBEDDERS.values():
        if entry.matches(base):
            rest = base[len(entry.prefix):] if entry.prefix.endswith(":") else ""
            return entry.factory(rest, opts)
    raise EmbedderUnavailable(f"unknown embedder {embedder_id!r}; use "
                              + ", ".join(e.usage for e in _EMBEDDERS.values()))


def list_embedders(modality: str | None = None) -> list[tuple[EmbedderInfo, str | None]]:
    """The listed embedders (of ``modality`` when given), each with None or the reason it is unavailable."""
    out: list[tuple[EmbedderInfo, str | None]] = []
    for entry in _EMBEDDERS.values():
        if not entry.takes(modality):
            continue
        out.extend((emb.info, emb.unavailable()) for emb in entry.listed()
                   if modality is None or emb.info.modality == modality)
    return out


def free_form_embedders(modality: str | None = None) -> list[EmbedderEntry]:
    """The families (of ``modality`` when given) whose ids end in a part the user types, such as ``hf:PATH``."""
    return [e for e in _EMBEDDERS.values() if e.free_form and e.takes(modality)]


def trainable_embedders(modality: str) -> list[str]:
    """How to name the embedder families of ``modality`` the trainer can fine-tune (their listed members are)."""
    return [entry.usage for entry in _EMBEDDERS.values()
            if entry.takes(modality) and any(emb.info.trainable and emb.info.modality == modality
                                             for emb in entry.listed())]


def _torchvision(arch: str, _opts: dict[str, str]) -> Embedder:
    from torchvision import models
    from torchvision.models import list_models

    if arch not in list_models(module=models):
        raise EmbedderUnavailable(f"unknown torchvision architecture {arch!r}; e.g. {', '.join(TORCHVISION_ARCHS)}")
    return TorchvisionEmbedder(arch)


def _pixels(_rest: str, opts: dict[str, str]) -> Embedder:
    return PixelsEmbedder(PixelsEmbedder.info.params[0].coerce(opts.get("pca", 50), "pixels"))


register_embedder("digits-cnn", lambda _r, _o: DigitsCNNEmbedder(), modality="image", usage="digits-cnn",
                  listed=lambda: [DigitsCNNEmbedder()])
register_embedder("pixels", _pixels, modality="image", usage="pixels", listed=lambda: [PixelsEmbedder()])
register_embedder("torchvision:", _torchvision, modality="image", usage="torchvision:ARCH (e.g. resnet18)",
                  listed=lambda: [TorchvisionEmbedder(a) for a in TORCHVISION_ARCHS])
register_embedder("hf:", lambda name, _o: HFEmbedder(name), modality="image", usage="hf:PATH",
                  free_form="Folder of a transformers vision model (saved with save_pretrained)")
