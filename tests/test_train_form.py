"""The Training page's forms as data (da_core.train.form): one declaration of each widget, and the run and sweep
the values describe."""

from __future__ import annotations

import pytest

from da_core.errors import DAError, SpecError
from da_core.train import form
from da_core.train.config import TrainConfig
from da_core.train.sweep import ROTATION_AFFINE

SOURCE, TARGET = "builtin:printed-digits?n=60", "builtin:handwritten-digits?n=60"


def _values(**changes: object) -> dict[str, object]:
    """The run form's values on a first visit, with some changed (keyed by option, as form_values gives them)."""
    values = form.form_values(form.TRAIN_FORM, {})
    values.update(changes)
    return values


def test_every_widget_has_one_key_and_the_keys_tests_and_scripts_use() -> None:
    keys = [f.key for f in (*form.TRAIN_FORM.values(), *form.SWEEP_FORM.values())]
    assert len(keys) == len(set(keys))
    assert {"tr_max_steps", "tr_batch", "tr_device", "tr_seed"} <= set(keys)
    assert all(k.startswith("tr_") for k in (f.key for f in form.TRAIN_FORM.values()))
    assert all(k.startswith("sw_") for k in (f.key for f in form.SWEEP_FORM.values()))
    options = {f.name for f in TrainConfig.__dataclass_fields__.values()}
    assert set(form.TRAIN_FORM) - options == {"augmentation", "pipeline_json", "adversarial"}  # the rest: options


def test_form_values_read_each_key_and_fall_back_to_the_default() -> None:
    values = form.form_values(form.TRAIN_FORM, {"tr_batch": 32, "unrelated": 1})
    assert values["batch_size"] == 32 and values["epochs"] == TrainConfig().epochs and "unrelated" not in values


def test_the_first_visit_form_is_the_default_run() -> None:
    config = form.train_config(_values(), SOURCE, TARGET)
    assert config.to_dict() == TrainConfig(source=SOURCE, target=TARGET).to_dict()


def test_widget_values_become_typed_options() -> None:
    config = form.train_config(_values(lr=0.01, epochs=3.0, max_steps=6.0, batch_size=32.0, dann=1, strength=0.5),
                               SOURCE, TARGET, selection={"source_subset": [0, 2]})
    assert config.lr == 0.01 and config.epochs == 3 and isinstance(config.epochs, int)
    assert config.max_steps == 6 and config.batch_size == 32 and config.dann is True
    assert config.strength is None and config.pipeline is None  # no augmentation: no strength
    assert config.source_subset == [0, 2]
    augmented = form.train_config(_values(strength=0.5), SOURCE, TARGET, ROTATION_AFFINE)
    assert augmented.pipeline == ROTATION_AFFINE and augmented.strength == 0.5 and augmented.augmented
    with pytest.raises(SpecError, match="batch_size"):
        form.train_config(_values(batch_size=1), SOURCE, TARGET)


def test_an_augmentation_choice_names_its_pipeline() -> None:
    lab = {"ops": [{"name": "shear"}], "strength": 0.3, "seed": 1}
    assert form.pipeline_choice(form.NO_AUGMENTATION, lab) is None
    assert form.pipeline_choice(form.LAB_PIPELINE, lab) is lab
    assert form.pipeline_choice(form.ROTATION_PRESET) == ROTATION_AFFINE
    assert form.pipeline_choice(form.PIPELINE_JSON, None, '{"ops": []}') == {"ops": []}
    assert form.pipeline_choice(form.PIPELINE_JSON, None, "") is None
    with pytest.raises(DAError, match="open it first"):
        form.pipeline_choice(form.LAB_PIPELINE, None)
    with pytest.raises(DAError, match="pipeline JSON"):
        form.pipeline_choice(form.PIPELINE_JSON, None, "{nope")
    assert set(form.SWEEP_AUGMENTATIONS) <= set(form.AUGMENTATIONS) and form.NO_AUGMENTATION not in \
        form.SWEEP_AUGMENTATIONS


def test_the_sweep_form_describes_a_sweep_over_the_run_settings() -> None:
    base = form.train_config(_values(), SOURCE, TARGET)
    values = form.form_values(form.SWEEP_FORM, {})
    spec = form.sweep_spec(values, base).validate()
    assert spec.pipeline == ROTATION_AFFINE and spec.strengths == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert spec.seeds == [0, 1] and spec.lrs is None
    spec = form.sweep_spec({**values, "strengths": "0.5; 1", "seeds": 1, "lrs": "0.01, 0.001"}, base).validate()
    assert spec.strengths == [0.0, 0.5, 1.0] and spec.seeds == [0] and spec.lrs == [0.01, 0.001]
    with pytest.raises(DAError, match="comma-separated numbers"):
        form.sweep_spec({**values, "strengths": "0, lots"}, base)
    with pytest.raises(DAError, match="open it first"):
        form.sweep_spec({**values, "augmentation": form.LAB_PIPELINE}, base)


def _selection_csv(source: object, use: str, fingerprint: str | None = None) -> bytes:
    """A Selection-page CSV over ``source``: every other sample kept, weights 0, 1, 2, ..."""
    import pandas as pd

    n = len(source.uids)
    frame = pd.DataFrame({"uid": source.uids, "domain": "source", "origin": SOURCE,
                          "weight": list(map(float, range(n))), "selected": [i % 2 == 0 for i in range(n)], "use": use,
                          "fingerprint": fingerprint or source.fingerprint, "method": "knn-similarity",
                          "fraction": 0.5, "params": '{"k": 10}'})
    return frame.to_csv(index=False).encode()


def test_a_handed_selection_is_checked_and_counted_as_the_run_will_read_it() -> None:
    from da_core.data import load_dataset

    source = load_dataset(SOURCE)
    subset = form.hand_selection(_selection_csv(source, "subset"), "sel.csv", source)
    assert (subset.n, subset.use, subset.name) == (30, "subset", "sel.csv")
    assert subset.describe() == "Selection from the Selection page: 30 samples (subset), `sel.csv`."
    weights = form.hand_selection(_selection_csv(source, "weights"), "w.csv", source)
    assert (weights.n, weights.use) == (59, "weights")  # every sample but the one of weight 0
    assert "importance weights" in weights.describe()
    with pytest.raises(SpecError, match="another dataset"):
        form.hand_selection(_selection_csv(source, "subset", "0" * 24), "x.csv", source)


def test_an_uploaded_csv_takes_the_place_of_a_handed_selection() -> None:
    handed = form.HandedSelection(b"handed", "h.csv", 3, "subset")
    assert form.selection_csv(b"uploaded", handed) == b"uploaded"
    assert form.selection_csv(None, handed) == b"handed"
    assert form.selection_csv(None, None) is None
    assert form.SELECTION_HANDOFF == "tr_selection_csv" and form.SELECTION_HANDOFF not in \
        {f.key for f in form.TRAIN_FORM.values()}


def test_the_adversarial_choice_and_the_schedule_become_options() -> None:
    values = form.form_values(form.TRAIN_FORM, {"tr_adv": "PGD", "tr_strength": 0.4, "tr_ssched": "adaptive",
                                                "tr_affinity": 0.8, "tr_adv_share": 0.25})
    cfg = form.train_config(values, "builtin:printed-digits", "builtin:handwritten-digits")
    assert (cfg.objective, cfg.adv_method, cfg.adv_share) == ("adversarial", "pgd", 0.25)
    assert cfg.strength == 0.4 and cfg.pipeline is None  # adversarial examples alone still have a strength
    assert (cfg.strength_schedule, cfg.target_affinity) == ("adaptive", 0.8)
    plain = form.train_config(form.form_values(form.TRAIN_FORM, {}), "builtin:printed-digits",
                              "builtin:handwritten-digits")
    assert plain.objective == "cross-entropy" and plain.strength is None
    sweep = form.sweep_spec({**form.form_values(form.SWEEP_FORM, {}), "schedules": ["constant", "adaptive"]}, plain)
    assert sweep.schedules == ["constant", "adaptive"]


def test_a_form_says_where_its_runs_go() -> None:
    from da_core.scale import ray_available

    assert form.backend_choice({}) == ("local", None)
    assert form.backend_choice(form.form_values(form.SWEEP_FORM, {})) == ("local", None)
    with pytest.raises(SpecError, match="backend"):
        form.backend_choice({"backend": "spark"})
    if ray_available():
        backend, options = form.backend_choice({"backend": "ray", "ray_cpus": 2.0, "ray_gpus": 0.5})
        assert backend == "ray" and (options.cpus_per_run, options.gpus_per_run) == (2.0, 0.5)
    else:
        with pytest.raises(SpecError, match="requirements-scale.txt"):
            form.backend_choice({"backend": "ray"})
