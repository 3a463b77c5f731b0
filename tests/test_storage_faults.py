"""Storage faults: a full disk, planted symlinks, an emptied checkpoint file, a read-only runs directory."""

from __future__ import annotations

import errno
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from promptclimb.evaluators.cache import STORE_NAME, CacheUnavailable, FeatureStore
from promptclimb.graph.runs import RunStorageError, append_log, write_status


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
