"""The training configuration: every option of a run, JSON round trip, and validation that names the bad field.

One :class:`TrainConfig` describes a run completely (datasets, model, data choices, optimisation, DANN,
augmentation); it is stored as JSON with the run, so a run in the history can be repeated exactly.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from da_core.config import DEFAULT_SOURCE, DEFAULT_TARGET
from da_core.errors import SpecError

MODES = ("full", "linear", "lora")  # lora: low-rank adapters (peft) on a text encoder, the rest frozen
OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("cosine", "step", "constant")
HEAD_INITS = ("auto", "probe", "random")
DEVICES = ("auto", "cpu", "cuda", "mps")
AUGMENT_ON = ("both", "source", "target")  # which labelled training samples the pipeline augments
OBJECTIVES = ("cross-entropy", "dann", "adversarial")  # the strategies a config may name (dann=True also means DANN)
ADV_METHODS = ("fgsm", "pgd")
STRENGTH_SCHEDULES = ("constant", "linear", "cosine", "adaptive")
# adversarial ε at strength 1: MNIST's customary L-inf 0.3 in pixels; for text a tenth of a text's embedding norm
# (FGM at 0.02 already halves the default text pair's accuracy, measured by the robustness curve)
EPS_SCALE = {"image": 0.3, "text": 0.1}
EPS_WORDS = {"image": "0.3 (pixels in [0, 1])", "text": "0.1 of a text's embedding norm"}
MAX_BATCH_SIZE = 4096  # larger batches do not fit a short run on a laptop; a run also clamps to its data
MAX_INDEX = 2**62  # sample indices past this cannot be real (and would overflow int64 arithmetic)


@dataclass
class TrainConfig:
    """Options of one fine-tuning run (defaults: a good run on the default pair in about 10 s on 2 cores).

    Model: ``backbone`` (an embedder id, default ``digits-cnn``) plus a linear head.  ``mode`` ``full``
    trains everything, the backbone at ``lr * backbone_lr_scale``; ``linear`` trains the head only (a linear
    probe on frozen features).  ``head_init`` ``auto`` starts from the backbone's own source-trained head when
    it has one for these classes, else from a probe fitted on source features (``probe``), or ``random``.

    Data: the source training split (``source_subset`` indices or ``source_weights`` over the *whole*
    source dataset choose or weight samples; held-out samples are never trained on), plus
    ``target_labels_per_class`` labelled target samples per class (0 = unsupervised adaptation) that make up
    ``target_share`` of each batch.  ``source_eval_fraction``/``target_eval_fraction`` are held out (split
    with ``split_seed``, so every seed of a sweep is scored on the same samples) and scored
    ``evals_per_epoch`` times per epoch (and before training: the source-only baseline).

    A run on a subset or weights trains for as many steps as the same run on the whole source training split
    (equal budgets, so "selected vs all" compares like with like); ``selection`` records where they came from
    (method, parameters, fraction, how they are used, a hash of the selected uids), as read from the CSV.

    Augmentation: ``pipeline`` (a pipeline dict, see :mod:`da_core.augment`) applied on the fly to each
    labelled training batch, on the training device, at ``strength`` (None: the pipeline's own strength);
    ``augment_on`` says which of the batch's samples: ``both`` (source and labelled target), ``source`` or
    ``target`` (the labelled target samples only: target-domain augmentation).

    Evaluation: ``source_fold`` ``[i, k]`` holds out fold i of a stratified k-fold split of the source instead
    of ``source_eval_fraction`` (cross-validation, as a tuning search runs it).  ``eval_samples`` caps how many
    held-out samples per domain are scored (a seeded, class-stratified part of each held-out split; None scores
    all), so a text run, where each scored sample is a forward pass of the encoder, stays short.

    Objective: ``objective`` ``adversarial`` trains on adversarial examples made on the fly from the current model
    (``adv_method`` FGSM or PGD with ``adv_steps`` steps; images: an L-inf ball in pixel units in [0, 1]; text: an
    L2 ball in the encoder's input embeddings, relative to each text's embedding norm), replacing ``adv_share`` of
    each batch; the ball's radius is ``strength`` x ``adv_eps`` (None: the modality's, see
    :func:`da_core.train.adversarial.eps_scale`), so strength 0 is clean training and the sweep and the study treat
    it like any other augmentation.

    Strength schedule: ``strength`` is the most a run augments with; ``strength_schedule`` says how it gets there:
    ``constant`` (all along), ``linear`` or ``cosine`` (ramps from 0), or ``adaptive`` (a controller starting at 0
    that raises the strength by ``adapt_step`` per step while the accuracy on the augmented training batches stays
    above ``target_affinity`` and lowers it when it falls below, within [0, strength]).

    Robustness: ``robustness`` measures a finished run's target accuracy under the built-in corruptions and under
    adversarial perturbations (:mod:`da_core.train.robustness`) on ``robust_samples`` held-out target samples
    (None: the modality's default).

    Text: ``max_length`` truncates texts (in tokens); ``mode`` ``lora`` trains low-rank adapters (the ``peft``
    library) of rank ``lora_rank`` with scaling ``lora_alpha`` on the modules ``lora_targets`` (None: the
    encoder's query and value projections) plus the head, the encoder's own weights frozen.  The defaults for a
    text pair are :data:`TEXT_DEFAULTS` (:func:`config_for`).
    """

    source: str = DEFAULT_SOURCE
    target: str = DEFAULT_TARGET
    backbone: str = "digits-cnn"
    mode: str = "full"
    head_init: str = "auto"
    backbone_lr_scale: float = 0.3
    optimizer: str = "adamw"
    lr: float = 5e-3
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    step_every: int | None = None
    step_gamma: float = 0.1
    batch_size: int = 64
    epochs: int = 2
    max_steps: int | None = None
    label_smoothing: float = 0.0
    seed: int = 0
    split_seed: int = 0
    target_labels_per_class: int = 10
    target_share: float = 0.25
    source_subset: list[int] | None = None
    source_weights: list[float] | None = None
    selection: dict[str, Any] | None = None
    source_eval_fraction: float = 0.2
    target_eval_fraction: float = 0.5
    dann: bool = False
    dann_weight: float = 1.0
    pipeline: dict[str, Any] | None = None
    strength: float | None = None
    augment_on: str = "both"
    objective: str = "cross-entropy"
    adv_method: str = "fgsm"
    adv_share: float = 0.5
    adv_eps: float | None = None
    adv_steps: int = 3
    strength_schedule: str = "constant"
    target_affinity: float = 0.9
    adapt_step: float = 0.05
    robustness: bool = True
    robust_samples: int | None = None
    film: bool = True
    evals_per_epoch: int = 2
    eval_samples: int | None = None
    source_fold: list[int] | None = None
    max_length: int = 128
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    lora_targets: list[str] | None = None
    device: str = "auto"
    name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------------------- JSON

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (round-trips through :meth:`from_dict`)."""
        return json.loads(json.dumps(asdict(self)))

    def to_json(self, indent: int | None = None) -> str:
        """JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any) -> TrainConfig:
        """Build and validate; a :class:`SpecError` names the bad field.  Missing fields take defaults."""
        if not isinstance(data, dict):
            raise SpecError(f"training config: expected a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(f"training config: unknown field {unknown[0]!r}; valid fields: {', '.join(sorted(known))}")
        config = cls(**data)
        config.validate()
        return config

    @classmethod
    def from_json(cls, text: str | bytes) -> TrainConfig:
        """Parse JSON text and validate."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SpecError(f"training config: not valid JSON ({exc})") from None
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> TrainConfig:
        """A validated copy with some fields changed."""
        config = replace(self, **changes)
        config.validate()
        return config

    # --------------------------------------------------------------------------- validation

    def validate(self) -> TrainConfig:
        """Check types and ranges of every field (coercing ints to floats where a float is expected)."""
        _string(self, "source")
        _string(self, "target")
        _string(self, "backbone")
        _choice(self, "mode", MODES)
        _choice(self, "head_init", HEAD_INITS)
        _choice(self, "optimizer", OPTIMIZERS)
        _choice(self, "schedule", SCHEDULES)
        _choice(self, "device", DEVICES)
        _choice(self, "augment_on", AUGMENT_ON)
        _choice(self, "objective", OBJECTIVES)
        _choice(self, "adv_method", ADV_METHODS)
        _choice(self, "strength_schedule", STRENGTH_SCHEDULES)
        _number(self, "backbone_lr_scale", 0.0, 10.0)
        _number(self, "lr", 0.0, 1e6, open_low=True)
        _number(self, "momentum", 0.0, 1.0)
        _number(self, "weight_decay", 0.0, 10.0)
        _integer(self, "step_every", 1, None, optional=True)
        _number(self, "step_gamma", 0.0, 1.0, open_low=True)
        _integer(self, "batch_size", 2, MAX_BATCH_SIZE)
        _integer(self, "epochs", 1, 100_000)
        _integer(self, "max_steps", 1, 10_000_000, optional=True)
        _number(self, "label_smoothing", 0.0, 1.0, open_high=True)
        _integer(self, "seed", 0, 2**63 - 1)
        _integer(self, "split_seed", 0, 2**63 - 1)
        _integer(self, "target_labels_per_class", 0, 1_000_000)
        _number(self, "target_share", 0.0, 1.0, open_high=True)
        _number(self, "source_eval_fraction", 0.0, 0.9, open_low=True)
        _number(self, "target_eval_fraction", 0.0, 0.9, open_low=True)
        _boolean(self, "dann")
        _number(self, "dann_weight", 0.0, 100.0)
        _number(self, "strength", 0.0, 1.0, optional=True)
        _integer(self, "evals_per_epoch", 1, 1000)
        _number(self, "adv_share", 0.0, 1.0)
        _number(self, "adv_eps", 0.0, 100.0, optional=True, open_low=True)
        _integer(self, "adv_steps", 1, 100)
        _number(self, "target_affinity", 0.0, 1.0, open_low=True, open_high=True)
        _number(self, "adapt_step", 0.0, 1.0, open_low=True)
        _boolean(self, "robustness")
        _integer(self, "robust_samples", 10, 1_000_000, optional=True)
        _integer(self, "eval_samples", 10, 10_000_000, optional=True)
        fold = self.source_fold
        if fold is not None and (not isinstance(fold, list) or len(fold) != 2
                                 or not all(isinstance(v, int) and not isinstance(v, bool) for v in fold)
                                 or not 2 <= fold[1] <= 20 or not 0 <= fold[0] < fold[1]):
            raise SpecError(f"source_fold: expected [fold, folds] with 2 <= folds <= 20 and 0 <= fold < folds, got "
                            f"{fold!r}")
        _integer(self, "max_length", 8, 8192)
        _integer(self, "lora_rank", 1, 1024)
        _number(self, "lora_alpha", 0.0, 1e6, open_low=True)
        _number(self, "lora_dropout", 0.0, 1.0, open_high=True)
        targets = self.lora_targets
        if targets is not None and (not isinstance(targets, list) or not targets
                                    or not all(isinstance(t, str) and t.strip() for t in targets)):
            raise SpecError(f"lora_targets: expected a non-empty list of module names (e.g. [\"query\", \"value\"]) "
                            f"or null, got {targets!r}")
        if not isinstance(self.name, str):
            raise SpecError(f"name: expected a string, got {self.name!r}")
        if not isinstance(self.extra, dict):
            raise SpecError(f"extra: expected an object, got {self.extra!r}")
        if self.source_subset is not None and self.source_weights is not None:
            raise SpecError("source_subset: give either source_subset or source_weights, not both")
        if self.source_subset is not None:
            if not isinstance(self.source_subset, list) or not self.source_subset:
                raise SpecError("source_subset: expected a non-empty list of sample indices")
            for i, v in enumerate(self.source_subset):
                if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                    raise SpecError(f"source_subset[{i}]: expected a non-negative integer index, got {v!r}")
                if v >= MAX_INDEX:
                    raise SpecError(f"source_subset[{i}]: index {v} is far past any dataset's size")
        if self.source_weights is not None:
            if not isinstance(self.source_weights, list) or not self.source_weights:
                raise SpecError("source_weights: expected a non-empty list of non-negative weights")
            for i, v in enumerate(self.source_weights):
                if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                    raise SpecError(f"source_weights[{i}]: expected a finite non-negative number, got {v!r}")
            if not any(v > 0 for v in self.source_weights):
                raise SpecError("source_weights: all weights are zero")
            if not math.isfinite(sum(float(v) for v in self.source_weights)):
                raise SpecError("source_weights: the weights add up to infinity; scale them down (only their "
                                "ratios matter)")
            self.source_weights = [float(v) for v in self.source_weights]
        if self.selection is not None and not isinstance(self.selection, dict):
            raise SpecError(f"selection: expected an object describing the selection, got {self.selection!r}")
        if self.pipeline is not None:
            if not isinstance(self.pipeline, dict):
                raise SpecError(f"pipeline: expected a pipeline object or null, got {type(self.pipeline).__name__}")
            from da_core.augment import Pipeline

            try:
                Pipeline.from_dict(self.pipeline)
            except SpecError:
                raise
            except ValueError as exc:  # PipelineError: prefix the field it sits in
                raise SpecError(f"pipeline.{exc}") from None
        if self.objective == "adversarial" and self.dann:
            raise SpecError("objective: adversarial training and DANN are two objectives; choose one (dann false, or "
                            "objective dann)")
        if self.uses_dann and self.mode == "linear":
            raise SpecError("dann: adversarial adaptation needs mode 'full' or 'lora' (a frozen backbone cannot adapt)")
        return self

    @property
    def uses_dann(self) -> bool:
        """Whether the run is DANN (``dann`` set, or ``objective`` dann)."""
        return bool(self.dann) or self.objective == "dann"

    @property
    def adversarial(self) -> bool:
        """Whether the run trains on adversarial examples (the adversarial objective at a strength above 0)."""
        return self.objective == "adversarial" and self.peak_strength > 0 and self.adv_share > 0

    @property
    def peak_strength(self) -> float:
        """The most the run augments with: ``strength``, else the pipeline's own, else 0.5 (the scale's middle)."""
        if self.strength is not None:
            return float(self.strength)
        if self.pipeline is not None:
            return float(self.pipeline.get("strength", 0.5))
        return 0.5

    @property
    def augmented(self) -> bool:
        """Whether training batches are augmented (a pipeline with an effective strength above 0)."""
        if self.pipeline is None:
            return False
        strength = self.peak_strength
        if self.augment_on == "target" and self.target_labels_per_class == 0:
            return False  # no labelled target sample to augment
        return bool(self.pipeline.get("ops")) and float(strength) > 0


# The defaults of a run on a text pair, where they differ from an image run's: fine-tuning MiniLM in full at the
# learning rates BERT-style encoders want (the head at lr, the encoder at lr * backbone_lr_scale = 5e-5), batches of
# 32, a short run of 100 steps scored four times an epoch on 500 held-out texts per domain (about two minutes on
# 2 CPU cores, measured by benchmarks/bench_train_text.py).
TEXT_DEFAULTS: dict[str, Any] = {"backbone": "minilm", "mode": "full", "lr": 2e-3, "backbone_lr_scale": 0.025,
                                 "weight_decay": 0.01, "batch_size": 32, "max_steps": 100, "evals_per_epoch": 4,
                                 "eval_samples": 500}


def defaults_for(modality: str) -> dict[str, Any]:
    """The config fields a run on a ``modality`` pair starts from (the dataclass defaults for images)."""
    base = TrainConfig().to_dict()
    if modality == "text":
        base.update(TEXT_DEFAULTS)
    return base


def config_for(modality: str, values: dict[str, Any] | None = None) -> TrainConfig:
    """A validated config for a ``modality`` pair: ``values`` over :func:`defaults_for` (a field given keeps its
    value, even one equal to an image default)."""
    if values is not None and not isinstance(values, dict):
        raise SpecError(f"training config: expected a JSON object, got {type(values).__name__}")
    return TrainConfig.from_dict({**defaults_for(modality), **(values or {})})


def pair_config(values: dict[str, Any] | None = None) -> TrainConfig:
    """:func:`config_for` the modality of the config's source (its spec says which, without loading it): the
    command line's and the study's way to give a text pair the text defaults."""
    from da_core.data import modality_of

    values = dict(values or {})
    return config_for(modality_of(values.get("source") or DEFAULT_SOURCE), values)


# ------------------------------------------------------------------------------------------ checks


def check_seeds(seeds: Any, field_name: str = "seeds") -> list[int]:
    """A non-empty list of distinct non-negative integer seeds (repeats dropped, order kept); :class:`SpecError`
    names the bad entry."""
    if not isinstance(seeds, list | tuple) or not seeds:
        raise SpecError(f"{field_name}: expected a non-empty list of integers")
    for i, s in enumerate(seeds):
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise SpecError(f"{field_name}[{i}]: expected a non-negative integer, got {s!r}")
    return list(dict.fromkeys(seeds))


def _string(cfg: TrainConfig, name: str) -> None:
    value = getattr(cfg, name)
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{name}: expected a non-empty string, got {value!r}")


def _choice(cfg: TrainConfig, name: str, choices: tuple[str, ...]) -> None:
    value = getattr(cfg, name)
    if value not in choices:
        raise SpecError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")


def _boolean(cfg: TrainConfig, name: str) -> None:
    if not isinstance(getattr(cfg, name), bool):
        raise SpecError(f"{name}: expected true or false, got {getattr(cfg, name)!r}")


def _integer(cfg: TrainConfig, name: str, lo: int, hi: int | None, optional: bool = False) -> None:
    value = getattr(cfg, name)
    if value is None and optional:
        return
    if isinstance(value, float) and value.is_integer():
        value = int(value)
        setattr(cfg, name, value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{name}: expected an integer, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        bound = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise SpecError(f"{name}: must be {bound}, got {value}")


def _number(cfg: TrainConfig, name: str, lo: float, hi: float, optional: bool = False,
            open_low: bool = False, open_high: bool = False) -> None:
    value = getattr(cfg, name)
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpecError(f"{name}: expected a number, got {value!r}")
    value = float(value)
    if value < lo or value > hi or (open_low and value == lo) or (open_high and value == hi):
        left, right = "(" if open_low else "[", ")" if open_high else "]"
        raise SpecError(f"{name}: must be in {left}{lo:g}, {hi:g}{right}, got {value:g}")
    setattr(cfg, name, value)


def _selection_record(frame: Any, columns: dict[str, Any]) -> dict[str, Any] | None:
    """Where a Selection-page CSV came from (method, fraction, parameters, use), or None for another CSV."""
    if "use" not in columns:
        return None
    uses = {str(v).strip().lower() for v in frame[columns["use"]].dropna()}
    if len(uses) != 1 or not uses <= {"subset", "weights"}:
        raise SpecError(f"source selection CSV: 'use' must be subset or weights (one of them), got "
                        f"{', '.join(sorted(uses)) or 'nothing'}")

    def first(name: str) -> Any:
        if name not in columns or frame[columns[name]].dropna().empty:
            return None
        return frame[columns[name]].dropna().iloc[0]

    params = first("params")
    try:
        params = json.loads(params) if isinstance(params, str) else {}
    except ValueError:
        raise SpecError("source selection CSV: 'params' must hold a JSON object") from None
    fraction = first("fraction")
    return {"method": None if first("method") is None else str(first("method")), "params": params,
            "fraction": None if fraction is None else float(fraction), "use": uses.pop()}


MAX_SELECTION_ROWS = 100_000_000  # a weight list is allocated per index: refuse absurd ones before allocating


@dataclass
class Selection:
    """A source selection read from a CSV: the config fields it sets and what was left out, in words."""

    config: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def selection_from_csv(data: bytes | str, source: Any = None) -> dict[str, Any]:
    """``{"source_subset": [...]}`` or ``{"source_weights": [...]}`` from a selection CSV (:func:`read_selection`)."""
    return read_selection(data, source).config


def read_selection(data: bytes | str, source: Any = None) -> Selection:
    """Read a source selection: which samples of the whole ``source`` dataset to train on, or their weights.

    The CSV the Gap map exports names samples by ``uid`` with their ``domain``, ``origin`` and the dataset's
    ``fingerprint``: rows are mapped to ``source`` by uid (it must be given), target rows are left out, and a
    CSV made on another dataset (a fingerprint that is not ``source``'s) is refused.  A hand-made CSV may
    instead give ``index``: positions in the whole source.  With a ``weight`` column the rows are importance
    weights (unlisted samples get 0), otherwise the listed samples are the subset to train on.  The Selection
    page's CSV says which in its ``use`` column (``subset``: the rows marked ``selected``; ``weights``: every
    row's weight) and carries ``method``, ``fraction`` and ``params``: the config's ``selection`` records them
    with a hash of the selected uids.
    """
    import io

    import pandas as pd

    try:
        frame = pd.read_csv(io.BytesIO(data.encode() if isinstance(data, str) else data), dtype={"uid": str})
    except Exception as exc:  # pandas raises many kinds of parser errors
        raise SpecError(f"source selection CSV: cannot read it ({exc})") from None
    columns = {str(c).strip().lower(): c for c in frame.columns}
    notes: list[str] = []
    if "fingerprint" in columns and source is not None:
        prints = {str(v) for v in frame[columns["fingerprint"]].dropna()}
        if prints and source.fingerprint not in prints:
            raise SpecError(f"source selection CSV: it was made on another dataset (fingerprint "
                            f"{', '.join(sorted(prints))}), not on this source {source.domain!r} (fingerprint "
                            f"{source.fingerprint}); export the selection again with this source")
    if "domain" in columns:
        is_source = frame[columns["domain"]].astype(str).str.strip().str.lower() == "source"
        if (~is_source).any():
            notes.append(f"{int((~is_source).sum())} target rows left out (only source samples are trained on)")
        frame = frame[is_source]
    record = _selection_record(frame, columns)
    if record is not None and record["use"] == "subset":
        if "selected" not in columns:
            raise SpecError("source selection CSV: its 'use' is subset, but it has no 'selected' column")
        chosen = frame[columns["selected"]].astype(str).str.strip().str.lower().isin({"true", "1", "yes"})
        frame = frame[chosen]
        columns.pop("weight", None)
        if frame.empty:
            raise SpecError("source selection CSV: no row is marked selected")
    weight = None
    if "weight" in columns:
        try:
            weight = frame[columns["weight"]].astype("float64").tolist()
        except (ValueError, TypeError):
            raise SpecError("source selection CSV: 'weight' must hold numbers") from None
        bad = [w for w in weight if not math.isfinite(w) or w < 0]
        if bad:
            raise SpecError(f"source selection CSV: weights must be finite and not negative; found {bad[0]!r} "
                            f"({len(bad)} such rows)")
        if weight and not any(w > 0 for w in weight):
            raise SpecError("source selection CSV: every weight is zero; nothing would be trained on")
    if "uid" in columns:
        if source is None:
            raise SpecError("source selection CSV: its rows name samples by uid; the source dataset is needed to "
                            "map them")
        positions, unknown, repeats = source.positions_of(frame[columns["uid"]].astype(str))
        if unknown:
            notes.append(f"{len(unknown)} uids are not in this source (e.g. {', '.join(unknown[:3])}): left out")
        if repeats:
            notes.append(f"{repeats} repeated rows counted once")
        if not len(positions):
            raise SpecError(f"source selection CSV: none of its {len(frame)} source rows names a sample of "
                            f"{source.domain!r}")
        extra = {}
        if record is not None:
            kept = sorted(positions.tolist())
            uids = [source.uids[i] for i in kept]
            record["n_selected"] = len(kept)
            record["uids_hash"] = hashlib.blake2b("\n".join(uids).encode(), digest_size=8).hexdigest()
            extra = {"selection": record}
        if weight is None:
            return Selection({"source_subset": sorted(positions.tolist()), **extra}, notes)
        first: dict[str, float] = {}  # a repeated uid keeps its first weight, as positions_of keeps its first row
        for uid, w in zip(frame[columns["uid"]].astype(str), weight):
            first.setdefault(uid, float(w))
        return Selection({"source_weights": [first.get(uid, 0.0) for uid in source.uids], **extra}, notes)
    if "index" not in columns:
        raise SpecError(f"source selection CSV: needs a 'uid' (or an 'index') column; it has "
                        f"{', '.join(map(str, frame.columns))}")
    if "domain" in columns:  # the Gap map's export before uids: its index counted rows of the capped map
        raise SpecError("source selection CSV: its 'index' counts positions in the Gap map's capped sample, not "
                        "in the source (an export from an older version); export the selection again: it now "
                        "names each sample by uid")
    try:
        index = frame[columns["index"]].astype("int64")
    except (ValueError, TypeError, OverflowError):
        raise SpecError("source selection CSV: 'index' must hold whole numbers") from None
    if (index < 0).any():
        raise SpecError("source selection CSV: 'index' must not be negative")
    if len(index) and int(index.max()) >= MAX_SELECTION_ROWS:
        raise SpecError(f"source selection CSV: index {int(index.max())} is far past any dataset's size")
    if weight is None:
        return Selection({"source_subset": sorted(set(index.tolist()))}, notes)
    n = int(index.max()) + 1
    weights = [0.0] * n
    for i, w in zip(index.tolist(), weight):
        weights[i] = float(w)
    return Selection({"source_weights": weights}, notes)
