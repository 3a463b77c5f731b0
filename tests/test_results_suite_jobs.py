"""promptclimb bench --jobs N: concurrent cells give the tables of a sequential suite, stop together on a
Ctrl-C, and survive kill -9 mid-flight without asking or scoring anything twice."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

import promptclimb.graph.wiring
from promptclimb.graph.runs import read_calls, read_status
from promptclimb.prompts.template import normalize
from promptclimb.results.suite import cells, load_suite
from promptclimb.results.summary import summarize
from tests.graph_helpers import cli, start_cli
from tests.test_results_suite import tiny_suite  # noqa: F401 (the fixture)


def run_bench(runs: Path, suite: Path, *extra: str) -> int:
    return cli("--runs-dir", str(runs), "bench", str(suite), *extra)


def suite_tables(runs: Path) -> tuple[str, str]:
    """suite.csv and suite.md without the lines that name the run directory."""
    md = "\n".join(
        line for line in (runs / "tiny" / "suite.md").read_text().splitlines() if "Suite file" not in line
    )
    return (runs / "tiny" / "suite.csv").read_text(), md


def cell_results(runs: Path, suite: Path) -> dict[str, dict]:
    grid = cells(load_suite(suite), runs / "tiny")
    results = {}
    for cell in grid:
        s = summarize(runs / "tiny" / cell.id)
        results[cell.id] = {"status": s["status"], "leaderboard": s["leaderboard"], "final": s["final"]}
    return results


@pytest.fixture
def reference(tiny_suite: Path, tmp_path: Path) -> Path:  # noqa: F811
    """The suite run the way it always was: one cell after the other."""
    runs = tmp_path / "sequential"
    assert run_bench(runs, tiny_suite) == 0
    return runs


def test_two_jobs_give_the_tables_of_one(tiny_suite, reference, tmp_path, capsys):  # noqa: F811
    runs = tmp_path / "concurrent"
    capsys.readouterr()
    assert run_bench(runs, tiny_suite, "--jobs", "2") == 0
    err = capsys.readouterr().err
    assert "10 cells" in err and "2 at a time" in err
    assert err.count(": finished (") == 10  # one labelled line per cell that ended
    assert "(10/10 done, " in err and "had no weights and ran with random ones" in err
    assert suite_tables(runs) == suite_tables(reference)
    assert cell_results(runs, tiny_suite) == cell_results(reference, tiny_suite)


def test_an_interrupt_in_one_cell_pauses_all_of_them(tiny_suite, reference, tmp_path, monkeypatch):  # noqa: F811
    runs = tmp_path / "concurrent"
    real_evaluate, calls = promptclimb.graph.wiring.evaluate, []

    def interrupting(state, runtime):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt  # as a Ctrl-C does in a sequential suite
        return real_evaluate(state, runtime)

    monkeypatch.setattr(promptclimb.graph.wiring, "evaluate", interrupting)
    assert run_bench(runs, tiny_suite, "--jobs", "3") == 130
    grid = cells(load_suite(tiny_suite), runs / "tiny")
    statuses = [read_status(runs / "tiny" / c.id)[0] for c in grid if (runs / "tiny" / c.id).exists()]
    assert "paused" in statuses and "running" not in statuses
    assert len(statuses) < len(grid)  # the queued cells were never started

    monkeypatch.setattr(promptclimb.graph.wiring, "evaluate", real_evaluate)
    assert run_bench(runs, tiny_suite, "--jobs", "3") == 0
    assert suite_tables(runs) == suite_tables(reference)
    assert cell_results(runs, tiny_suite) == cell_results(reference, tiny_suite)


@pytest.fixture
def longer_suite(tiny_suite: Path, tmp_path: Path) -> Path:  # noqa: F811
    """The tiny suite with 3 LLM iterations per cell: long enough to be killed in the middle."""
    text = tiny_suite.read_text()
    assert "iterations = 1\n" in text
    path = tmp_path / "longer" / "tiny.toml"
    path.parent.mkdir()
    path.write_text(text.replace("iterations = 1\n", "iterations = 3\n"))
    return path


def test_kill_9_mid_flight_then_resume_repeats_nothing(longer_suite, tmp_path):
    rng = random.Random(os.environ.get("PROMPTCLIMB_TEST_SEED", "0"))
    reference = tmp_path / "sequential"
    assert run_bench(reference, longer_suite) == 0
    runs = tmp_path / "concurrent"
    argv = ["--runs-dir", str(runs), "bench", str(longer_suite), "--jobs", "3"]
    env = {"PROMPTCLIMB_SCRIPTED_DELAY": "0.5"}  # LLM cells stay in flight long enough to be killed

    proc = start_cli("promptclimb.cli.main", argv, env)
    wait_for_new_llm_calls(runs, proc, 0)
    proc.send_signal(signal.SIGINT)  # Ctrl-C: every running cell pauses, resumable
    assert proc.wait(timeout=120) == 130, proc.stderr.read()
    statuses = {p.name: read_status(p)[0] for p in (runs / "tiny").iterdir() if (p / "config.json").exists()}
    assert "running" not in statuses.values() and "paused" in statuses.values()

    kills = 0
    for _ in range(3):  # kill -9 while cells are asking the LLM, resume, kill again...
        proc = start_cli("promptclimb.cli.main", argv, env)
        if not wait_for_new_llm_calls(runs, proc, logged_calls(runs)):
            break  # finished before it could be killed
        time.sleep(rng.uniform(0.0, 1.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
    if proc.poll() is None or proc.returncode != 0:
        proc = start_cli("promptclimb.cli.main", argv, env)
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
    assert kills >= 2, "the suite finished before it could be killed: make it longer"

    for cell in cells(load_suite(longer_suite), runs / "tiny"):
        run_dir = runs / "tiny" / cell.id
        s = summarize(run_dir)
        assert s["status"] == "finished", cell.id
        keys = [normalize(r["template"]) for r in s["leaderboard"]]
        assert len(keys) == len(set(keys)), f"{cell.id}: a template was scored twice"
        # Each stop loses at most the one LLM call in flight per cell; checkpointed steps are never re-asked.
        asked = [json.dumps(c.request) for c in read_calls(run_dir)]
        assert len(asked) - len(set(asked)) <= kills + 1, cell.id  # + 1: the Ctrl-C
        assert s["llm_calls"] <= len(asked) <= s["llm_calls"] + kills + 1
    assert suite_tables(runs) == suite_tables(reference)
    assert cell_results(runs, longer_suite) == cell_results(reference, longer_suite)


def logged_calls(runs: Path) -> int:
    files = (runs / "tiny").glob("*/llm_calls.jsonl") if (runs / "tiny").exists() else []
    return sum(len(path.read_text().splitlines()) for path in files)


def wait_for_new_llm_calls(runs: Path, proc: subprocess.Popen, before: int, timeout: float = 120) -> bool:
    """True once the process has logged an LLM call beyond ``before``; False if it exited first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if logged_calls(runs) > before:
            return True
        if proc.poll() is not None:
            assert proc.returncode == 0, proc.stderr.read()
            return False
        time.sleep(0.05)
    raise AssertionError("no cell asked the LLM")


def test_an_edited_suite_stops_every_job(tiny_suite, tmp_path, capsys):  # noqa: F811
    runs = tmp_path / "runs"
    grid = cells(load_suite(tiny_suite), runs / "tiny")
    edited = grid[4]
    (runs / "tiny" / edited.id).mkdir(parents=True)
    edited.config.model_copy(update={"pool": "clip-imagenet"}).save(runs / "tiny" / edited.id / "config.json")
    assert run_bench(runs, tiny_suite, "--jobs", "2") == 2
    assert "another configuration" in capsys.readouterr().err
    started = [c for c in grid if (runs / "tiny" / c.id / "config.json").exists()]
    assert len(started) < len(grid) - 1  # the queued cells were never started
