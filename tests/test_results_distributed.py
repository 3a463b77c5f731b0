"""promptclimb bench --ray: the tiny suite on a local Ray cluster gives the sequential run's table; a finished
cell is skipped; a worker killed in the middle of a cell is retried and the cell resumes from its checkpoint,
asking the LLM no step twice."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from promptclimb.graph.runs import read_status
from promptclimb.results.suite import cells, load_suite
from promptclimb.session.distributed import RayError, RayOptions, connect, run_suite_on_ray
from tests.conftest import ROOT
from tests.graph_helpers import cli
from tests.test_results_suite import tiny_suite  # noqa: F401 (the fixture)

if sys.version_info >= (3, 11):
    pass
else:  # Python 3.10
    pass

ray = pytest.importorskip("ray")

CRASH_MARKER_ENV = "PROMPTCLIMB_TEST_RAY_CRASH_MARKER"
CRASH_CELL = {"method": "pos+neg", "seed": 1}  # the conversational variant, seed 1
BLOCK_FLAG = "block-seed-2"


def worker_hooks() -> None:
    """Ray worker setup hook, wrapping the graph's evaluate node in every worker:
    - the first worker to reach the evaluation of the LLM's proposals in the CRASH_CELL dies on the spot
      (os._exit, as a killed process would), once over the whole cluster (a marker file says it did);
    - while the file BLOCK_FLAG exists next to the marker, cells of seed 2 wait in evaluate (a running
      cell for the Ctrl-C test to cancel)."""
    marker = Path(os.environ[CRASH_MARKER_ENV])
    block = marker.parent / BLOCK_FLAG
    import promptclimb.graph.wiring as wiring

    real_evaluate, calls = wiring.evaluate, []

    def evaluate(state, runtime):
        config = runtime.context.config
        is_target = config.meta == "chat" and config.feedback == CRASH_CELL["method"]
        if is_target and config.iterations > 0 and config.seed == CRASH_CELL["seed"]:
            calls.append(id(runtime.context))  # one context per attempt at the cell
            if calls.count(calls[-1]) == 2 and not marker.exists():  # 1: the pool, 2: the LLM's step
                marker.write_text(str(os.getpid()))
                os._exit(1)
        while config.seed == 2 and block.exists():
            time.sleep(0.05)
        return real_evaluate(state, runtime)

    wiring.evaluate = evaluate


@pytest.fixture
def local_ray(tmp_path: Path):
    """A light local Ray cluster whose workers carry the crash hook; shut down after the test."""
    started = time.monotonic()
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
        runtime_env={
            "worker_process_setup_hook": worker_hooks,
            "env_vars": {
                CRASH_MARKER_ENV: str(tmp_path / "crashed"),
                "PYTHONPATH": str(ROOT),  # the hook lives in this module
                "HF_HUB_OFFLINE": "1",
            },
        },
    )
    print(f"ray.init: {time.monotonic() - started:.1f} s")
    yield tmp_path / "crashed"
    ray.shutdown()


def llm_requests(run_dir: Path) -> list:
    lines = (run_dir / "llm_calls.jsonl").read_text().splitlines()
    return [json.loads(line)["request"] for line in lines]


@pytest.mark.slow
def test_tiny_suite_on_a_local_ray_cluster(tiny_suite, tmp_path, local_ray, capfd):  # noqa: F811
    suite = load_suite(tiny_suite)
    sequential, distributed = tmp_path / "seq", tmp_path / "ray"
    assert cli("--runs-dir", str(sequential), "bench", str(tiny_suite)) == 0
    grid = cells(suite, sequential / "tiny")
    crash_cell = next(c for c in grid if (c.method, c.seed) == (CRASH_CELL["method"], CRASH_CELL["seed"]))

    # One cell finished before: Ray must skip it without touching it.
    done = grid[0]
    shutil.copytree(sequential / "tiny" / done.id, distributed / "tiny" / done.id)
    done_mtime = (distributed / "tiny" / done.id / "checkpoints.sqlite").stat().st_mtime_ns

    started = time.monotonic()
    outcomes = list(run_suite_on_ray(suite, distributed, RayOptions(retries=2)))
    print(f"ray run: {time.monotonic() - started:.1f} s")
    assert sorted(o.cell.id for o in outcomes) == sorted(c.id for c in grid)  # each cell once
    assert all(o.status == "finished" for o in outcomes), [(o.cell.id, o.reason) for o in outcomes]
    assert [o.cell.id for o in outcomes if o.skipped] == [done.id]
    # The workers' random-weights warning stays in Ray's logs; the fact comes back with each result.
    assert {o.random_weights for o in outcomes if not o.skipped} == {str(suite.clips[0])}
    assert (distributed / "tiny" / done.id / "checkpoints.sqlite").stat().st_mtime_ns == done_mtime

    # The worker died once inside the crash cell (after its LLM step was checkpointed); the retried task
    # resumed the cell: the same LLM requests as the sequential run, none asked twice.
    assert local_ray.exists(), "the crash hook never fired"
    assert int(local_ray.read_text()) != os.getpid()
    requests = llm_requests(distributed / "tiny" / crash_cell.id)
    assert requests == llm_requests(sequential / "tiny" / crash_cell.id) and len(requests) >= 1
    for cell in grid:
        assert read_status(distributed / "tiny" / cell.id)[0] == "finished"
        if cell.needs_llm:
            assert len(llm_requests(distributed / "tiny" / cell.id)) == len(
                llm_requests(sequential / "tiny" / cell.id)
            )

    # The same table as the sequential run, written by the CLI (every cell now skipped) on a cluster it
    # starts itself: Ray's own notices (token authentication) stay out of its output, the banner is there.
    ray.shutdown()
    capfd.readouterr()
    assert cli("--runs-dir", str(distributed), "bench", str(tiny_suite), "--ray") == 0
    err = capfd.readouterr().err
    assert err.count("finished earlier: skipped") == len(grid) and f"({len(grid)}/{len(grid)} done, " in err
    assert "Token authentication" not in err and "Deprecat" not in err, err
    assert err.strip().splitlines()[-1].startswith("WARNING: RANDOM WEIGHTS: ")
    for name in ("suite.csv", "suite.md"):
        ours = (distributed / "tiny" / name).read_text().replace(str(distributed), "RUNS")
        assert ours == (sequential / "tiny" / name).read_text().replace(str(sequential), "RUNS")


def test_an_unreachable_cluster_is_a_one_line_error(tiny_suite, tmp_path, capsys):  # noqa: F811
    with socket.socket() as free:  # a port nobody listens on
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    code = cli("--runs-dir", str(tmp_path / "runs"), "bench", str(tiny_suite), "--ray", f"127.0.0.1:{port}")
    err = capsys.readouterr().err
    assert code == 2 and f"cannot reach the Ray cluster at 127.0.0.1:{port}" in err, err
    assert err.strip().splitlines()[-1].startswith("error: cannot reach")  # one line
    with pytest.raises(RayError, match="must be HOST:PORT"):
        connect("no-port-here")


def test_without_ray_installed_the_error_says_what_to_install(tiny_suite, tmp_path, capsys, monkeypatch):  # noqa: F811
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails as if it were not installed
    code = cli("--runs-dir", str(tmp_path / "runs"), "bench", str(tiny_suite), "--ray")
    assert code == 2 and "pip install 'promptclimb[ray]'" in capsys.readouterr().err


@pytest.mark.slow
def test_ctrl_c_cancels_the_tasks_and_every_cell_stays_resumable(tiny_suite, tmp_path, local_ray):  # noqa: F811
    suite = load_suite(tiny_suite)
    runs = tmp_path / "runs"
    grid = cells(suite, runs / "tiny")
    (tmp_path / BLOCK_FLAG).touch()  # cells of seed 2 wait in their first evaluation
    outcomes = run_suite_on_ray(suite, runs)
    first = next(outcomes)
    assert first.status == "finished" and not first.skipped and first.cell.seed == 1
    blocked = [c for c in grid if c.seed == 2]
    deadline = time.monotonic() + 120
    while not any(read_status(runs / "tiny" / c.id)[0] == "running" for c in blocked):
        assert time.monotonic() < deadline, "no cell of seed 2 started"
        time.sleep(0.1)
    # The blocked step ends 2 s after the Ctrl-C (a graph step in flight finishes before its cell pauses).
    threading.Timer(2.0, (tmp_path / BLOCK_FLAG).unlink).start()
    with pytest.raises(KeyboardInterrupt):
        outcomes.throw(KeyboardInterrupt)  # Ctrl-C in the driver while a cell runs and others wait

    # The cells that were running when the tasks were cancelled paused themselves (status written, lock
    # freed); the queued ones never started.
    raw = {
        c.id: json.loads((runs / "tiny" / c.id / "run.json").read_text())
        for c in grid
        if (runs / "tiny" / c.id / "run.json").exists()
    }
    statuses = {c.id: read_status(runs / "tiny" / c.id)[0] for c in grid if c.id in raw}
    assert set(statuses.values()) <= {"finished", "paused"}, statuses  # (a crashed cell reads paused)
    interrupted = [c for c, r in raw.items() if r.get("reason") == "interrupted by the user"]
    assert any(c.id in interrupted for c in blocked), raw  # (a cell of seed 1 may have been running too)
    assert sum(r["status"] == "finished" for r in raw.values()) < len(grid)

    again = list(run_suite_on_ray(suite, runs))
    assert all(o.status == "finished" for o in again)
    assert {o.cell.id for o in again if o.skipped} == {c for c, r in raw.items() if r["status"] == "finished"}


@pytest.mark.parametrize(
    ("option", "value"), [("--ray-gpus", "1.5"), ("--ray-gpus", "0"), ("--ray-retries", "-1")]
)
def test_bad_ray_options_are_one_line_errors(tiny_suite, tmp_path, capsys, option, value):  # noqa: F811
    code = cli("--runs-dir", str(tmp_path / "runs"), "bench", str(tiny_suite), "--ray", option, value)
    assert code == 2 and "GPUs" in capsys.readouterr().err


def test_a_postgres_store_given_only_as_a_flag_is_refused_with_ray(tiny_suite, tmp_path, capsys, monkeypatch):  # noqa: F811
    monkeypatch.delenv("PROMPTCLIMB_CHECKPOINTS", raising=False)
    url = "postgresql://someone:secret@db.example/runs"
    code = cli("--checkpoints", url, "--runs-dir", str(tmp_path / "runs"), "bench", str(tiny_suite), "--ray")
    err = capsys.readouterr().err
    assert code == 2 and "$PROMPTCLIMB_CHECKPOINTS in the environment" in err
    assert "secret" not in err  # the URL's password is never printed
    assert not (tmp_path / "runs" / "tiny").exists() or not list((tmp_path / "runs" / "tiny").iterdir())
