"""kill -9 a running `promptclimb run` at random moments, resume in a new process, and check nothing is
scored twice, no checkpointed LLM step is asked again, and the run finishes."""

from __future__ import annotations

import json
import os
import random
import signal
import time

from promptclimb.graph.runs import read_calls
from promptclimb.prompts.template import normalize
from promptclimb.results.summary import summarize
from tests.conftest import DEMO_DATA
from tests.graph_helpers import cli, only_run, start_cli, wait_for_first_checkpoint


def test_kill_9_then_resume_finishes_without_repeating_work(tmp_path, tiny_clip):
    rng = random.Random(os.environ.get("PROMPTCLIMB_TEST_SEED", "0"))
    runs = tmp_path / "runs"
    env = {"PROMPTCLIMB_SCRIPTED_DELAY": "0.05"}
    argv = [
        "--runs-dir", str(runs), "run", "--data", str(DEMO_DATA), "--clip", str(tiny_clip),
        "--space", "templates",
        "--llm", "scripted:", "--pool", "caption", "--pool-size", "6",
        "--iterations", "12", "--restarts", "2",
    ]  # fmt: skip
    proc = start_cli("promptclimb.cli.main", argv, env)
    run_dir = wait_for_first_checkpoint(runs, proc)
    kills = 0
    for _ in range(3):  # kill at a random point, resume, kill again...
        time.sleep(rng.uniform(0.2, 1.5))
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        assert summarize(run_dir)["status"] == "paused"
        proc = start_cli("promptclimb.cli.main", ["--runs-dir", str(runs), "resume", run_dir.name], env)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    assert kills >= 1, "the run finished before it could be killed: make it longer"

    s = summarize(run_dir)
    assert s["status"] == "finished" and s["final"] is not None
    assert s["iterations_done"] == 24
    keys = [normalize(r["template"]) for r in s["leaderboard"]]
    assert len(keys) == len(set(keys)), "a template was scored twice"
    logged = read_calls(run_dir)
    # The same run, never killed: a step may ask twice (a reply of duplicates is asked again), so the count
    # to meet is its count, not one a step; the killed run must also end where it ends.
    whole = tmp_path / "whole"
    assert cli("--runs-dir", str(whole), *argv[2:]) == 0
    uninterrupted = summarize(only_run(whole))
    assert s["llm_calls"] == uninterrupted["llm_calls"] >= 24
    assert s["final"] == uninterrupted["final"] and s["leaderboard"] == uninterrupted["leaderboard"]
    # Each kill can lose at most the one LLM call in flight; checkpointed steps are never asked again.
    assert s["llm_calls"] <= len(logged) <= s["llm_calls"] + kills
    asked = [json.dumps(c.request) for c in logged]
    assert len(asked) - len(set(asked)) <= kills
