"""Checkpoints in a SQLite file per run, and a lock so only one process works on a run at a time."""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, get_type_hints

from filelock import Timeout, UnixFileLock, WindowsFileLock
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from pydantic import TypeAdapter

from promptclimb.graph.state import STATE_MODELS

CHECKPOINT_FILE = "checkpoints.sqlite"
LOCK_FILE = "lock"
# The OS lock of the platform, never filelock's soft (file exists) fallback: a kill -9 would leave it held.
OSFileLock = WindowsFileLock if os.name == "nt" else UnixFileLock


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read; the message names the file."""


def read_state(graph: Any, thread: dict, state_type: Any, path: Path) -> Any:
    """The latest checkpointed values, checked against the graph's state type.

    A checkpoint is a file someone else may have written: bytes that do not decode, or values of the wrong
    shape, are a CheckpointError naming the file, never a traceback later in whoever reads the state.
    """
    try:
        values = graph.get_state(thread).values
        hints = get_type_hints(state_type)
        for key, value in (values or {}).items():
            if key in hints:  # typing.TypedDict is not for pydantic on Python < 3.12: check field by field
                _adapter(hints[key]).validate_python(value)
    except CheckpointError:
        raise
    except Exception as error:  # any decoding or validation failure of crafted bytes
        detail = str(error).splitlines()[0] if str(error) else ""
        raise CheckpointError(f"unreadable checkpoint file {path}: {type(error).__name__} {detail}") from None
    return values


@functools.cache
def _adapter(annotation: Any) -> TypeAdapter:
    return TypeAdapter(annotation)


class RunLocked(RuntimeError):
    """Another process is working on this run."""


def serializer() -> JsonPlusSerializer:
    # Strict allow-list: our state models come back as themselves, nothing else is revived.
    return JsonPlusSerializer(allowed_msgpack_modules=list(STATE_MODELS))


@contextmanager
def open_checkpointer(
    run_dir: Path, serde: JsonPlusSerializer | None = None, readonly: bool = False
) -> Iterator[SqliteSaver]:
    """The run's SQLite checkpointer; ``serde`` allow-lists the state models of another graph.

    ``readonly`` (show, list, report) creates and changes nothing, so it works in a read-only runs directory;
    a file without checkpoints then reads as an empty run.
    """
    path = run_dir / CHECKPOINT_FILE
    conn = _connect_readonly(path) if readonly else sqlite3.connect(path, check_same_thread=False)
    try:
        saver = SqliteSaver(conn, serde=serde or serializer())
        try:
            if readonly:
                saver.is_setup = True  # setup() writes (journal mode, tables): the tables are checked below
            else:
                saver.setup()
                conn.execute("PRAGMA synchronous=FULL")
            conn.execute("SELECT count(*) FROM checkpoints").fetchone()
        except sqlite3.DatabaseError as error:
            raise CheckpointError(f"corrupted checkpoint file {path}: {error}") from error
        yield saver
    finally:
        conn.close()


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection; an empty in-memory database with our tables when the run has no file yet."""
    if not path.is_file() or path.stat().st_size == 0:
        conn = sqlite3.connect(":memory:", check_same_thread=False)
        SqliteSaver(conn).setup()
        return conn
    try:
        try:
            return _checked_connection(path, "mode=ro")
        except sqlite3.OperationalError:
            # A WAL database in a directory we cannot write (no -shm can be made): read the file as it is,
            # which is complete unless a -wal file holds what a killed process did not fold back in.
            if path.with_name(path.name + "-wal").exists():
                raise CheckpointError(
                    f"cannot read {path} from a read-only directory: its -wal file needs recovery; "
                    "open the run once where it can be written"
                ) from None
            return _checked_connection(path, "immutable=1")
    except sqlite3.DatabaseError as error:
        raise CheckpointError(f"corrupted checkpoint file {path}: {error}") from error


def _checked_connection(path: Path, mode: str) -> sqlite3.Connection:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True, check_same_thread=False)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError:
        conn.close()
        raise
    return conn


def has_checkpoint(run_dir: Path) -> bool:
    """Whether the run's checkpoint file holds any checkpoint (read-only; False when there is no file)."""
    with open_checkpointer(run_dir, readonly=True) as saver:
        return saver.conn.execute("SELECT 1 FROM checkpoints LIMIT 1").fetchone() is not None


def prune_checkpoints(saver: SqliteSaver, thread_id: str, keep: int = 3) -> None:
    """Drop all but the newest ``keep`` checkpoints of each namespace of a thread.

    The SQLite saver stores the whole state in every checkpoint, so keeping them all would grow the file
    quadratically with the run; a resume only needs the latest one (the run's history is in the state).
    Per namespace: concurrent restarts checkpoint in their own (subgraph) namespaces, and the run's own
    checkpoint from before the fan-out must stay while they climb.
    """
    with saver.lock, saver.conn:
        saver.conn.execute(
            """DELETE FROM checkpoints WHERE thread_id = ? AND checkpoint_id NOT IN (
                   SELECT checkpoint_id FROM checkpoints AS newest WHERE newest.thread_id = ?
                   AND newest.checkpoint_ns = checkpoints.checkpoint_ns
                   ORDER BY checkpoint_id DESC LIMIT ?)""",
            (thread_id, thread_id, keep),
        )
        saver.conn.execute(
            """DELETE FROM writes WHERE thread_id = ? AND NOT EXISTS (
                   SELECT 1 FROM checkpoints AS kept WHERE kept.thread_id = ?
                   AND kept.checkpoint_ns = writes.checkpoint_ns
                   AND kept.checkpoint_id = writes.checkpoint_id)""",
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
    except OSError:  # a read-only runs directory: nobody can be writing to this run
        return False
    lock.release()
    return False
