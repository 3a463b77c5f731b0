"""PostgreSQL going away mid-run is a pause: exit 3, one line saying so, a resume hint, no psycopg noise;
`list` without the URL shows the run's status; once the server is back, the run resumes from its counts."""

from __future__ import annotations

import time

import pytest

from promptclimb.graph.runs import read_calls, read_status
from tests.graph_helpers import cli, run_args, start_cli
from tests.pg_fixtures import find_binaries, fresh_database, postgres_server, server_ctl
from tests.test_postgres_checkpoints import wait_for_checkpoint_in_store

pytest.importorskip("langgraph.checkpoint.postgres", reason="needs the postgres extra (scripts/setup.sh)")


@pytest.fixture
def own_server():
    """A server of this test's own: it is stopped and started again mid-test."""
    if find_binaries() is None:
        pytest.skip("no PostgreSQL binaries here (initdb, pg_ctl): apt-get install postgresql")
    with postgres_server() as url:
        yield url


@pytest.mark.slow
def test_losing_postgres_mid_run_pauses_with_a_resume_hint(
    own_server, tmp_path, tiny_clip, monkeypatch, capsys
):
    url = fresh_database(own_server, "lost")
    monkeypatch.setenv("PROMPTCLIMB_CHECKPOINTS", url)
    runs = tmp_path / "runs"
    args = run_args(runs, tiny_clip, "--iterations", "8", "--restarts", "2")
    proc = start_cli("promptclimb.cli.main", args)
    run_dir = wait_for_checkpoint_in_store(runs, proc)
    while proc.poll() is None and len(read_calls(run_dir)) < 3:
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before the server went away: make it longer"
    server_ctl(own_server, "stop")
    try:
        assert proc.wait(timeout=120) == 3
        stderr = proc.stderr.read()
        assert "Pipeline" not in stderr and "error ignored" not in stderr and "Traceback" not in stderr
        assert stderr.count("paused: lost the checkpoint store (PostgreSQL)") == 1
        assert f"resume with: promptclimb resume {run_dir}" in stderr
        assert read_status(run_dir)[0] == "paused"

        monkeypatch.delenv("PROMPTCLIMB_CHECKPOINTS", raising=False)
        capsys.readouterr()
        assert cli("--runs-dir", str(runs), "list", "--json") == 0
        assert '"status": "paused, stored in PostgreSQL"' in capsys.readouterr().out
    finally:
        server_ctl(own_server, "start")

    assert cli("--runs-dir", str(runs), "--checkpoints", url, "resume", run_dir.name) == 0
    progress = [line for line in capsys.readouterr().err.splitlines() if line[:2].isdigit()]  # HH:MM:SS
    assert "resumed at restart 1/2" in progress[0] and "LLM calls 0" not in progress[0], progress[0]
