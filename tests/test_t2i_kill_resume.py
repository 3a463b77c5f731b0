"""kill -9 a running text-to-image run at random moments, resume it in a new process, and check that it
finishes with nothing generated or asked twice beyond the one step in flight at each kill."""

from __future__ import annotations

import os
import random
import signal
import time

import pytest

from promptclimb.graph.runs import read_calls, read_status
from promptclimb.graph.t2i.session import current_t2i_state
from promptclimb.prompts.template import normalize
from tests.graph_helpers import start_cli, wait_for_first_checkpoint
from tests.t2i_helpers import KEY_ENV, QUERY, endpoints, serve


@pytest.fixture
def server(monkeypatch):
    yield from serve(monkeypatch)


def test_kill_9_then_resume_finishes_without_repeating_work(tmp_path, server):
    assert KEY_ENV in os.environ
    rng = random.Random(os.environ.get("PROMPTCLIMB_TEST_SEED", "0"))
    server.image_delay_s = 0.12  # a generation takes a while, as with a real API
    runs = tmp_path / "runs"
    iterations = 6
    argv = [
        "--runs-dir",
        str(runs),
        "t2i",
        QUERY,
        "--iterations",
        str(iterations),
        "--keep-going",
        *endpoints(server),
    ]
    proc = start_cli("promptclimb.cli.t2i", argv)
    run_dir = wait_for_first_checkpoint(runs, proc, timeout=60)
    kills = 0
    for _ in range(3):
        time.sleep(rng.uniform(0.3, 1.2))
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        assert read_status(run_dir)[0] == "paused"
        # The run's own fake server is on loopback: resuming it is the user's explicit choice.
        resume = ["--runs-dir", str(runs), "resume", run_dir.name, "--trust-run-llm"]
        proc = start_cli("promptclimb.cli.t2i", resume)
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    assert kills >= 1, "the run finished before it could be killed: make it longer"

    state = current_t2i_state(run_dir)
    assert read_status(run_dir)[0] == "finished" and state["final"] is not None
    assert state["iterations_done"] == iterations
    candidates = state["candidates"]
    assert len(candidates) == 1 + 2 * iterations
    prompts = [normalize(c.prompt) for c in candidates]
    assert len(prompts) == len(set(prompts)), "a prompt was scored twice"
    assert all((run_dir / c.image).is_file() for c in candidates)
    # Each kill loses at most the image in flight; one finished on disk is reused, not paid for twice.
    generated = len(server.image_requests())
    assert len(candidates) <= generated <= len(candidates) + kills
    assert state["image_usage"].images == len(candidates)
    assert state["image_usage"].cost_usd == pytest.approx(0.04 * len(candidates))  # each counted image once
    # ... and at most the one LLM call in flight; checkpointed steps are never asked again.
    logged = read_calls(run_dir)
    assert state["usage"].calls <= len(logged) <= state["usage"].calls + kills
