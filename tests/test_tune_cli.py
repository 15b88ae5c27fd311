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
