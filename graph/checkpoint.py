"""Where a run's checkpoints live, and a lock so only one process works on a run at a time.

SQLite is the embedded default: ``checkpoints.sqlite`` in the run directory, thread "run". A run created while
``--checkpoints postgresql://...`` (or ``$PROMPTCLIMB_CHECKPOINTS``) is set keeps them in PostgreSQL instead,
thread = the run id, so any worker that shares the runs directory and the database resumes or shows it. The
run directory then records only *that* it uses PostgreSQL (``checkpoints.json``); the connection string always
comes from the user, never from a run directory's files.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Annotated, Any, get_origin, get_type_hints
from urllib.parse import unquote

from filelock import Timeout, UnixFileLock, WindowsFileLock
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from pydantic import TypeAdapter

from promptclimb.errors import UserError
from promptclimb.graph.state import STATE_MODELS

CHECKPOINT_FILE = "checkpoints.sqlite"
STORE_FILE = "checkpoints.json"  # {"backend": "postgres"} for a run on PostgreSQL; never a connection string
STORE_ENV = "PROMPTCLIMB_CHECKPOINTS"
_SETUP_LOCK = "hashtext('promptclimb checkpoint tables')"  # serializes creating the tables (SQL expression)
SQLITE_THREAD = "run"  # one thread per file: every SQLite run uses the same name
LOCK_FILE = "lock"
_store_url: str | None = None  # the CLI's --checkpoints; None: $PROMPTCLIMB_CHECKPOINTS, else SQLite
# The OS lock of the platform, never filelock's soft (file exists) fallback: a kill -9 would leave it held.
OSFileLock = WindowsFileLock if os.name == "nt" else UnixFileLock
_QUIET = logging.NullHandler()  # one instance: adding it again is a no-op


class CheckpointError(UserError, RuntimeError):
    """A checkpoint file that cannot be read; the message names the file."""


class StoreLost(RuntimeError):
    """The PostgreSQL checkpoint store went away during a run: a pause, resumable once it is back (the last
    checkpoint it acknowledged is the run's state)."""


def store_failures() -> tuple[type[BaseException], ...]:
    """The errors of a lost connection to the checkpoint store (none without the postgres extra)."""
    try:
        import psycopg
    except ImportError:
        return ()
    return (psycopg.OperationalError,)


def lost_store(error: BaseException) -> StoreLost:
    """A lost connection said in one line, without the URL's password."""
    detail = (str(error).strip().splitlines() or [type(error).__name__])[0]
    url = store_url()
    return StoreLost(f"lost the checkpoint store (PostgreSQL): {scrubbed(detail, url) if url else detail}")


def read_state(graph: Any, thread: dict, state_type: Any, path: Path | str) -> Any:
    """The latest checkpointed values, checked against the graph's state type.

    A checkpoint is a file someone else may have written: bytes that do not decode, or values of the wrong
    shape, are a CheckpointError naming the file (or the store, ``where``), never a traceback later in whoever
    reads the state.
    """
    try:
        return _checked(graph.get_state(thread).values, state_type)
    except CheckpointError:
        raise
    except Exception as error:  # any decoding or validation failure of crafted bytes
        raise _unreadable(path, error) from None


# Pending writes that leave a snapshot's values as the checkpoint holds them (a failed or interrupted task).
VALUE_NEUTRAL_WRITES = ("__error__", "__interrupt__")


def read_saved_state(saver: BaseCheckpointSaver, thread: dict, state_type: Any, path: Path | str) -> Any:
    """``read_state`` without a compiled graph, so without the nodes' imports (show and list): the latest
    checkpoint's values as ``get_state`` gives them, or None when it holds pending writes that only the
    graph can apply (a step cut short after a task wrote); then ``read_state`` is the way."""
    try:
        saved = saver.get_tuple(thread)  # type: ignore[arg-type]
        if saved is None:
            return {}
        if any(channel not in VALUE_NEUTRAL_WRITES for _, channel, _ in saved.pending_writes or []):
            return None
        hints = _hints(state_type)
        values = {k: v for k, v in (saved.checkpoint.get("channel_values") or {}).items() if k in hints}
        for key, hint in hints.items():  # a reducer's channel holds its empty value before any write
            if key not in values and get_origin(hint) is Annotated and callable(hint.__metadata__[-1]):
                values[key] = (get_origin(hint.__origin__) or hint.__origin__)()
        return _checked(values, state_type)
    except Exception as error:  # any decoding or validation failure of crafted bytes
        raise _unreadable(path, error) from None


def _checked(values: Any, state_type: Any) -> Any:
    hints = _hints(state_type)
    for key, value in (values or {}).items():
        if key in hints:  # typing.TypedDict is not for pydantic on Python < 3.12: check field by field
            _adapter(hints[key]).validate_python(value)
    return values


@functools.cache
def _hints(state_type: Any) -> dict[str, Any]:  # evaluated once: `list` reads every run's state
    return get_type_hints(state_type, include_extras=True)


def _unreadable(path: Path | str, error: Exception) -> CheckpointError:
    detail = str(error).splitlines()[0] if str(error) else ""
    return CheckpointError(f"unreadable checkpoint file {path}: {type(error).__name__} {detail}")


@functools.cache
def _adapter(annotation: Any) -> TypeAdapter:
    return TypeAdapter(annotation)


class RunLocked(UserError, RuntimeError):
    """Another process is working on this run."""


def serializer() -> JsonPlusSerializer:
    # Strict allow-list: our state models come back as themselves, nothing else is revived. Both kinds of
    # run: checks that read any run (has_checkpoint on a t2i resume) warned once per blocked channel.
    from promptclimb.graph.t2i.state import T2I_STATE_MODELS

    return JsonPlusSerializer(allowed_msgpack_modules=list(dict.fromkeys([*STATE_MODELS, *T2I_STATE_MODELS])))


def use_store(url: str | None) -> None:
    """The store new runs use, from the CLI's --checkpoints (None: $PROMPTCLIMB_CHECKPOINTS, else SQLite)."""
    global _store_url
    _store_url = check_store_url(url) if url else None


def store_url() -> str | None:
    """The PostgreSQL URL the user gave (flag, then environment), or None for SQLite."""
    url = check_store_url(_store_url or os.environ.get(STORE_ENV, "").strip() or "sqlite")
    return None if url == "sqlite" else url


def check_store_url(url: str) -> str:
    if url == "sqlite" or url.startswith(("postgresql://", "postgres://")):
        return url
    shown = url.split("://")[0][:20]  # never echo a URL that may hold a password
    raise CheckpointError(f"--checkpoints (${STORE_ENV}) takes sqlite or a postgresql:// URL, not {shown!r}")


def uses_postgres(run_dir: Path) -> bool:
    """Whether the run keeps its checkpoints in PostgreSQL, as its checkpoints.json says (untrusted data: it
    can only say yes or no, never where)."""
    return _store_record(run_dir).get("backend") == "postgres"


def _store_record(run_dir: Path) -> dict[str, Any]:
    """checkpoints.json, checked: {"backend": "postgres" | "sqlite", "cell": bool (optional)}; {} if none."""
    path = run_dir / STORE_FILE
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        record = None
    if not isinstance(record, dict) or record.get("backend") not in ("postgres", "sqlite"):
        raise CheckpointError(f"unreadable run file {path}: backend must be postgres or sqlite")
    if not isinstance(record.get("cell", False), bool):
        raise CheckpointError(f"unreadable run file {path}: cell must be true or false")
    return record


def thread_id_of(run_dir: Path, cell: bool = False) -> str:
    """The run id; for a bench cell, "<suite>/<cell id>" (cell ids repeat across suites). Derived from the
    run's own path only: a run's files never name another run's thread."""
    here = run_dir.resolve()
    return f"{here.parent.name}/{here.name}" if cell else here.name


def thread_of(run_dir: Path) -> dict[str, Any]:
    """The run's LangGraph thread: "run" in its own SQLite file, its thread id in a shared PostgreSQL
    store."""
    record = _store_record(run_dir)
    if record.get("backend") != "postgres":
        return {"configurable": {"thread_id": SQLITE_THREAD}}
    return {"configurable": {"thread_id": thread_id_of(run_dir, record.get("cell", False))}}


def where(run_dir: Path) -> str:
    """The run's checkpoints, named for a message (the PostgreSQL URL without its password)."""
    if not uses_postgres(run_dir):
        return str(run_dir / CHECKPOINT_FILE)
    url = store_url()
    thread = thread_of(run_dir)["configurable"]["thread_id"]
    return f"PostgreSQL {redacted(url) if url else '(no URL given)'}, thread {thread}"


def redacted(url: str) -> str:
    """host:port/dbname of a connection string, never its password."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(url)
    except Exception:  # no psycopg, or a malformed URL: say nothing of it
        return "postgresql://(address not shown)"
    host = parts.get("host") or "localhost"
    return f"postgresql://{host}:{parts.get('port') or 5432}/{parts.get('dbname') or ''}"


_URI_USERINFO = re.compile(r"(postgres(?:ql)?://)[^\s\"'/]*@")
_PASSWORD_PARAM = re.compile(r"password=([^&\s\"']*)")


def scrubbed(text: str, url: str) -> str:
    """``text`` (a driver's message) with the URL's userinfo, password and the URL itself replaced by ***.

    libpq quotes what it could not parse: the whole URI, or a password with a bad percent-escape.
    """
    secrets = {url, *_PASSWORD_PARAM.findall(url)}
    rest = url.split("://", 1)[-1]
    if "@" in rest:
        userinfo = rest.rsplit("@", 1)[0]
        secrets |= {userinfo, userinfo.partition(":")[2]}  # not the user alone: "postgres" is in "postgresql"
    secrets |= {unquote(secret) for secret in secrets}
    for secret in sorted((s for s in secrets if len(s) > 1), key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _URI_USERINFO.sub(r"\1***@", text)
    return _PASSWORD_PARAM.sub("password=***", text)


def mark_new_run(run_dir: Path, cell: bool = False) -> None:
    """Record the store of a new run: nothing for SQLite; checkpoints.json and the tables for PostgreSQL.
    A bench ``cell`` keeps its checkpoints under the thread "<suite>/<cell id>"."""
    if store_url() is None:
        return
    with open_checkpointer(run_dir, postgres=True):  # creates the tables, checks the URL before any work
        pass
    record = {"backend": "postgres", **({"cell": True} if cell else {})}
    (run_dir / STORE_FILE).write_text(json.dumps(record) + "\n")


def thread_taken(run_id: str) -> bool:
    """Whether the PostgreSQL store already holds a thread named ``run_id`` (False on SQLite)."""
    url = store_url()
    if url is None:
        return False
    with _postgres_saver(url, serializer(), readonly=False, thread_id=None) as saver:  # tables made once
        return (
            saver.conn.execute("SELECT 1 FROM checkpoints WHERE thread_id = %s LIMIT 1", (run_id,)).fetchone()
            is not None
        )


@contextmanager
def open_checkpointer(
    run_dir: Path,
    serde: JsonPlusSerializer | None = None,
    readonly: bool = False,
    postgres: bool | None = None,
) -> Iterator[BaseCheckpointSaver]:
    """The run's checkpointer, SQLite or PostgreSQL (the one place that picks); ``serde`` allow-lists the
    state models of another graph.

    ``readonly`` (show, list, report) creates and changes nothing, so it works in a read-only runs directory;
    a file without checkpoints then reads as an empty run. A writable PostgreSQL checkpointer also holds an
    advisory lock on the run's thread: two workers on two machines never drive one run.
    """
    serde = serde or serializer()
    if postgres if postgres is not None else uses_postgres(run_dir):
        url = store_url()
        if url is None:
            raise CheckpointError(
                f"run {run_dir.resolve().name} keeps its checkpoints in PostgreSQL: give --checkpoints "
                f"postgresql://... or set ${STORE_ENV}"
            )
        thread_id = thread_id_of(run_dir, _store_record(run_dir).get("cell", False))
        with _postgres_saver(url, serde, readonly, thread_id) as saver:
            yield saver
        return
    with _sqlite_saver(run_dir / CHECKPOINT_FILE, serde, readonly) as saver:
        yield saver


@contextmanager
def _sqlite_saver(path: Path, serde: JsonPlusSerializer, readonly: bool) -> Iterator[SqliteSaver]:
    if path.is_symlink():  # a planted link would read, rewind or write a database outside the run
        raise CheckpointError(f"checkpoint file {path} is a symbolic link: checkpoints stay inside the run")
    conn = _connect_readonly(path) if readonly else sqlite3.connect(path, check_same_thread=False)
    saver: SqliteSaver | None = None
    try:
        saver = SqliteSaver(conn, serde=serde)
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
        # LangGraph may still be saving a failed step's writes from its own thread when an interrupt ends
        # the drive: closing the connection under that write crashes the process (SIGSEGV), so wait for it.
        with saver.lock if saver is not None else nullcontext():
            conn.close()


@contextmanager
def _postgres_saver(
    url: str, serde: JsonPlusSerializer, readonly: bool, thread_id: str | None
) -> Iterator[BaseCheckpointSaver]:
    """A PostgresSaver on its own connection (autocommit, as LangGraph's from_conn_string opens it)."""
    try:
        import psycopg
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row
    except ImportError:
        raise CheckpointError(
            "PostgreSQL checkpoints need the postgres extra: pip install 'promptclimb[postgres]'"
        ) from None
    # A dying connection's pipeline logs "error ignored terminating <psycopg.Pipeline [BAD]>" through the
    # last-resort handler: the run says what happened once, as a pause (StoreLost).
    logging.getLogger("psycopg").addHandler(_QUIET)
    try:
        conn = psycopg.Connection.connect(
            url, autocommit=True, prepare_threshold=0, row_factory=dict_row, connect_timeout=10
        )
    except psycopg.Error as error:
        detail = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"cannot open the checkpoint store {redacted(url)}: {scrubbed(detail, url)}"
        ) from None
    with conn:
        saver = PostgresSaver(conn, serde=serde)
        if readonly:
            if conn.execute("SELECT to_regclass('checkpoints') AS t").fetchone()["t"] is None:
                raise CheckpointError(f"the checkpoint store {redacted(url)} has no checkpoint tables")
        else:
            # One setup at a time, across processes and machines: concurrent migrations collide (two bench
            # cells created at once raised a unique violation on checkpoint_migrations).
            # (A waiting pg_advisory_lock would itself be a transaction that the migrations' CREATE INDEX
            # CONCURRENTLY waits for: a deadlock. Short tries end their transactions.)
            while not conn.execute(f"SELECT pg_try_advisory_lock({_SETUP_LOCK}) AS ok").fetchone()["ok"]:
                time.sleep(0.05)
            try:
                saver.setup()
            finally:
                conn.execute(f"SELECT pg_advisory_unlock({_SETUP_LOCK})")
            if thread_id is not None:
                _advisory_lock(conn, thread_id)
        yield saver


def _advisory_lock(conn: Any, thread_id: str) -> None:
    """Held by the connection until it closes; the server drops it when the process dies (even kill -9)."""
    row = conn.execute(
        "SELECT pg_try_advisory_lock(hashtextextended(%s, 0)) AS ok", (f"promptclimb:{thread_id}",)
    ).fetchone()
    if not row["ok"]:
        raise RunLocked(f"run {thread_id} is in use by another process (PostgreSQL lock)")


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
    """Whether the run's store holds any checkpoint of it (read-only; False when there is no file)."""
    with open_checkpointer(run_dir, readonly=True) as saver:
        try:
            return next(iter(saver.list(thread_of(run_dir), limit=1)), None) is not None
        except Exception as error:  # crafted bytes that do not decode
            detail = type(error).__name__
            raise CheckpointError(f"unreadable checkpoint in {where(run_dir)}: {detail}") from None


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
