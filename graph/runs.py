"""Run directories: one per run under --runs-dir, holding everything needed to show, resume or audit it.

config.json         the RunConfig (all a resume needs)
run.json            status: running | paused | finished | failed, and the one-line reason
checkpoints.sqlite  LangGraph checkpoints, written synchronously after every step (SQLite, the default)
checkpoints.json    {"backend": "postgres"} when the checkpoints live in PostgreSQL (thread = the run id)
llm_calls.jsonl     every LLM request and reply (audit and replay)
run.log             notable events (random CLIP weights, skipped images, test-split access)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import BaseModel, ValidationError

from promptclimb.errors import UserError
from promptclimb.graph.checkpoint import (
    CheckpointError,
    has_checkpoint,
    is_locked,
    mark_new_run,
    thread_taken,
    where,
)
from promptclimb.graph.config import RunConfig
from promptclimb.llm.records import LLMCall

CONFIG_FILE = "config.json"
STATUS_FILE = "run.json"
CALLS_FILE = "llm_calls.jsonl"
REWOUND_CALLS_FILE = "llm_calls.rewound.jsonl"  # calls made after a rewind's fork point (paid for, kept)
LOG_FILE = "run.log"
DATA_FILE = "data.json"
STATUSES = ("running", "paused", "finished", "failed")
M = TypeVar("M", bound=BaseModel)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class RunNotFound(UserError, FileNotFoundError):
    """An unknown run id or directory."""


class DataChanged(UserError, ValueError):
    """The dataset of a resumed run is not the one it started on; the one-line message says how."""


class RunUnreadable(CheckpointError):
    """A damaged or crafted run file (config.json, a checkpoint); the one-line message names the file."""


def first_error(error: BaseException) -> str:
    """One line about what is wrong in a file: pydantic's first error, or the exception's first line."""
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        return f"{'.'.join(map(str, first['loc'])) or 'value'}: {first['msg']}"
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def read_model(path: Path, model: type[M]) -> M:
    """A run's JSON config as ``model``; RunUnreadable naming the file when it is damaged or crafted."""
    try:
        data = json.loads(path.read_text())
        saved = getattr(model, "from_saved", None)  # a config that knows how older runs were saved
        return saved(data) if callable(saved) else model.model_validate(data)
    except (OSError, ValueError, TypeError, RecursionError) as error:  # ValidationError is a ValueError
        raise RunUnreadable(f"unreadable run file {path}: {first_error(error)}") from None


def new_run_id(config: RunConfig) -> str:
    dataset = re.sub(r"[^A-Za-z0-9]+", "-", Path(config.data).resolve().name).strip("-") or "data"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{dataset}-{config.shots}shot-s{config.seed}"


def new_run_dir(runs_dir: Path, run_id: str) -> Path:
    """A fresh directory named by the run id (suffixed -2, -3, ... if taken, here or as a thread of the
    PostgreSQL store, which other runs directories may share), its checkpoint store recorded."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    run_dir, n = runs_dir / run_id, 1
    while run_dir.exists() or thread_taken(run_dir.name):
        n += 1
        run_dir = runs_dir / f"{run_id}-{n}"
    run_dir.mkdir()
    mark_new_run(run_dir)
    return run_dir


def create_run(runs_dir: Path, config: RunConfig, data: dict[str, Any] | None = None) -> Path:
    """A new run directory; ``data`` (``data_record``) lets a resume refuse a dataset that changed."""
    run_dir = new_run_dir(runs_dir, new_run_id(config))
    if data is not None:
        write_file(run_dir / DATA_FILE, json.dumps(data, ensure_ascii=False) + "\n")
    config.save(run_dir / CONFIG_FILE)
    write_status(run_dir, "running")
    return run_dir


def data_record(dataset: Any) -> dict[str, Any]:
    """What identifies the data a run was scored on: its classes, split sizes and each drawn item (never the
    test images)."""
    from promptclimb.evaluators.classify.drawn import drawn_record

    splits = {split: len(dataset.items(split)) for split in ("train", "val") if dataset.has_split(split)}
    return {
        "classnames": list(dataset.classnames),
        "splits": splits,
        "test": dataset.has_split("test"),
        "drawn": drawn_record(dataset),
    }


def check_same_data(run_dir: Path, dataset: Any) -> None:
    """Refuse to resume on data that changed since the run started: one leaderboard, one dataset."""
    path = run_dir / DATA_FILE
    if not path.is_file():
        return  # a run from before data.json existed
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise RunUnreadable(f"unreadable run file {path}: {first_error(error)}") from None
    if not isinstance(saved, dict):
        raise RunUnreadable(f"unreadable run file {path}: not a data record")
    now = data_record(dataset)
    if "drawn" not in saved:  # a run from before items were recorded: what it has is compared
        now.pop("drawn")
    if saved == now:
        return
    try:
        change = describe_change(saved, now)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError):  # a crafted record
        raise RunUnreadable(f"unreadable run file {path}: not a data record") from None
    raise DataChanged(f"the dataset changed since run {run_dir.name} started: {change}")


def describe_change(saved: dict[str, Any], now: dict[str, Any]) -> str:
    from promptclimb.evaluators.classify.drawn import describe_drawn_change

    old, new = list(saved.get("classnames") or []), now["classnames"]
    if old != new:
        added, removed = [c for c in new if c not in old], [c for c in old if c not in new]
        parts = ([f"added {added}"] if added else []) + ([f"removed {removed}"] if removed else [])
        return f"{len(old)} classes then, {len(new)} now ({', '.join(parts) or 'renamed or reordered'})"
    if saved.get("splits") == now["splits"] and saved.get("test") == now["test"]:
        drawn = saved.get("drawn")
        change = describe_drawn_change(drawn if isinstance(drawn, dict) else {}, now.get("drawn", {}))
        if change:
            return change
    return f"split sizes {saved.get('splits')} then, {now['splits']} now (test split: {now['test']})"


def find_run(ref: str, runs_dir: Path) -> Path:
    """A run directory from a path or a run id under runs_dir."""
    for candidate in (Path(ref), runs_dir / ref):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    raise RunNotFound(f"no run {ref!r} (looked for {ref}/{CONFIG_FILE} and {runs_dir / ref}/{CONFIG_FILE})")


def load_config(run_dir: Path) -> RunConfig:
    return read_model(run_dir / CONFIG_FILE, RunConfig)


class RunStorageError(CheckpointError):
    """A run file that cannot be written (a full disk, a read-only directory); the message names it."""


def write_file(path: Path, text: str) -> None:
    """Write ``path`` atomically and durably, or raise RunStorageError leaving the old file and no .tmp.

    The .tmp name is removed first and created exclusively: a symlink planted there by whoever made the run
    directory is never followed out of it.
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise RunStorageError(f"cannot write {path}: {error.strerror or error}") from None


def open_append(path: Path) -> IO[str]:
    """``path`` opened for appending, refusing a symlink (a run's logs never lead out of the run)."""
    return os.fdopen(os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | _NOFOLLOW, 0o644), "a")


def save_config(run_dir: Path, config: BaseModel) -> None:
    """Rewrite a run's config.json (a resume's new budgets or endpoints), atomically."""
    write_file(run_dir / CONFIG_FILE, config.model_dump_json(indent=2) + "\n")


def write_status(run_dir: Path, status: str, reason: str | None = None) -> None:
    record = {"status": status, "reason": reason, "updated": time.strftime("%Y-%m-%dT%H:%M:%S")}
    write_file(run_dir / STATUS_FILE, json.dumps(record) + "\n")


def read_status(run_dir: Path) -> tuple[str, str | None]:
    """The run's status; a run marked running whose process is gone was killed, so it is paused."""
    try:
        record = json.loads((run_dir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        record = {"status": "paused", "reason": "status file missing"}
    if not isinstance(record, dict) or record.get("status") not in STATUSES:
        record = {"status": "paused", "reason": f"unreadable status file {STATUS_FILE}"}  # damaged or crafted
    status, reason = record["status"], record.get("reason")
    reason = None if reason is None else str(reason)
    if status == "running" and not is_locked(run_dir):
        return "paused", "the process working on it ended abruptly (killed or crashed)"
    return status, reason


_CALLS_LOCK = threading.Lock()  # concurrent restarts record calls from several threads


def append_call(run_dir: Path, call: LLMCall) -> None:
    """Append one LLM call to the audit log, durably: a paid-for reply is never lost."""
    with _CALLS_LOCK, open_append(run_dir / CALLS_FILE) as handle:
        # A process killed mid-line left a cut last line: end it, so this record stays a line of its own.
        size = os.fstat(handle.fileno()).st_size
        cut = size > 0 and os.pread(handle.fileno(), 1, size - 1) != b"\n"
        handle.write(("\n" if cut else "") + call.model_dump_json() + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_calls(run_dir: Path) -> list[LLMCall]:
    return read_calls_checked(run_dir)[0]


def read_calls_checked(run_dir: Path) -> tuple[list[LLMCall], list[str]]:
    """The call log's records, and a one-line warning naming the file when lines had to be skipped.

    A kill -9 in the middle of a write leaves a cut line; the records around it are still good.
    """
    path = run_dir / CALLS_FILE
    if not path.exists():
        return [], []
    calls, bad = [], []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            calls.append(LLMCall.model_validate_json(line))
        except ValueError:  # pydantic's ValidationError, invalid JSON
            bad.append(number)
    if not bad:
        return calls, []
    return calls, [f"{path}: skipped {len(bad)} unreadable line(s) (line {bad[0]}: cut by a kill?)"]


def set_aside_calls(run_dir: Path, since: datetime) -> int:
    """Move the calls started at or after ``since`` from the call log to llm_calls.rewound.jsonl; their count.

    After a rewind the log holds the calls of the current branch only (what replay and the state's usage
    count); the set-aside ones were paid for and stay in the run. Unreadable lines stay where they are.
    Appended there first, durably, then the log is replaced atomically: a kill in between leaves them in both.
    """
    path = run_dir / CALLS_FILE
    if not path.exists():
        return 0
    # A call's start is logged to the millisecond: one started in the fork point's millisecond is after it.
    since = since.replace(microsecond=since.microsecond // 1000 * 1000)
    kept, moved = [], []
    for line in path.read_text(errors="replace").splitlines():
        (moved if _started_at(line) >= since else kept).append(line)
    if not moved:
        return 0
    with open_append(run_dir / REWOUND_CALLS_FILE) as handle:
        handle.writelines(line + "\n" for line in moved)
        handle.flush()
        os.fsync(handle.fileno())
    write_file(path, "".join(line + "\n" for line in kept))
    return len(moved)


def _started_at(line: str) -> datetime:
    """When a logged call started; the oldest time for a line that does not parse (it is kept)."""
    try:
        return datetime.fromisoformat(LLMCall.model_validate_json(line).started_at)
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)


def append_log(run_dir: Path, lines: list[str]) -> None:
    if not lines:
        return
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    with open_append(run_dir / LOG_FILE) as handle:
        handle.writelines(f"{stamp} {line}\n" for line in lines)


def check_progress_kept(run_dir: Path) -> None:
    """Refuse to resume a run whose checkpoints are gone while its call log shows it had made progress.

    Starting over would silently ask the LLM (and pay) for every step again.
    """
    if has_checkpoint(run_dir):
        return
    calls = read_calls(run_dir)
    if calls:
        raise CheckpointError(
            f"{where(run_dir)} holds no checkpoint, but {CALLS_FILE} records {len(calls)} LLM "
            "calls: resuming would start the run over and pay for them again (restore the file, or start a "
            "new run)"
        )


def list_runs(runs_dir: Path) -> list[Path]:
    if not runs_dir.is_dir():
        return []
    return sorted(p for p in runs_dir.iterdir() if (p / CONFIG_FILE).is_file())
