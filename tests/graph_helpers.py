"""Helpers for the graph and CLI tests: run the CLI in-process and read runs back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from graph.cli import main
from graph.summary import summarize
from tests.conftest import DEMO_DATA


def run_args(runs: Path, clip: Path, *extra: str, data: Path = DEMO_DATA) -> list[str]:
    return [
        "--runs-dir", str(runs), "run", "--data", str(data), "--clip", str(clip), "--llm", "scripted:",
        "--pool", "caption", "--pool-size", "6", *extra,
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
