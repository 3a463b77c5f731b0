"""Checkpoints in a SQLite file per run, and a lock so only one process works on a run at a time."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import Timeout, UnixFileLock, WindowsFileLock
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver

from promptclimb.graph.state import STATE_MODELS

CHECKPOINT_FILE = "checkpoints.sqlite"
LOCK_FILE = "lock"
# The OS lock of the platform, never filelock's soft (file exists) fallback: a kill -9 would leave it held.
OSFileLock = WindowsFileLock if os.name == "nt" else UnixFileLock


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read; the message names the file."""


class RunLocked(RuntimeError):
    """Another process is working on this run."""


def serializer() -> JsonPlusSerializer:
    # Strict allow-list: our state models come back as themselves, nothing else is revived.
    return JsonPlusSerializer(allowed_msgpack_modules=list(STATE_MODELS))


@contextmanager
def open_checkpointer(run_dir: Path, serde: JsonPlusSerializer | None = None) -> Iterator[SqliteSaver]:
    """The run's SQLite checkpointer; ``serde`` allow-lists the state models of another graph."""
    path = run_dir / CHECKPOINT_FILE
    conn = sqlite3.connect(path, check_same_thread=False)
    try:
        saver = SqliteSaver(conn, serde=serde or serializer())
        try:
            saver.setup()
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("SELECT count(*) FROM checkpoints").fetchone()
        except sqlite3.DatabaseError as error:
            raise CheckpointError(f"corrupted checkpoint file {path}: {error}") from error
        yield saver
    finally:
        conn.close()


def prune_checkpoints(saver: SqliteSaver, thread_id: str, keep: int = 3) -> None:
    """Drop all but the newest ``keep`` checkpoints of a thread.

    The SQLite saver stores the whole state in every checkpoint, so keeping them all would grow the file
    quadratically with the run; a resume only needs the latest one (the run's history is in the state).
    """
    with saver.lock, saver.conn:
        saver.conn.execute(
            """DELETE FROM checkpoints WHERE thread_id = ? AND checkpoint_id NOT IN (
                   SELECT checkpoint_id FROM checkpoints WHERE thread_id = ?
                   ORDER BY checkpoint_id DESC LIMIT ?)""",
            (thread_id, thread_id, keep),
        )
        saver.conn.execute(
            """DELETE FROM writes WHERE thread_id = ?
               AND checkpoint_id NOT IN (SELECT checkpoint_id FROM checkpoints WHERE thread_id = ?)""",
            (thread_id, thread_id),
        )


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """A lock on the run directory; the OS drops it when the process dies (even kill -9).

    filelock: fcntl.flock on POSIX, msvcrt.locking on Windows. A new lock object per call: two
    holders in one process must exclude each other like two processes do.
    """
    lock = OSFileLock(run_dir / LOCK_FILE, timeout=0)
    try:
        lock.acquire()
    except Timeout as error:
        raise RunLocked(f"run {run_dir.name} is in use by another process") from error
    try:
        yield
    finally:
        lock.release()


def is_locked(run_dir: Path) -> bool:
    if not (run_dir / LOCK_FILE).exists():
        return False
    lock = OSFileLock(run_dir / LOCK_FILE, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return True
    lock.release()
    return False
