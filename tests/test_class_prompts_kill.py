"""kill -9 a class-specific run (--space classes) at random moments: it resumes exactly, to the same end."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections import Counter

import pytest

from promptclimb.graph.runs import read_calls
from promptclimb.results.summary import summarize
from tests.conftest import DEMO_DATA
from tests.graph_helpers import cli, only_run, start_cli, wait_for_first_checkpoint

pytestmark = pytest.mark.slow


def argv(runs, tiny_clip) -> list[str]:
    return [
        "--runs-dir", str(runs), "run", "--data", str(DEMO_DATA), "--clip", str(tiny_clip),
        "--llm", "scripted:", "--pool", "caption", "--pool-size", "4", "--space", "classes",
        "--class-batch", "2", "--iterations", "8", "--restarts", "2",
    ]  # fmt: skip


def test_kill_9_then_resume_ends_exactly_where_an_uninterrupted_run_ends(tmp_path, tiny_clip):
    straight = tmp_path / "straight"
    assert cli(*argv(straight, tiny_clip)) == 0
    expected = summarize(only_run(straight))

    rng = random.Random(os.environ.get("PROMPTCLIMB_TEST_SEED", "0"))
    runs = tmp_path / "runs"
    env = {"PROMPTCLIMB_SCRIPTED_DELAY": "0.05"}
    proc = start_cli("promptclimb.cli.main", argv(runs, tiny_clip), env)
    run_dir = wait_for_first_checkpoint(runs, proc)
    kills = 0
    for _ in range(3):
        time.sleep(rng.uniform(0.3, 1.5))
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        proc = start_cli("promptclimb.cli.main", ["--runs-dir", str(runs), "resume", run_dir.name], env)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    assert kills >= 1, "the run finished before it could be killed: make it longer"

    s = summarize(run_dir)
    assert s["status"] == "finished" and s["iterations_done"] == 16 and s["llm_calls"] == 16
    assert s["final"] == expected["final"] and s["class_prompts"] == expected["class_prompts"]
    assert s["leaderboard"] == expected["leaderboard"]
    asked = Counter(json.dumps(c.request) for c in read_calls(run_dir))
    straight_asked = Counter(json.dumps(c.request) for c in read_calls(only_run(straight)))
    assert sum((asked - straight_asked).values()) <= kills  # only a call in flight at a kill is asked again
    assert not straight_asked - asked
