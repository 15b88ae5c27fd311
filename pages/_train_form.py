"""The Training page's two forms, a run's settings and a sweep's grid, and what they describe, read back from the
session.  Each widget's key and first value are declared once, in ``da_core.train.form``; the choices come from
``da_core.train.config``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import streamlit as st

from da_core.scale import BACKENDS, ray_available
from da_core.train import form
from da_core.train.config import (
    DEVICES,
    EPS_WORDS,
    MAX_BATCH_SIZE,
    MODES,
    OPTIMIZERS,
    SCHEDULES,
    STRENGTH_SCHEDULES,
    TrainConfig,
)
from da_core.train.sweep import SweepSpec
from pages import _ui

SELECTION = "tr_selection"  # the selection CSV's uploader (an upload cannot be remembered across pages)
MODE_LABELS = {"full": "full fine-tune", "linear": "linear probe (frozen backbone)", "lora": "LoRA adapters"}


def _remember(fields: Iterable[form.FormField]) -> None:
    for field in fields:
        _ui.remember(field.key, field.default)


def _text_options(run: dict[str, form.FormField]) -> None:
    """The text pair's own options: the encoder, LoRA's rank, alpha and modules, the token limit, the scored part."""
    from da_core.embed import list_embedders

    encoders = [info.id for info, why in list_embedders("text") if why is None and info.trainable]
    c1, c2, c3, c4 = st.columns(4)
    c1.selectbox("Encoder", encoders or [run["backbone"].default], key=run["backbone"].key,
                 help="The text encoder to fine-tune (from local files only).")
    c2.number_input("LoRA rank", 1, 256, key=run["lora_rank"].key, help="Rank r of each adapter (mode LoRA).")
    c3.number_input("LoRA alpha", 0.5, 1024.0, key=run["lora_alpha"].key, step=1.0,
                    help="Adapter scaling: the update is (alpha / r) · B A.")
    c4.text_input("LoRA modules", key=run["lora_targets"].key, placeholder="query, value",
                  help="Comma-separated module names the adapters go into (empty: the attention's query and value).")
    c1, c2 = st.columns(2)
    c1.number_input("Max tokens per text", 8, 512, key=run["max_length"].key, help="Longer texts are truncated.")
    c2.number_input("Held-out texts scored per domain (0 = all)", 0, 100_000, key=run["eval_samples"].key,
                    help="Each scored text is a forward pass of the encoder; a seeded, class-stratified part keeps "
                         "evaluations short. The same texts every evaluation and seed.")


def run_form(on_submit: Callable[[], None], modality: str = "image") -> None:
    """The run settings of a ``modality`` pair; ``on_submit`` runs (before the script) when **Start run** is pressed."""
    run = form.train_form(modality)
    _remember(run.values())
    modes = MODES if modality == "text" else tuple(m for m in MODES if m != "lora")
    with st.form("train_form", border=False):
        c1, c2, c3, c4 = st.columns(4)
        c1.selectbox("Mode", modes, key=run["mode"].key, format_func=MODE_LABELS.get,
                     help="Full: train everything, the backbone at a lower learning rate. Linear probe: train only "
                          "the head on frozen features."
                          + (" LoRA: low-rank adapters in the encoder's attention plus the head; the encoder's own "
                             "weights stay frozen." if modality == "text" else ""))
        c2.selectbox("Optimizer", OPTIMIZERS, key=run["optimizer"].key,
                     format_func=lambda o: {"adamw": "AdamW", "sgd": "SGD + momentum"}[o])
        c3.selectbox("LR schedule", SCHEDULES, key=run["schedule"].key)
        c4.selectbox("Device", DEVICES, key=run["device"].key,
                     help="auto: CUDA, then Apple MPS, then the CPU.")
        c1, c2, c3, c4 = st.columns(4)
        c1.number_input("Learning rate", 1e-6, 10.0, key=run["lr"].key, format="%.0e", step=1e-4,
                        help="Of the head (and LoRA's adapters); the backbone uses learning rate × backbone scale.")
        c2.number_input("Backbone LR scale", 0.0, 10.0, key=run["backbone_lr_scale"].key, step=0.005,
                        format="%.3f", help="Full fine-tune only.")
        c3.number_input("Weight decay", 0.0, 1.0, key=run["weight_decay"].key, format="%.0e", step=1e-4)
        c4.number_input("Label smoothing", 0.0, 0.5, key=run["label_smoothing"].key, step=0.05)
        c1, c2, c3, c4 = st.columns(4)
        c1.number_input("Epochs", 1, 1000, key=run["epochs"].key)
        c2.number_input("Max steps (0 = by epochs)", 0, 1_000_000, key=run["max_steps"].key,
                        help="When set, training stops after this many batches.")
        c3.number_input("Batch size", 2, MAX_BATCH_SIZE, key=run["batch_size"].key)
        c4.number_input("Seed", 0, 1_000_000, key=run["seed"].key)
        if modality == "text":
            _text_options(run)
        c1, c2, c3, c4 = st.columns(4)
        c1.number_input("Labelled target per class", 0, 1000, key=run["target_labels_per_class"].key,
                        help="0 = unsupervised adaptation (target labels only for evaluation).")
        c2.slider("Target share of a batch", 0.0, 0.9, key=run["target_share"].key,
                  help="Expected share of each batch drawn from the labelled target samples.")
        c3.checkbox("DANN (adversarial)", key=run["dann"].key,
                    help="A domain discriminator behind a gradient-reversal layer pushes the features to look alike "
                         "on both domains (full fine-tune or LoRA).")
        c4.number_input("DANN weight", 0.0, 10.0, key=run["dann_weight"].key, step=0.1)
        c1, c2, c3, c4 = st.columns(4)
        c1.selectbox("Adversarial training", tuple(form.ADVERSARIAL), key=run["adversarial"].key,
                     help="Replace a share of each batch by FGSM or PGD examples of the current model; ε = strength × "
                          + EPS_WORDS.get(modality, EPS_WORDS["image"]) + ", so strength 0 is clean training.")
        c2.slider("Adversarial share", 0.0, 1.0, key=run["adv_share"].key, step=0.05)
        c3.selectbox("Strength schedule", STRENGTH_SCHEDULES, key=run["strength_schedule"].key,
                     help="constant: the strength all along; linear/cosine: a ramp from 0 up to it; adaptive: starts "
                          "at 0 and moves up while the accuracy on augmented batches stays above the target "
                          "affinity, down when below (at most the strength).")
        c4.slider("Target affinity (adaptive)", 0.5, 0.99, key=run["target_affinity"].key, step=0.01)
        c1, c2, c3 = st.columns([2, 1, 2])
        where = ", on the training device." if modality == "image" else " (its words edited, then tokenized again)."
        c1.selectbox("Augmentation of training batches", form.augmentations(modality), key=run["augmentation"].key,
                     help="Applied on the fly to every labelled batch" + where)
        c2.slider("Strength", 0.0, 1.0, key=run["strength"].key, step=0.05)
        c3.text_area("Pipeline JSON (for 'pipeline JSON')", key=run["pipeline_json"].key, height=68)
        st.file_uploader("Source selection (optional: the Gap map's or the Selection page's CSV, by `uid`, or a CSV "
                         "with an `index` column; a `weight` column makes importance weights)", type=["csv"],
                         key=SELECTION)
        st.form_submit_button("Start run", type="primary", key="train_submit", on_click=on_submit)
    _ui.store(*(field.key for field in run.values()))


def sweep_form(on_submit: Callable[[], None], modality: str = "image") -> None:
    """The sweep's pipeline, strengths, seeds and learning rates; ``on_submit`` runs when **Start sweep** is pressed."""
    sweep = form.sweep_form(modality)
    _remember(sweep.values())
    with st.form("sweep_form", border=False):
        c1, c2, c3 = st.columns(3)
        c1.selectbox("Pipeline", form.augmentations(modality, sweep=True), key=sweep["augmentation"].key)
        c2.text_input("Strengths", key=sweep["strengths"].key)
        c3.number_input("Seeds", 1, 10, key=sweep["seeds"].key)
        c1, c2 = st.columns(2)
        c1.text_input("Learning rates (optional, comma-separated)", key=sweep["lrs"].key)
        c2.multiselect("Strength schedules", STRENGTH_SCHEDULES, key=sweep["schedules"].key,
                       help="Compare a fixed strength with a schedule: each strength is then the most it reaches.")
        backend_widgets(sweep)
        st.form_submit_button("Start sweep", key="sweep_submit", on_click=on_submit)
    _ui.store(*(field.key for field in sweep.values()))


BACKEND_LABELS = {"local": "this process, one run after another", "ray": "Ray (RAY_ADDRESS, else a local Ray)"}


def backend_widgets(fields: Mapping[str, form.FormField]) -> None:
    """Where a form's runs go (its ``backend``, ``ray_cpus`` and ``ray_gpus`` fields), shown only when Ray is
    installed: the sweep's and the study's (:func:`da_core.train.form.backend_choice` reads them back)."""
    if not ray_available():
        return
    c1, c2, c3 = st.columns(3)
    c1.selectbox("Run on", BACKENDS, key=fields["backend"].key, format_func=BACKEND_LABELS.get)
    c2.number_input("CPUs per run (Ray)", 0.25, 64.0, key=fields["ray_cpus"].key, step=0.25)
    c3.number_input("GPUs per run (Ray; fractions share one)", 0.0, 8.0, key=fields["ray_gpus"].key, step=0.25)


def lab_pipeline(modality: str = "image") -> dict[str, Any] | None:
    """The pipeline the Augmentation lab's widgets hold in this session for a ``modality`` pair (None when the lab
    was not opened)."""
    from da_core.augment import editor

    kwargs = {} if modality == "image" else {"prefix": editor.TEXT_PREFIX}
    pipeline = editor.pipeline_in(_ui.memory(), st.session_state, **kwargs)
    return None if pipeline is None else pipeline.to_dict()


def selection_notice() -> None:
    """The selection handed over by the Selection page, if any, with a button that clears it."""
    handed = st.session_state.get(form.SELECTION_HANDOFF)
    if handed is None:
        return
    c1, c2 = st.columns([6, 1], vertical_alignment="center")
    c1.info(f"{handed.describe()} Runs train on it unless a CSV is uploaded in the run settings.",
            icon=":material/filter_alt:")
    c2.button("Clear", key="tr_selection_clear", on_click=lambda: st.session_state.pop(form.SELECTION_HANDOFF, None),
              help="Train on the whole source again (or on an uploaded CSV).")


def source_choice(upload: Any) -> dict[str, Any]:
    """``source_subset`` or ``source_weights`` from the uploaded selection CSV, else from the one the Selection
    page handed over (rows mapped to the source by uid)."""
    data = form.selection_csv(None if upload is None else upload.getvalue(),
                              st.session_state.get(form.SELECTION_HANDOFF))
    if data is None:
        return {}
    from da_core.train.config import read_selection

    selection = read_selection(data, _ui.load(st.session_state["source_spec"], "source"))
    for note in selection.notes:
        st.toast(f"Selection: {note}")
    return selection.config


def pair_modality() -> str:
    """The session pair's modality (the source spec's, without loading it)."""
    from da_core.data import modality_of

    return modality_of(st.session_state["source_spec"])


def run_config(with_augmentation: bool = True) -> TrainConfig:
    """The training config the run form describes on the session's pair (without augmentation if asked)."""
    s = st.session_state
    modality = pair_modality()
    values = form.form_values(form.train_form(modality), s)
    pipeline = (form.pipeline_choice(values["augmentation"], lab_pipeline(modality), values["pipeline_json"])
                if with_augmentation else None)
    return form.train_config(values, s["source_spec"], s["target_spec"], pipeline, source_choice(s.get(SELECTION)),
                             modality)


def sweep_spec() -> SweepSpec:
    """The sweep the sweep form describes, over the run form's settings without their augmentation."""
    modality = pair_modality()
    return form.sweep_spec(form.form_values(form.sweep_form(modality), st.session_state),
                           run_config(with_augmentation=False), lab_pipeline(modality))
