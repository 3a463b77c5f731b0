"""A run paused by promptclimb 0.2.0 (tests/reference/run-0.2.0) resumes to the end with today's code.

The stored run: the demo data, the tiny random CLIP of tests/clip_fixtures.py, the scripted LLM, 3 iterations
x 2 restarts, paused by --max-llm-calls 3 after restart 1. Its config.json names the machine's paths of then,
so the test points them at this checkout's demo data and a fresh tiny CLIP (seeded: the same weights).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from promptclimb.graph.runs import read_calls
from tests.conftest import DEMO_DATA, ROOT
from tests.graph_helpers import cli, show_json

REFERENCE = ROOT / "tests" / "reference" / "run-0.2.0"
RUN_ID = "20261203-182429-clothing-mini-1shot-s1"


def stored_run(runs: Path, clip: Path) -> Path:
    run_dir = runs / RUN_ID
    shutil.copytree(REFERENCE, run_dir)
    config_path = run_dir / "config.json"
    config = json.loads(config_path.read_text())
    config.update(data=str(DEMO_DATA), clip=str(clip))
    config_path.write_text(json.dumps(config, indent=2))
    return run_dir


def test_a_0_2_0_checkpoint_resumes_to_the_end_without_repeating_work(tmp_path, tiny_clip, capsys):
    runs = tmp_path / "runs"
    run_dir = stored_run(runs, tiny_clip)
    before = show_json(runs, run_dir, capsys)
    assert before["status"] == "paused" and before["llm_calls"] == 3
    assert before["iterations_done"] == 3 and before["restarts_done"] == 1
    old_calls = read_calls(run_dir)

    assert cli("--runs-dir", str(runs), "resume", RUN_ID, "--max-llm-calls", "10") == 0
    after = show_json(runs, run_dir, capsys)
    assert after["status"] == "finished"
    assert after["iterations_done"] == 6 and after["restarts_done"] == 2
    calls = read_calls(run_dir)
    assert after["llm_calls"] == len(calls) == 6
    assert [c.reply for c in calls[:3]] == [c.reply for c in old_calls]  # nothing asked twice
    assert [c.step for c in calls[3:]] == [f"restart 1, iteration {i}" for i in (1, 2, 3)]
    board = {r["template"]: r for r in after["leaderboard"]}
    for row in before["leaderboard"]:  # restart 1's scores survive, none re-scored differently
        assert board[row["template"]]["train_acc"] == row["train_acc"]
    assert after["final"]["template"] == after["leaderboard"][0]["template"]
