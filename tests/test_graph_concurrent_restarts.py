"""Concurrent restarts (--parallel-restarts): each restart climbs in its own LangGraph subgraph, fanned out
with Send; the lanes merge into one leaderboard, resume exactly after kill -9, pause and go on together."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections import Counter

from promptclimb.graph.runs import read_calls
from promptclimb.prompts.template import normalize
from promptclimb.results.summary import summarize
from tests.graph_helpers import cli, only_run, run_args, show_json, start_cli, wait_for_first_checkpoint

GARBAGE = "I am sorry, but I cannot help with writing templates today."


def steps(run_dir) -> Counter:
    return Counter(c.step for c in read_calls(run_dir))


def llm_rows(summary: dict, restart: int) -> list[tuple]:
    rows = [r for r in summary["leaderboard"] if r["source"] == "llm" and r["restart"] == restart]
    return sorted((r["template"], r["iteration"], r["train_acc"], r["val_acc"]) for r in rows)


def test_restarts_climb_concurrently_into_one_leaderboard(tmp_path, tiny_clip, capsys):
    runs = {}
    for parallel in ("1", "3"):
        runs[parallel] = tmp_path / f"runs-{parallel}"
        args = run_args(runs[parallel], tiny_clip, "--iterations", "3", "--restarts", "3")
        assert cli(*args, "--parallel-restarts", parallel) == 0
    one, three = (show_json(runs[p], only_run(runs[p]), capsys) for p in ("1", "3"))
    assert three["status"] == "finished" and three["iterations_done"] == 9 and three["restarts_done"] == 3
    assert three["llm_calls"] == 9
    assert set(steps(only_run(runs["3"])).values()) == {1}, "an LLM step was asked twice"
    assert {r["restart"] for r in three["leaderboard"] if r["source"] == "llm"} == {0, 1, 2}
    keys = [normalize(r["template"]) for r in three["leaderboard"]]
    assert len(keys) == len(set(keys)), "one template twice on the merged leaderboard"
    # The first restart sees exactly what it sees when restarts run one after another (later ones differ
    # only by what earlier restarts had already tried).
    assert llm_rows(three, 0) == llm_rows(one, 0) and llm_rows(three, 0)
    best = max(three["leaderboard"], key=lambda r: r["train_acc"])
    assert three["final"]["train_acc"] >= best["train_acc"] - 1e-9 or three["final"]["selected"]


def test_kill_9_during_concurrent_restarts_then_resume(tmp_path, tiny_clip):
    rng = random.Random(os.environ.get("PROMPTCLIMB_TEST_SEED", "0"))
    runs = tmp_path / "runs"
    env = {"PROMPTCLIMB_SCRIPTED_DELAY": "0.05"}
    argv = run_args(runs, tiny_clip, "--iterations", "10", "--restarts", "3", "--parallel-restarts", "3")
    proc = start_cli("promptclimb.cli.main", argv, env)
    run_dir = wait_for_first_checkpoint(runs, proc)
    kills, seen_in_flight = 0, False
    for _ in range(3):
        # Kill while the lanes climb: once a few more LLM steps are logged (a loaded machine starts slowly).
        target = len(read_calls(run_dir)) + 3
        while proc.poll() is None and len(read_calls(run_dir)) < target:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.3))
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        s = summarize(run_dir)
        assert s["status"] == "paused"
        # While the lanes climb, show already counts their checkpointed steps.
        seen_in_flight |= s["restarts_done"] == 0 and s["iterations_done"] > 0
        proc = start_cli("promptclimb.cli.main", ["--runs-dir", str(runs), "resume", run_dir.name], env)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    assert kills >= 1, "the run finished before it could be killed: make it longer"
    assert seen_in_flight, "no kill landed while the restarts climbed"

    s = summarize(run_dir)
    assert s["status"] == "finished" and s["iterations_done"] == 30 and s["llm_calls"] == 30
    keys = [normalize(r["template"]) for r in s["leaderboard"]]
    assert len(keys) == len(set(keys)), "a template was scored twice"
    asked = steps(run_dir)
    assert len(asked) == 30
    # Each kill loses at most the calls in flight, one per lane; checkpointed steps are never asked again.
    assert sum(n - 1 for n in asked.values()) <= 3 * kills


def test_concurrent_restarts_pause_together_and_resume(tmp_path, tiny_clip, capsys):
    replies = tmp_path / "replies.jsonl"
    replies.write_text("\n".join(json.dumps(GARBAGE) for _ in range(40)) + "\n")
    runs = tmp_path / "runs"
    args = run_args(runs, tiny_clip, "--iterations", "2", "--restarts", "2", "--parallel-restarts", "2")
    args[args.index("scripted:")] = f"scripted:{replies}"
    assert cli(*args, "--max-unusable-steps", "1") == 3  # both lanes paused: resumable
    run_dir = only_run(runs)
    s = show_json(runs, run_dir, capsys)
    assert s["status"] == "paused" and "no usable template" in s["reason"]
    assert {r["restart"] for r in s["rejections"]} == {0, 1}, "show merges the paused lanes' rejections"

    good = {"templates": ["a sketch of a CLASSNAME.", "a drawing of a CLASSNAME."]}
    replies.write_text("\n".join(json.dumps(json.dumps(good)) for _ in range(40)) + "\n")
    again = ("resume", run_dir.name, "--llm", f"scripted:{replies}")  # a replies file: the user names it
    assert cli("--runs-dir", str(runs), *again) == 0  # one resume answers both pauses
    s = show_json(runs, run_dir, capsys)
    assert s["status"] == "finished" and s["iterations_done"] == 4
    assert [r["template"] for r in s["leaderboard"] if r["source"] == "llm"] != []
    merged = [r for r in s["rejections"] if "found concurrently" in r["reason"]]
    assert merged, "the second restart's copies of the first one's templates are recorded as duplicates"
    assert all(r["restart"] == 1 for r in merged)


def test_concurrent_restarts_split_the_call_budget(tmp_path, tiny_clip, capsys):
    runs = tmp_path / "runs"
    args = run_args(runs, tiny_clip, "--iterations", "4", "--restarts", "2", "--parallel-restarts", "2")
    assert cli(*args, "--max-llm-calls", "5") == 3
    run_dir = only_run(runs)
    s = show_json(runs, run_dir, capsys)
    assert s["status"] == "paused" and "budget" in s["reason"]
    assert s["llm_calls"] == 5 and len(read_calls(run_dir)) == 5  # 3 + 2: the shares add up to the whole
    assert cli("--runs-dir", str(runs), "resume", run_dir.name, "--max-llm-calls", "8") == 0
    s = show_json(runs, run_dir, capsys)
    assert s["status"] == "finished" and s["llm_calls"] == 8 and set(steps(run_dir).values()) == {1}


def test_replay_of_a_concurrent_run_is_exact(tmp_path, tiny_clip):
    from promptclimb.session.replay import replay

    runs = tmp_path / "runs"
    args = run_args(runs, tiny_clip, "--iterations", "3", "--restarts", "3", "--parallel-restarts", "3")
    assert cli(*args) == 0
    result = replay(only_run(runs))
    # Restarts ask in no fixed order: each stored reply goes back to the request it answered.
    assert result.identical and result.final_identical is not False, result.differences
