"""The Training page's two forms as data, free of any UI toolkit.

Each form is one declaration, option name → :class:`FormField` (the widget's session key and first value); it
serves the widgets, remembering them across pages, and reading them back (:func:`form_values`).
:func:`train_config` and :func:`sweep_spec` turn the values into what a job runs; :func:`pipeline_choice`
resolves the augmentation a form names (the lab's pipeline comes from :func:`da_core.augment.editor.pipeline_in`).
A selection handed over by the Selection page (:class:`HandedSelection`, under :data:`SELECTION_HANDOFF`) is read
as if its CSV had been uploaded; an uploaded file takes its place (:func:`selection_csv`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from da_core.errors import DAError
from da_core.train.config import TrainConfig
from da_core.train.sweep import ROTATION_AFFINE, SweepSpec, number_list

# The augmentations a form offers, by the label it shows.
NO_AUGMENTATION = "none"
LAB_PIPELINE = "augmentation lab's pipeline"
ROTATION_PRESET = "rotation + translate + shear"
PIPELINE_JSON = "pipeline JSON"
AUGMENTATIONS = (NO_AUGMENTATION, LAB_PIPELINE, ROTATION_PRESET, PIPELINE_JSON)
SWEEP_AUGMENTATIONS = (LAB_PIPELINE, ROTATION_PRESET)  # a sweep needs a pipeline


@dataclass(frozen=True)
class FormField:
    """One widget of a form: the session key its value lives under, and its value on a first visit."""

    key: str
    default: Any


_RUN = TrainConfig()
# TrainConfig option (or, for the last two, form-only name) -> its widget.  Tests and browser scripts use the keys.
TRAIN_FORM: dict[str, FormField] = {
    "mode": FormField("tr_mode", _RUN.mode),
    "optimizer": FormField("tr_opt", _RUN.optimizer),
    "schedule": FormField("tr_sched", _RUN.schedule),
    "device": FormField("tr_device", _RUN.device),
    "lr": FormField("tr_lr", _RUN.lr),
    "backbone_lr_scale": FormField("tr_bbscale", _RUN.backbone_lr_scale),
    "weight_decay": FormField("tr_wd", _RUN.weight_decay),
    "label_smoothing": FormField("tr_ls", _RUN.label_smoothing),
    "epochs": FormField("tr_epochs", _RUN.epochs),
    "max_steps": FormField("tr_max_steps", 0),  # 0: by epochs
    "batch_size": FormField("tr_batch", _RUN.batch_size),
    "seed": FormField("tr_seed", _RUN.seed),
    "target_labels_per_class": FormField("tr_k", _RUN.target_labels_per_class),
    "target_share": FormField("tr_share", _RUN.target_share),
    "dann": FormField("tr_dann", _RUN.dann),
    "dann_weight": FormField("tr_dann_w", _RUN.dann_weight),
    "strength": FormField("tr_strength", 0.35),  # of the augmentation, when there is one
    "augmentation": FormField("tr_aug", NO_AUGMENTATION),
    "pipeline_json": FormField("tr_pipe_json", ""),
}
_FORM_ONLY = ("augmentation", "pipeline_json")

SWEEP_FORM: dict[str, FormField] = {
    "augmentation": FormField("sw_aug", ROTATION_PRESET),
    "strengths": FormField("sw_strengths", "0, 0.25, 0.5, 0.75, 1"),
    "seeds": FormField("sw_seeds", 2),
    "lrs": FormField("sw_lrs", ""),
}


SELECTION_HANDOFF = "tr_selection_csv"  # session key of the selection the Selection page hands to the Training page


@dataclass(frozen=True)
class HandedSelection:
    """A selection CSV handed from the Selection page to the Training form: its bytes, a file name, how many
    source samples it trains on (with a weight above 0 for ``weights``) and its ``use``."""

    data: bytes
    name: str
    n: int
    use: str

    def describe(self) -> str:
        """The line the Training page shows while this selection is in use."""
        what = "importance weights" if self.use == "weights" else "subset"
        return f"Selection from the Selection page: {self.n} samples ({what}), `{self.name}`."


def hand_selection(data: bytes, name: str, source: Any) -> HandedSelection:
    """Check a selection CSV against the ``source`` dataset the Training page loads (as
    :func:`da_core.train.config.read_selection` will when the run starts) and wrap it for the hand-off."""
    from da_core.train.config import read_selection

    config = read_selection(data, source).config
    if "source_weights" in config:
        return HandedSelection(data, name, sum(1 for w in config["source_weights"] if w > 0), "weights")
    return HandedSelection(data, name, len(config["source_subset"]), "subset")


def selection_csv(uploaded: bytes | None, handed: HandedSelection | None) -> bytes | None:
    """The selection CSV a run uses: the uploaded file when there is one, else the handed-over selection."""
    if uploaded is not None:
        return uploaded
    return None if handed is None else handed.data


def form_values(form: Mapping[str, FormField], state: Mapping[str, Any]) -> dict[str, Any]:
    """A form's values by option name, read from ``state`` (the session) under each field's key; a field not
    there yet has its default."""
    return {name: state.get(f.key, f.default) for name, f in form.items()}


def pipeline_choice(choice: str, lab: dict[str, Any] | None = None, text: str = "") -> dict[str, Any] | None:
    """The pipeline an augmentation choice (one of :data:`AUGMENTATIONS`) names: the lab's (``lab``, None when
    the lab has none), the rotation preset, or ``text`` parsed as JSON; None for no augmentation."""
    if choice == LAB_PIPELINE:
        if lab is None:
            raise DAError("the Augmentation lab has no pipeline in this session yet; open it first, or pick another "
                          "augmentation")
        return lab
    if choice == ROTATION_PRESET:
        return ROTATION_AFFINE
    if choice == PIPELINE_JSON:
        try:
            return json.loads(text or "null")
        except json.JSONDecodeError as exc:
            raise DAError(f"pipeline JSON: {exc}") from None
    return None


def train_config(values: Mapping[str, Any], source: str, target: str, pipeline: dict[str, Any] | None = None,
                 selection: Mapping[str, Any] | None = None) -> TrainConfig:
    """The run that :data:`TRAIN_FORM`'s ``values`` (:func:`form_values`) describe on ``source`` → ``target``,
    augmented with ``pipeline`` at the form's strength (none: no augmentation) and trained on ``selection``
    (``source_subset`` or ``source_weights``, see :func:`da_core.train.config.read_selection`)."""
    options = {name: type(f.default)(values.get(name, f.default)) for name, f in TRAIN_FORM.items()
               if name not in _FORM_ONLY}  # each widget's value as its option's type (number inputs give floats)
    options["max_steps"] = options["max_steps"] or None
    options["strength"] = options["strength"] if pipeline else None
    return TrainConfig.from_dict({"source": source, "target": target, **options, "pipeline": pipeline,
                                  **(selection or {})})


def sweep_spec(values: Mapping[str, Any], base: TrainConfig, lab: dict[str, Any] | None = None) -> SweepSpec:
    """The sweep that :data:`SWEEP_FORM`'s ``values`` describe over ``base`` (the run form's settings without
    augmentation): its pipeline (``lab``: the lab's, see :func:`pipeline_choice`) at every strength × seed
    (× learning rate)."""
    pipeline = pipeline_choice(values["augmentation"], lab)
    try:
        strengths, lrs = number_list(values["strengths"]), number_list(values["lrs"]) or None
    except ValueError:
        raise DAError("strengths and learning rates must be comma-separated numbers") from None
    return SweepSpec(base, pipeline, strengths, list(range(int(values["seeds"]))), lrs)
