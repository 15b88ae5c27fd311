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
from da_core.train.config import TrainConfig, config_for, defaults_for
from da_core.train.sweep import ROTATION_AFFINE, SweepSpec, number_list

# The augmentations a form offers, by the label it shows.
NO_AUGMENTATION = "none"
LAB_PIPELINE = "augmentation lab's pipeline"
ROTATION_PRESET = "rotation + translate + shear"
EDA_PRESET = "EDA: synonym replacement + random deletion"
PIPELINE_JSON = "pipeline JSON"
AUGMENTATIONS = (NO_AUGMENTATION, LAB_PIPELINE, ROTATION_PRESET, PIPELINE_JSON)
SWEEP_AUGMENTATIONS = (LAB_PIPELINE, ROTATION_PRESET)  # a sweep needs a pipeline
PRESETS = {"image": ROTATION_PRESET, "text": EDA_PRESET}  # each modality's ready-made pipeline


def augmentations(modality: str = "image", sweep: bool = False) -> tuple[str, ...]:
    """The augmentation choices of a form on a ``modality`` pair (a sweep's need a pipeline)."""
    preset = PRESETS.get(modality, ROTATION_PRESET)
    return (LAB_PIPELINE, preset) if sweep else (NO_AUGMENTATION, LAB_PIPELINE, preset, PIPELINE_JSON)


@dataclass(frozen=True)
class FormField:
    """One widget of a form: the session key its value lives under, and its value on a first visit."""

    key: str
    default: Any


# TrainConfig option -> the end of its widget's key; a text pair's form adds the text options, keyed by their names
_KEYS = {"mode": "mode", "optimizer": "opt", "schedule": "sched", "device": "device", "lr": "lr",
         "backbone_lr_scale": "bbscale", "weight_decay": "wd", "label_smoothing": "ls", "epochs": "epochs",
         "max_steps": "max_steps", "batch_size": "batch", "seed": "seed", "target_labels_per_class": "k",
         "target_share": "share", "dann": "dann", "dann_weight": "dann_w", "adv_share": "adv_share",
         "strength_schedule": "ssched", "target_affinity": "affinity"}
_TEXT_KEYS = ("backbone", "lora_rank", "lora_alpha", "lora_targets", "max_length", "eval_samples")
_OPTIONAL = ("max_steps", "eval_samples")  # 0 in the form: not set
STRENGTHS = {"image": 0.35, "text": 0.45}  # the form's strength, used when it augments
NO_ADVERSARIAL = "none"
ADVERSARIAL = {NO_ADVERSARIAL: None, "FGSM": "fgsm", "PGD": "pgd"}  # the form's choice -> adv_method


def _first_value(name: str, value: Any) -> Any:
    """An option's default as its widget holds it: 0 for an optional number left unset, text for a list."""
    if name in _OPTIONAL:
        return value or 0
    if name == "lora_targets":
        return ", ".join(value or [])  # empty: the encoder's query and value
    return value


def _train_form(modality: str) -> dict[str, FormField]:
    """TrainConfig option (or, for the last two, form-only name) -> its widget, with the modality's defaults
    (:func:`da_core.train.config.defaults_for`); a text form's keys start ``trt_`` (so each modality's settings
    survive a switch of pair) and it adds the text options.  Tests and browser scripts use the keys."""
    d = defaults_for(modality)
    p = "tr_" if modality == "image" else "trt_"
    keys = {**_KEYS, **({name: name for name in _TEXT_KEYS} if modality == "text" else {})}
    fields = {name: FormField(p + end, _first_value(name, d[name])) for name, end in keys.items()}
    fields["strength"] = FormField(p + "strength", STRENGTHS.get(modality, STRENGTHS["image"]))
    fields["augmentation"] = FormField(p + "aug", NO_AUGMENTATION)
    fields["pipeline_json"] = FormField(p + "pipe_json", "")
    fields["adversarial"] = FormField(p + "adv", NO_ADVERSARIAL)
    return fields


def _sweep_form(modality: str) -> dict[str, FormField]:
    p = "sw_" if modality == "image" else "swt_"
    return {"augmentation": FormField(p + "aug", PRESETS.get(modality, ROTATION_PRESET)),
            "strengths": FormField(p + "strengths", "0, 0.25, 0.5, 0.75, 1"),
            "seeds": FormField(p + "seeds", 2),
            "lrs": FormField(p + "lrs", ""),
            "schedules": FormField(p + "schedules", ["constant"]),
            "backend": FormField(p + "backend", "local"),
            "ray_cpus": FormField(p + "ray_cpus", 1.0),
            "ray_gpus": FormField(p + "ray_gpus", 0.0)}


TRAIN_FORMS = {m: _train_form(m) for m in ("image", "text")}
SWEEP_FORMS = {m: _sweep_form(m) for m in ("image", "text")}
TRAIN_FORM, SWEEP_FORM = TRAIN_FORMS["image"], SWEEP_FORMS["image"]
_FORM_ONLY = ("augmentation", "pipeline_json", "adversarial")


def train_form(modality: str = "image") -> dict[str, FormField]:
    """The run form of a ``modality`` pair."""
    return TRAIN_FORMS.get(modality, TRAIN_FORM)


def sweep_form(modality: str = "image") -> dict[str, FormField]:
    """The sweep form of a ``modality`` pair."""
    return SWEEP_FORMS.get(modality, SWEEP_FORM)


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
    """The pipeline an augmentation choice (one of :func:`augmentations`) names: the lab's (``lab``, None when
    the lab has none), a modality's preset, or ``text`` parsed as JSON; None for no augmentation."""
    if choice == LAB_PIPELINE:
        if lab is None:
            raise DAError("the Augmentation lab has no pipeline in this session yet; open it first, or pick another "
                          "augmentation")
        return lab
    if choice == ROTATION_PRESET:
        return ROTATION_AFFINE
    if choice == EDA_PRESET:
        from da_core.augment.text_ops import default_text_pipeline

        return default_text_pipeline().to_dict()
    if choice == PIPELINE_JSON:
        try:
            return json.loads(text or "null")
        except json.JSONDecodeError as exc:
            raise DAError(f"pipeline JSON: {exc}") from None
    return None


def train_config(values: Mapping[str, Any], source: str, target: str, pipeline: dict[str, Any] | None = None,
                 selection: Mapping[str, Any] | None = None, modality: str = "image") -> TrainConfig:
    """The run that the ``modality`` run form's ``values`` (:func:`form_values`) describe on ``source`` →
    ``target``, augmented with ``pipeline`` at the form's strength (none: no augmentation) and trained on
    ``selection`` (``source_subset`` or ``source_weights``, see :func:`da_core.train.config.read_selection`)."""
    fields = train_form(modality)
    options = {name: type(f.default)(values.get(name, f.default)) for name, f in fields.items()
               if name not in _FORM_ONLY}  # each widget's value as its option's type (number inputs give floats)
    for name in _OPTIONAL:
        if name in options:
            options[name] = options[name] or None
    if "lora_targets" in options:
        options["lora_targets"] = [t.strip() for t in options["lora_targets"].split(",") if t.strip()] or None
    method = ADVERSARIAL.get(values.get("adversarial", NO_ADVERSARIAL))
    if method is not None:
        options.update(objective="adversarial", adv_method=method)
    options["strength"] = options["strength"] if pipeline or method else None
    return config_for(modality, {"source": source, "target": target, **options, "pipeline": pipeline,
                                 **(selection or {})})


def sweep_spec(values: Mapping[str, Any], base: TrainConfig, lab: dict[str, Any] | None = None) -> SweepSpec:
    """The sweep that a sweep form's ``values`` describe over ``base`` (the run form's settings without
    augmentation): its pipeline (``lab``: the lab's, see :func:`pipeline_choice`) at every strength × seed
    (× learning rate × strength schedule)."""
    pipeline = pipeline_choice(values["augmentation"], lab)
    try:
        strengths, lrs = number_list(values["strengths"]), number_list(values["lrs"]) or None
    except ValueError:
        raise DAError("strengths and learning rates must be comma-separated numbers") from None
    schedules = list(values.get("schedules") or []) or None
    return SweepSpec(base, pipeline, strengths, list(range(int(values["seeds"]))), lrs, schedules=schedules)


def backend_choice(values: Mapping[str, Any]) -> tuple[str, Any]:
    """Where a form's runs go, from its ``backend``, ``ray_cpus`` and ``ray_gpus`` values (the sweep's and the
    study's): ``("local", None)`` or ``("ray", RayOptions)`` with each run's CPUs and GPUs (the cluster:
    ``RAY_ADDRESS``, else a local Ray)."""
    from da_core.scale import RayOptions, check_backend

    backend = check_backend(str(values.get("backend", "local")))
    if backend == "local":
        return backend, None
    return backend, RayOptions(cpus_per_run=float(values.get("ray_cpus", 1.0)),
                               gpus_per_run=float(values.get("ray_gpus", 0.0))).validate()


def parameters_line(counts: dict[str, Any] | None) -> str:
    """``"74,498 of 22,787,714 parameters trained (0.33%)"``; empty when the counts are not known."""
    if not counts or not counts.get("total"):
        return ""
    return f"{counts['trainable']:,} of {counts['total']:,} parameters trained ({counts['share']:.2%})"
