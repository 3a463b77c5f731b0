"""Storage faults: a full disk, planted symlinks, an emptied checkpoint file, a read-only runs directory."""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from promptclimb.evaluators.cache import STORE_NAME, CacheUnavailable, FeatureStore
from promptclimb.graph.runs import RunStorageError, append_log, write_status
from tests.graph_helpers import cli, only_run, run_args


def disk_full_error() -> sqlite3.OperationalError:
    """A real SQLITE_FULL, as SQLite raises it when the disk fills up."""
    db = sqlite3.connect(":memory:")
    db.execute("PRAGMA max_page_count = 2")
    db.execute("CREATE TABLE t (x BLOB)")
    try:
        db.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
    except sqlite3.OperationalError as error:
        return error
    raise AssertionError("SQLite did not fill up")


def test_a_full_disk_does_not_make_the_feature_cache_look_corrupt(tmp_path: Path, monkeypatch) -> None:
    store = FeatureStore(tmp_path)
    store.put_texts("model", [("a photo of a {}.", np.eye(4, dtype=np.float32)[0], False)])
    store.close()
    full = disk_full_error()
    assert full.sqlite_errorcode == sqlite3.SQLITE_FULL

    def disk_full(self: FeatureStore) -> sqlite3.Connection:
        raise full

    monkeypatch.setattr(FeatureStore, "_open", disk_full)
    with pytest.raises(CacheUnavailable, match="database or disk is full") as raised:
        FeatureStore(tmp_path)
    assert "\n" not in str(raised.value)
    assert [p.name for p in tmp_path.iterdir() if "corrupt" in p.name] == []
    monkeypatch.undo()
    assert FeatureStore(tmp_path).get_texts("model", ["a photo of a {}."]).found.all()
    assert (tmp_path / STORE_NAME).is_file()


def test_a_full_disk_while_writing_the_status_is_one_line_and_leaves_no_tmp(
    tmp_path: Path, monkeypatch
) -> None:
    write_status(tmp_path, "paused", "budget")

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("promptclimb.graph.runs.os.fsync", no_space)
    with pytest.raises(RunStorageError, match="cannot write .*run.json: No space left on device"):
        write_status(tmp_path, "running")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "paused"


def test_planted_symlinks_never_lead_writes_out_of_the_run(tmp_path: Path) -> None:
    run_dir, outside = tmp_path / "run", tmp_path / "bashrc"
    run_dir.mkdir()
    outside.write_text("precious\n")
    (run_dir / "run.json.tmp").symlink_to(outside)
    (run_dir / "run.log").symlink_to(outside)
    write_status(run_dir, "paused")
    with pytest.raises(OSError):
        append_log(run_dir, ["an event"])
    assert outside.read_text() == "precious\n"
    assert json.loads((run_dir / "run.json").read_text())["status"] == "paused"


@pytest.fixture
def paused_run(tmp_path: Path, tiny_clip: Path) -> tuple[Path, Path]:
    runs = tmp_path / "runs"
    options = ("--iterations", "2", "--restarts", "1", "--max-llm-calls", "1")
    assert cli(*run_args(runs, tiny_clip, *options)) == 3
    return runs, only_run(runs)


def test_resume_refuses_an_emptied_checkpoint_file_of_a_run_that_made_progress(paused_run, capsys) -> None:
    runs, run_dir = paused_run
    (run_dir / "checkpoints.sqlite").write_bytes(b"")
    calls_before = (run_dir / "llm_calls.jsonl").read_text()
    capsys.readouterr()
    assert cli("--runs-dir", str(runs), "resume", run_dir.name, "--max-llm-calls", "5") == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert (
        err.startswith("error:") and "checkpoints.sqlite holds no checkpoint" in err and "1 LLM calls" in err
    )
    assert (run_dir / "llm_calls.jsonl").read_text() == calls_before


def as_other_user(argv: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user who cannot write the runs directory (root ignores permissions)."""
    command = [sys.executable, "-m", "promptclimb.cli.main", *argv]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot make a directory read-only")
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    env = {**os.environ, "HOME": str(home), "PROMPTCLIMB_CACHE": str(home / "cache")}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, cwd=str(home))


def test_show_and_list_work_in_a_read_only_runs_directory(paused_run) -> None:
    _, run_dir = paused_run
    shared = Path(tempfile.mkdtemp(prefix="promptclimb-ro-"))
    try:
        runs = shared / "runs"
        shutil.copytree(run_dir.parent, runs)
        for path in [shared, *shared.rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)
        home = Path(tempfile.mkdtemp(prefix="promptclimb-home-"))
        home.chmod(0o777)
        for argv in (["show", run_dir.name, "--json"], ["list"]):
            done = as_other_user(["--runs-dir", str(runs), *argv], home)
            assert done.returncode == 0, done.stderr
        assert (
            json.loads(as_other_user(["--runs-dir", str(runs), "show", run_dir.name, "--json"], home).stdout)[
                "iterations_done"
            ]
            == 1
        )
        assert sorted(p.name for p in (runs / run_dir.name).iterdir()) == sorted(
            p.name for p in run_dir.iterdir()
        )
    finally:
        for path in [shared, *shared.rglob("*")]:
            path.chmod(0o755)
        shutil.rmtree(shared, ignore_errors=True)


def test_resume_refuses_a_dataset_that_changed_since_the_run_started(
    tmp_path: Path, tiny_clip, capsys
) -> None:
    from tests.test_data_drawn import paused_on_a_copy

    data, runs, run_dir = paused_on_a_copy(tmp_path, tiny_clip)
    for split in ("train", "validation", "test"):
        shutil.copytree(data / split / "hat", data / split / "cap")  # a class added between pause and resume
    capsys.readouterr()
    assert cli("--runs-dir", str(runs), "resume", run_dir.name, "--max-llm-calls", "5") == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: the dataset changed") and "10 classes then, 11 now (added ['cap'])" in err


def test_a_full_cache_disk_names_the_cache_file(tmp_path: Path) -> None:
    import numpy as np

    from promptclimb.evaluators.cache import CacheUnavailable, FeatureStore

    store = FeatureStore(tmp_path / "cache")
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")  # as full as a full disk
    rows = [(bytes([i]) * 32, np.ones(512, np.float32)) for i in range(64)]
    with pytest.raises(CacheUnavailable, match=f"feature cache {tmp_path / 'cache'}.* cannot be written"):
        store.put_images(rows)
    assert not store._db.in_transaction


def test_a_cache_that_cannot_be_opened_stops_a_run_before_its_directory_exists(
    tmp_path: Path, tiny_clip: Path, monkeypatch, capsys
) -> None:
    full = disk_full_error()

    def disk_full(self: FeatureStore) -> sqlite3.Connection:
        raise full

    monkeypatch.setattr(FeatureStore, "_open", disk_full)
    runs = tmp_path / "runs"
    assert cli(*run_args(runs, tiny_clip, "--iterations", "1", "--restarts", "1")) == 2
    assert "database or disk is full" in capsys.readouterr().err
    assert not runs.exists() or not any(runs.iterdir())  # exit 2: nothing created
