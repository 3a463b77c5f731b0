"""kill -9 right after a reply reaches llm_calls.jsonl, before its step is checkpointed: the resumed run
reuses the logged reply instead of paying for the step again, and the state counts every logged call once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from promptclimb.graph.runs import read_calls
from tests.conftest import ROOT
from tests.graph_helpers import cli, only_run, run_args, show_json

# The CLI in a child that SIGKILLs itself as soon as one call record is durably in the log.
DIE_AFTER_LOGGING = """
import os, signal, sys
import promptclimb.session.classify as session
from promptclimb.cli.main import main
logged = session.append_call
def log_then_die(run_dir, call):
    logged(run_dir, call)
    os.kill(os.getpid(), signal.SIGKILL)
session.append_call = log_then_die
sys.exit(main(sys.argv[1:]))
"""


def killed_after_logging(argv: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", DIE_AFTER_LOGGING, *argv],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def test_a_reply_logged_before_a_kill_is_reused_not_asked_again(
    tmp_path: Path, tiny_clip: Path, capsys
) -> None:
    runs = tmp_path / "runs"
    killed_after_logging(run_args(runs, tiny_clip, "--iterations", "2", "--restarts", "1"))
    run_dir = only_run(runs)
    # The logged first step reused, then the second asked, logged and killed.
    killed_after_logging(["--runs-dir", str(runs), "resume", run_dir.name])
    assert len(read_calls(run_dir)) == 2
    assert cli("--runs-dir", str(runs), "resume", run_dir.name) == 0  # the second step's reply is reused

    records = read_calls(run_dir)
    asked = [(c.step, json.dumps(c.request)) for c in records]
    assert len(asked) == len(set(asked)), f"a step was asked again: {[c.step for c in records]}"
    assert {c.step for c in records} == {f"restart 0, iteration {i}" for i in (1, 2)}
    shown = show_json(runs, run_dir, capsys)
    assert shown["status"] == "finished" and shown["iterations_done"] == 2
    assert shown["llm_calls"] == len(records), "a paid call is missing from the count"
    assert shown["usage"]["input_tokens"] == sum(c.input_tokens for c in records) > 0
    assert shown["usage"]["cost_usd"] == sum(c.cost_usd for c in records)
