"""Helpers for the graph and CLI tests: run the CLI in-process and read runs back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from promptclimb.cli.main import main
from promptclimb.results.summary import summarize
from tests.conftest import DEMO_DATA, ROOT


def run_args(runs: Path, clip: Path, *extra: str, data: Path = DEMO_DATA) -> list[str]:
    return [
        "--runs-dir", str(runs), "run", "--data", str(data), "--clip", str(clip), "--llm", "scripted:",
        "--pool", "caption", "--pool-size", "6", "--space", "templates", *extra,
    ]  # fmt: skip


def only_run(runs: Path) -> Path:
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    return run_dir


def cli(*argv: str) -> int:
    return main(list(argv))


def show_json(runs: Path, run_dir: Path, capsys: Any) -> dict[str, Any]:
    capsys.readouterr()
    assert cli("--runs-dir", str(runs), "show", str(run_dir), "--json") == 0
    return json.loads(capsys.readouterr().out)


def summary(run_dir: Path) -> dict[str, Any]:
    return summarize(run_dir)


def start_cli(module: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    """`python -m MODULE ARGV` from the repository root, in a new process (for kill -9 tests)."""
    return subprocess.Popen(
        [sys.executable, "-m", module, *argv],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_first_checkpoint(runs: Path, proc: subprocess.Popen, timeout: float = 120) -> Path:
    """The run directory, once its checkpoint file exists; fails if the process died first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(runs.glob("*/checkpoints.sqlite")) if runs.exists() else []
        if found:
            return found[0].parent
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    raise AssertionError("the run never checkpointed")
