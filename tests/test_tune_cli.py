"""``python -m da_core tune``: the JSON shape (study, trials with params, state, validators, target accuracy and
run id; best per validator; agreement), and mistakes in one line with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from da_core.cli import main

PAIR = ["--source", "builtin:printed-digits?n=300", "--target", "builtin:handwritten-digits?n=300"]


def test_tune_prints_the_search_as_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "batch_size": {"choices": [16, 32]}}))
    assert main(["tune", *PAIR, "--max-steps", "3", "--device", "cpu", "--space", str(space), "--sampler", "grid",
                 "--trials", "2", "--validator", "iwv", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["study"].startswith("da-tune-") and out["validator"] == "iwv" and out["sampler"] == "grid"
    assert len(out["trials"]) == 2
    for trial in out["trials"]:
        assert set(trial) >= {"number", "params", "state", "validators", "target_acc", "run_id"}
        assert trial["params"]["lr"] in (0.001, 0.00316228, 0.01) and trial["params"]["batch_size"] in (16, 32)
        assert set(trial["validators"]) >= {"iwv", "source-acc", "im", "target-acc"}  # by validator name
    assert out["best"]["iwv"]["trial"] in (0, 1) and "params" in out["best"]["iwv"]
    assert set(out["agreement"]["iwv"]) == {"spearman", "regret"}


def test_tune_mistakes_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"epochs": {"low": 1, "high": 3}}))
    assert main(["tune", *PAIR, "--space", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'epochs' cannot be tuned" in err[0]
    assert main(["tune", *PAIR, "--validator", "nope"]) == 2
    assert "validator: unknown 'nope'" in capsys.readouterr().err


def test_tune_on_ray_without_ray_says_how_to_install_it(capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import da_core.scale
    from da_core.train.store import get_store

    monkeypatch.setattr(da_core.scale, "ray_available", lambda: False)  # as if Ray were not installed
    before = len(get_store().list_sweeps())
    assert main(["tune", *PAIR, "--max-steps", "2", "--trials", "1", "--backend", "ray"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "requirements-scale.txt" in err[0]
    assert len(get_store().list_sweeps()) == before  # nothing recorded


def test_tune_hands_the_ray_options_to_the_search(capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import da_core.scale
    import da_core.tune

    seen: dict = {}

    def fake_run_tune(spec, store, **kwargs):  # type: ignore[no-untyped-def]
        seen.update(kwargs)
        return {"search_id": 1, "status": "finished", "trials": [], "seconds": 0.0, "best": {}, "agreement": {}}

    monkeypatch.setattr(da_core.scale, "ray_available", lambda: True)
    monkeypatch.setattr(da_core.tune, "run_tune", fake_run_tune)
    main(["tune", *PAIR, "--max-steps", "2", "--backend", "ray", "--ray-cpus", "2", "--ray-gpus", "0.5",
          "--ray-workers", "3", "--ray-address", "ray://head:10001"])
    assert seen["backend"] == "ray"
    assert (seen["ray"].address, seen["ray"].cpus_per_run, seen["ray"].gpus_per_run, seen["ray"].workers) == (
        "ray://head:10001", 2.0, 0.5, 3)
    assert main(["tune", *PAIR, "--backend", "ray", "--validator", "iwv", "--cv-folds", "3"]) == 2  # not on Ray
    assert "cv_folds" in capsys.readouterr().err
