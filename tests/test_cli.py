"""Command line: `datasets` and `describe`, JSON output, one-line errors with exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _helpers import strict_json

from da_core.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_datasets_lists_builtins(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in ("printed-digits", "handwritten-digits", "textured-digits", "corrupted-digits"):
        assert f"builtin:{name}" in out
    assert main(["datasets", "--json", "--all"]) == 0
    rows = strict_json(capsys.readouterr().out)
    assert any(r["spec"] == "torchvision:MNIST" for r in rows)
    assert any(r["spec"] == "folder:PATH" for r in rows)


def test_describe_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["describe", "builtin:printed-digits?n=100&seed=1", "--json"]) == 0
    info = strict_json(capsys.readouterr().out)
    assert info["n"] == 100 and info["shape"] == [1, 28, 28]
    assert info["classes"] == [str(i) for i in range(10)]
    assert sum(info["counts"].values()) == 100 and info["counts"]["0"] == 10
    assert info["skipped"] == [] and len(info["fingerprint"]) == 24
    assert info["name"].startswith("builtin:printed-digits")


def test_describe_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["describe", "builtin:handwritten-digits?n=50"]) == 0
    out = capsys.readouterr().out
    assert "samples: 50" in out and "1x28x28" in out


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["describe", "builtin:nope"], "unknown builtin dataset"),
        (["describe", "nonsense"], "no scheme"),
        (["describe", "builtin:printed-digits?n=0"], "must be >= 10"),
        (["describe", "folder:/definitely/not/here"], "not/here"),
        (["describe"], "the following arguments are required: spec"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(args: list[str], fragment: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "da_core", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert fragment in lines[0]
    assert "Traceback" not in proc.stderr
