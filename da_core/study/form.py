"""The Study page's form as data, free of any UI toolkit: each widget's session key and first value
(:data:`STUDY_FORM`), the selection the Selection page left in the session (:func:`selection_from_state`), and
the :class:`~da_core.study.StudySpec` the values describe (:func:`study_spec`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from da_core.errors import DAError
from da_core.study.arms import default_arms
from da_core.study.spec import DEFAULT_FRACTION, DEFAULT_KS, DEFAULT_METHOD, DEFAULT_SHARES, StudySpec
from da_core.train.config import TEXT_DEFAULTS, TrainConfig, config_for
from da_core.train.form import FormField
from da_core.train.sweep import number_list

SWEET_SPOT = "the lab's sweet spot"
FIXED = "a fixed strength"
LAB_PIPELINE = "augmentation lab's pipeline"
DEFAULT_PIPELINE = "the lab's default pipeline"
GRID_SEEDS = 2  # the grid runs every arm in every cell: fewer seeds there keep the default map near 5 minutes
GRID_EVALS = 1  # and one evaluation per epoch instead of two

_RUN = TrainConfig()
STUDY_FORM: dict[str, FormField] = {
    "arms": FormField("st_arms", default_arms()),
    "seeds": FormField("st_seeds", 3),
    "epochs": FormField("st_epochs", _RUN.epochs),
    "steps": FormField("st_steps", TEXT_DEFAULTS["max_steps"]),  # a text pair's budget (an epoch is long there)
    "k": FormField("st_k", _RUN.target_labels_per_class),
    "pipeline": FormField("st_pipeline", DEFAULT_PIPELINE),
    "strength_mode": FormField("st_strength_mode", SWEET_SPOT),
    "strength": FormField("st_strength", 0.2),
    "augment_on": FormField("st_augment_on", "both"),
    "adv_strength": FormField("st_adv_strength", 0.25),
    "grid": FormField("st_grid", False),
    "ks": FormField("st_ks", ", ".join(str(k) for k in DEFAULT_KS)),
    "shares": FormField("st_shares", ", ".join(f"{s:g}" for s in DEFAULT_SHARES)),
    "grid_seeds": FormField("st_grid_seeds", GRID_SEEDS),
    "name": FormField("st_name", ""),
    "backend": FormField("st_backend", "local"),
    "ray_cpus": FormField("st_ray_cpus", 1.0),
    "ray_gpus": FormField("st_ray_gpus", 0.0),
}


@dataclass(frozen=True)
class StudySelection:
    """The selection the selecting arms use: the Selection page's settings in this session, else the default."""

    method: str
    fraction: float
    params: dict[str, Any]
    embedder: str | None
    from_page: bool

    def describe(self) -> str:
        """One line for the page."""
        where = "the Selection page's settings" if self.from_page else "the default (no selection made yet)"
        return f"{self.method}, top {self.fraction:.0%} of the source ({where})"


def selection_from_state(*mappings: Mapping[str, Any], modality: str = "image") -> StudySelection:
    """The Selection page's method, fraction, parameters and embedder as its widgets left them (in the session or
    the remembered widgets), else density-ratio top 50%.  Settings made on a pair of another ``modality`` (DSIR or
    a text embedder on an image pair, say) are not carried over: the default takes their place."""
    from da_core.embed import get_embedder
    from da_core.select import get_selector

    state: dict[str, Any] = {}
    for m in reversed(mappings):
        state.update(m)
    if "sel_method" not in state:
        return StudySelection(DEFAULT_METHOD, DEFAULT_FRACTION, {}, None, False)
    method = str(state["sel_method"])
    try:
        selector = get_selector(method)
    except DAError:
        return StudySelection(DEFAULT_METHOD, DEFAULT_FRACTION, {}, None, False)
    embedder = state.get("sel_embedder")
    try:
        other = embedder is not None and get_embedder(str(embedder)).info.modality != modality
    except DAError:
        other = True
    if selector.modality not in (None, modality) or other:
        return StudySelection(DEFAULT_METHOD, DEFAULT_FRACTION, {}, None, False)
    params = {p.name: state[f"sel_{method}_{p.name}"] for p in selector.params if f"sel_{method}_{p.name}" in state}
    fraction = float(state.get("sel_fraction", 100 * DEFAULT_FRACTION)) / 100
    return StudySelection(method, fraction, params, embedder, True)


def form_values(state: Mapping[str, Any]) -> dict[str, Any]:
    """The form's values by name, read from ``state`` under each field's key (defaults where missing)."""
    return {name: state.get(f.key, f.default) for name, f in STUDY_FORM.items()}


def study_spec(values: Mapping[str, Any], source: str, target: str, selection: StudySelection,
               lab_pipeline: dict[str, Any] | None = None, modality: str = "image") -> StudySpec:
    """The study the form's ``values`` describe on ``source`` → ``target``, a ``modality`` pair (text: the text
    run defaults, the budget in steps).  With the grid on, the cells run :data:`GRID_SEEDS`-style fewer seeds
    (the form's grid seeds) and :data:`GRID_EVALS` evaluation per epoch."""
    grid = bool(values["grid"])
    ks = shares = None
    if grid:
        try:
            ks = [int(v) for v in number_list(str(values["ks"]))]
            shares = number_list(str(values["shares"]))
        except ValueError:
            raise DAError("the grid's k and source shares must be comma-separated numbers") from None
    pipeline = None
    if values["pipeline"] == LAB_PIPELINE:
        if lab_pipeline is None:
            raise DAError("the Augmentation lab has no pipeline in this session yet; open it first, or use the "
                          "lab's default pipeline")
        pipeline = lab_pipeline
    budget = {"max_steps": int(values["steps"])} if modality == "text" else {"epochs": int(values["epochs"])}
    evals = {"evals_per_epoch": GRID_EVALS} if grid else {}
    base = config_for(modality, {"source": source, "target": target, "target_labels_per_class": int(values["k"]),
                                 **budget, **evals})
    seeds = int(values["grid_seeds"] if grid else values["seeds"])
    strength = None if values["strength_mode"] == SWEET_SPOT else float(values["strength"])
    return StudySpec(base, list(values["arms"]) or default_arms(), list(range(seeds)), method=selection.method,
                     fraction=selection.fraction, params=dict(selection.params), embedder=selection.embedder,
                     pipeline=pipeline, strength=strength, augment_on=str(values["augment_on"]),
                     adv_strength=float(values["adv_strength"]), ks=ks,
                     shares=shares, name=str(values["name"])).validate()
