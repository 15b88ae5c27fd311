"""Command line: `ops` and `augment` (JSON shape, sheet, exported code, one-line errors with exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _helpers import strict_json

from da_core.augment import OPS
from da_core.cli import main

SMALL = ["--max-samples", "200"]  # the default pair, capped


def test_ops_lists_every_op_with_its_ranges(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ops", "--json"]) == 0
    rows = strict_json(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list(OPS)
    rotation = rows[0]["knobs"][0]
    assert rotation["name"] == "degrees_range"
    assert rotation["at_strength_0"] == [0.0, 0.0] and rotation["at_strength_1"] == [-135.0, 135.0]
    assert main(["ops"]) == 0
    text = capsys.readouterr().out
    assert "rotation" in text and "degrees_range [0, 0] → [-135, 135]" in text and "augmix" in text
    assert main(["ops", "--modality", "text", "--json"]) == 0
    text_rows = strict_json(capsys.readouterr().out)
    assert {r["name"] for r in text_rows} >= {"synonym_replacement", "random_deletion", "aeda", "char_noise"}
    assert {r["modality"] for r in text_rows} == {"text"} and "rotation" not in {r["name"] for r in text_rows}


def test_augment_json_sheet_and_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = tmp_path / "p.json"
    pipeline.write_text(json.dumps({"ops": [{"name": "rotation"}, {"name": "gaussian_blur", "p": 0.5}],
                                    "strength": 0.4, "seed": 3}))
    sheet, code = tmp_path / "sheet.png", tmp_path / "pipe.py"
    args = ["augment", *SMALL, "--pipeline", str(pipeline), "--strengths", "0,0.5,1", "--json",
            "--sheet", str(sheet), "--code", str(code)]
    assert main(args) == 0
    data = strict_json(capsys.readouterr().out)
    assert data["strengths"] == [0.0, 0.5, 1.0]
    assert [r["strength"] for r in data["results"]] == data["strengths"]
    for row in data["results"]:
        assert {"strength", "affinity", "label_flip_rate", "gap_to_target"} <= set(row)
    assert data["results"][0]["affinity"] == 1.0 and data["results"][2]["affinity"] < 1.0
    assert data["sweet_spot"] in data["strengths"] and data["explanation"]
    assert sheet.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(sheet) as img:
        assert img.width > 3 * 28 * 4 and img.height > 8 * 28  # 8 rows, 3 strength columns + target
    source = code.read_text()
    assert "v2.RandomRotation" in source and "v2.GaussianBlur" in source
    proc = subprocess.run([sys.executable, str(code)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "torch.Size([8, 1, 28, 28]) torch.uint8" in proc.stdout


def test_augment_text_default_pipeline(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["augment", *SMALL, "--strengths", "0,0.1"]) == 0
    out = capsys.readouterr().out
    assert "affinity" in out and "sweet spot" in out and "rotation ±1.35°" in out


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"ops": [{"name": "rotation"}, {"name": "gaussian_blur", "sigma_range": [3, 1]}]}',
         "ops[1].sigma_range"),
        ('{"ops": [{"name": "rotashun"}]}', "ops[0].name"),
        ('{"ops": [], "strength": 2}', "strength"),
        ('{"ops": [', "not valid JSON"),
    ],
)
def test_bad_pipeline_exits_2_naming_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str,
                                               fragment: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    assert main(["augment", *SMALL, "--pipeline", str(bad)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and str(bad) in err and len(err.strip().splitlines()) == 1


def test_missing_pipeline_and_bad_strengths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["augment", "--pipeline", str(tmp_path / "nope.json")]) == 2
    assert "nope.json" in capsys.readouterr().err
    for bad in ("0,2", "a,b", ","):
        with pytest.raises(SystemExit) as exc:
            main(["augment", "--strengths", bad])
        assert exc.value.code == 2
        assert "--strengths" in capsys.readouterr().err
