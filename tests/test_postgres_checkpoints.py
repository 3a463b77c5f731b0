"""Runs that keep their checkpoints in a real PostgreSQL server (tests/pg_fixtures.py): killed with -9 and
resumed by another process, shown and listed from anywhere that has the URL, never storing the URL."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from promptclimb.graph.checkpoint import RunLocked, has_checkpoint, open_checkpointer
from promptclimb.graph.runs import read_calls
from promptclimb.results.summary import summarize
from tests.graph_helpers import cli, only_run, run_args, start_cli
from tests.pg_fixtures import fresh_database
from tests.test_results_suite import tiny_suite  # noqa: F401 (the fixture)

psycopg = pytest.importorskip("psycopg", reason="needs the postgres extra (scripts/setup.sh)")
ARGS = ("--iterations", "8", "--restarts", "2")


def wait_for_checkpoint_in_store(runs: Path, proc) -> Path:
    """The run directory, once the store holds a checkpoint of it; fails if the process died first."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = [p for p in runs.glob("*") if (p / "config.json").is_file()] if runs.exists() else []
        if found and has_checkpoint(found[0]):
            return found[0]
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    raise AssertionError("the run never checkpointed")


@pytest.mark.slow
def test_kill_9_then_another_process_resumes_to_the_uninterrupted_result(pg_store, tmp_path, tiny_clip):
    assert cli(*run_args(tmp_path / "straight", tiny_clip, *ARGS)) == 0
    straight = summarize(only_run(tmp_path / "straight"))

    runs = tmp_path / "runs"
    proc = start_cli("promptclimb.cli.main", run_args(runs, tiny_clip, *ARGS))
    run_dir = wait_for_checkpoint_in_store(runs, proc)
    while proc.poll() is None and len(read_calls(run_dir)) < 4:  # kill in the middle of the climb
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before it could be killed: make it longer"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = summarize(run_dir)
    assert killed["status"] == "paused" and killed["iterations_done"] < 16
    assert not (run_dir / "checkpoints.sqlite").exists()

    # Another process (another worker): it shares the runs directory and the database, nothing else.
    resumed = start_cli("promptclimb.cli.main", ["--runs-dir", str(runs), "resume", run_dir.name])
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    done = summarize(run_dir)
    assert done["status"] == "finished" and done["iterations_done"] == 16 and done["llm_calls"] == 16
    assert done["leaderboard"] == straight["leaderboard"] and done["final"] == straight["final"]
    assert 16 <= len(read_calls(run_dir)) <= 17  # the kill loses at most the call in flight


def test_the_url_stays_with_the_user_and_show_list_read_the_store(
    postgres_server_url, tmp_path, tiny_clip, capsys, monkeypatch
):
    url = fresh_database(postgres_server_url, "t_url_stays")
    monkeypatch.delenv("PROMPTCLIMB_CHECKPOINTS", raising=False)
    runs = tmp_path / "runs"
    argv = run_args(runs, tiny_clip, "--iterations", "2", "--restarts", "1")
    assert cli("--checkpoints", url, *argv) == 0
    run_dir = only_run(runs)
    assert json.loads((run_dir / "checkpoints.json").read_text()) == {"backend": "postgres"}
    socket_dir = url.split("host=")[1].split("&")[0]
    for path in run_dir.rglob("*"):
        assert socket_dir not in path.read_text(errors="replace"), f"{path.name} holds the store's address"

    capsys.readouterr()
    assert cli("--runs-dir", str(runs), "show", run_dir.name) == 2  # no URL given: said, not guessed
    assert "--checkpoints postgresql://" in capsys.readouterr().err
    assert cli("--checkpoints", url, "--runs-dir", str(runs), "list", "--json") == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["status"] == "finished" and row["iterations_done"] == 2
    assert cli("--checkpoints", url, "--runs-dir", str(runs), "show", run_dir.name, "--json") == 0
    assert json.loads(capsys.readouterr().out)["final"] is not None
    with psycopg.connect(url) as conn:
        threads = conn.execute("SELECT DISTINCT thread_id FROM checkpoints").fetchall()
    assert threads == [(run_dir.name,)]  # thread id = the run id


def test_two_workers_never_drive_one_run(pg_store, tmp_path, tiny_clip, capsys):
    runs = tmp_path / "runs"
    options = ("--iterations", "2", "--restarts", "1", "--max-llm-calls", "1")
    assert cli(*run_args(runs, tiny_clip, *options)) == 3
    run_dir = only_run(runs)
    with open_checkpointer(run_dir):  # another worker, as the store sees it (the file lock is not taken)
        with pytest.raises(RunLocked), open_checkpointer(run_dir):
            pass
        with open_checkpointer(run_dir, readonly=True):
            pass  # readers are never refused
        capsys.readouterr()
        assert cli("--runs-dir", str(runs), "resume", run_dir.name, "--max-llm-calls", "5") == 2
        assert "in use by another process" in capsys.readouterr().err
        assert summarize(run_dir)["llm_calls"] == 1
    assert cli("--runs-dir", str(runs), "resume", run_dir.name, "--max-llm-calls", "5") == 0


def test_a_long_run_leaves_no_orphan_blobs_and_a_bounded_store(pg_store, tmp_path, tiny_clip):
    runs = tmp_path / "runs"
    args = run_args(runs, tiny_clip, "--iterations", "30", "--restarts", "1", "--history-turns", "2")
    assert cli(*args) == 0
    with psycopg.connect(pg_store) as conn:
        (checkpoints,) = conn.execute("SELECT count(*) FROM checkpoints").fetchone()
        (blobs, size) = conn.execute("SELECT count(*), sum(length(blob)) FROM checkpoint_blobs").fetchone()
        (orphans,) = conn.execute(
            """SELECT count(*) FROM checkpoint_blobs b WHERE NOT EXISTS (
                   SELECT 1 FROM checkpoints c, jsonb_each_text(c.checkpoint -> 'channel_versions') v
                   WHERE c.thread_id = b.thread_id AND c.checkpoint_ns = b.checkpoint_ns
                   AND v.key = b.channel AND v.value = b.version)"""
        ).fetchone()
    # The newest 3, the input, first, pool and restart checkpoints, one after each iteration (rewind --to).
    assert checkpoints <= 3 + 4 + 30 and orphans == 0
    # 0.96 MB measured: each kept iteration keeps its leaderboard blob (every fourth checkpoint's, pruned).
    assert blobs <= 20 * checkpoints and size < 1_500_000, (blobs, size)


@pytest.fixture
def images_server(monkeypatch):
    from tests.t2i_helpers import serve

    yield from serve(monkeypatch)


def test_a_text_to_image_run_keeps_its_checkpoints_in_postgres(pg_store, tmp_path, images_server, capsys):
    from tests.t2i_helpers import QUERY, endpoints, show, t2i

    runs = tmp_path / "runs"
    assert t2i(runs, "t2i", QUERY, "--iterations", "2", *endpoints(images_server)) == 0
    run_dir = only_run(runs)
    assert not (run_dir / "checkpoints.sqlite").exists() and (run_dir / "checkpoints.json").is_file()
    shown = show(runs, run_dir, capsys)
    assert shown["status"] == "finished" and shown["final"]["score"] == 1.0


def test_a_store_that_is_not_postgres_or_sqlite_is_refused_in_one_line(tmp_path, capsys):
    assert cli("--checkpoints", "mysql://root:secret@db/x", "--runs-dir", str(tmp_path), "list") == 2
    err = capsys.readouterr().err
    assert "postgresql://" in err and "secret" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://user:S3cr3t%zzPW@127.0.0.1:1/x",  # libpq quotes the bad percent-escape: the password
        "postgresql://user:S3cr3tPW@[::1:1/x",  # libpq quotes the whole URI
        "postgres://127.0.0.1:1/x?password=S3cr3t%zzPW",
        "postgresql://user:S3cr3tPW@127.0.0.1:1/x?sslmode=bogus",
    ],
)
def test_no_message_about_a_store_shows_its_password(tmp_path, tiny_clip, capsys, url: str) -> None:
    runs = tmp_path / "runs"
    assert cli("--checkpoints", url, *run_args(runs, tiny_clip, "--iterations", "1", "--restarts", "1")) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: cannot open the checkpoint store"), err
    assert "S3cr3t" not in err and "zzPW" not in err and "user:" not in err, err


@pytest.mark.slow
def test_concurrent_restarts_on_postgres_survive_kill_9_and_rewind(pg_store, tmp_path, tiny_clip):
    """Lanes checkpoint in their own namespaces of the shared store: resumed by another process after
    kill -9, pruned to their newest checkpoints; rewinding to restart 1 climbs them all again."""
    runs = tmp_path / "runs"
    argv = run_args(runs, tiny_clip, "--iterations", "10", "--restarts", "2", "--parallel-restarts", "2")
    proc = start_cli("promptclimb.cli.main", argv)
    run_dir = wait_for_checkpoint_in_store(runs, proc)
    while proc.poll() is None and len(read_calls(run_dir)) < 6:  # the lanes are climbing
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before it could be killed: make it longer"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with psycopg.connect(pg_store) as conn:
        (lanes,) = conn.execute(
            "SELECT count(DISTINCT checkpoint_ns) FROM checkpoints WHERE checkpoint_ns <> ''"
        ).fetchone()
    assert lanes == 2
    assert summarize(run_dir)["iterations_done"] >= 4  # show merges the lanes in flight, from the store

    resumed = start_cli("promptclimb.cli.main", ["--runs-dir", str(runs), "resume", run_dir.name])
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    done = summarize(run_dir)
    assert done["status"] == "finished" and done["iterations_done"] == 20 and done["llm_calls"] == 20

    assert cli("--runs-dir", str(runs), "rewind", run_dir.name, "--restart", "2") == 2  # no start of its own
    assert cli("--runs-dir", str(runs), "rewind", run_dir.name, "--restart", "1") == 0
    assert summarize(run_dir)["llm_calls"] == 0 and read_calls(run_dir) == []
    assert cli("--runs-dir", str(runs), "resume", run_dir.name) == 0
    again = summarize(run_dir)
    assert again["status"] == "finished" and again["iterations_done"] == 20
    assert len(read_calls(run_dir)) == again["llm_calls"] == 20
    with psycopg.connect(pg_store) as conn:
        counts = conn.execute("SELECT checkpoint_ns, count(*) FROM checkpoints GROUP BY 1").fetchall()
    assert all(count <= 3 for ns, count in counts if ns), counts


def test_bench_cells_keep_their_checkpoints_in_postgres_one_thread_per_suite_cell(
    pg_store,
    tmp_path,
    tiny_suite,  # noqa: F811
):
    from promptclimb.graph.checkpoint import uses_postgres
    from promptclimb.results.suite import cells, load_suite

    runs = tmp_path / "runs"
    assert cli("--runs-dir", str(runs), "bench", str(tiny_suite), "--jobs", "2") == 0
    grid = cells(load_suite(tiny_suite), runs / "tiny")
    assert all(uses_postgres(runs / "tiny" / c.id) for c in grid)
    assert not list((runs / "tiny").glob("*/checkpoints.sqlite"))
    with psycopg.connect(pg_store) as conn:
        threads = {row[0] for row in conn.execute("SELECT DISTINCT thread_id FROM checkpoints")}
    assert threads == {f"tiny/{c.id}" for c in grid}  # cell ids repeat across suites: the suite names them
    assert all(summarize(runs / "tiny" / c.id)["status"] == "finished" for c in grid)
    reference = tmp_path / "sqlite-runs"
    sqlite_only = {"PROMPTCLIMB_CHECKPOINTS": "sqlite"}
    with pytest.MonkeyPatch.context() as env:
        env.setenv(*next(iter(sqlite_only.items())))
        assert cli("--runs-dir", str(reference), "bench", str(tiny_suite)) == 0
    assert (runs / "tiny" / "suite.csv").read_text() == (reference / "tiny" / "suite.csv").read_text()

    # The same suite from another runs directory sharing the store: refused, nothing overwritten.
    other = tmp_path / "other-runs"
    assert cli("--runs-dir", str(other), "bench", str(tiny_suite)) == 2
    # Finished cells are skipped from the store (nothing loaded, nothing asked).
    assert cli("--runs-dir", str(runs), "bench", str(tiny_suite)) == 0
