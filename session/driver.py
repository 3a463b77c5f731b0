"""The kind-neutral driver: stream a run's graph to its end and record how it ended, for both kinds.

Checkpoints are written synchronously after every step; every exit path leaves a status the user can act on.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from langgraph.types import Command

from promptclimb.graph.checkpoint import (
    RunLocked,
    StoreLost,
    lost_store,
    run_lock,
    store_failures,
    thread_of,
)
from promptclimb.graph.history import prune_history, pruning_in_background
from promptclimb.graph.runs import append_log, write_status
from promptclimb.session.kinds import Kind

log = logging.getLogger(__name__)
Updates = Callable[[str, dict[str, Any]], None]
INTERRUPTED = "interrupted by the user"
PROGRESS = "progress"  # what a view gets as the node name of a progress event (the custom stream)


class NoUsableTemplates(RuntimeError):
    """The graph paused itself (the LLM gave nothing usable for several steps in a row): resumable."""


def flush_log(run_dir: Path, lines: list[str]) -> None:
    """Write the context's pending run-log lines (lines a concurrent lane adds meanwhile wait)."""
    count = len(lines)
    if count:
        append_log(run_dir, lines[:count])
        del lines[:count]


def drive(run_dir: Path, kind: Kind, context: Any, pool: list[str], on_update: Updates) -> None:
    """Run the graph to its end, or until an error. A new run starts from ``kind.initial``; a graph that
    paused itself (interrupts) is answered "resume", one answer per pending interrupt. A lost PostgreSQL
    store is a pause (StoreLost)."""
    try:
        drive_stored(run_dir, kind, context, pool, on_update)
    except store_failures() as error:
        raise lost_store(error) from error


def drive_stored(run_dir: Path, kind: Kind, context: Any, pool: list[str], on_update: Updates) -> None:
    config = context.config
    thread = thread_of(run_dir)
    lanes = kind.lanes(config)
    with kind.checkpointer(run_dir) as saver:
        graph = kind.graph(saver, config)
        snapshot = graph.get_state(thread)
        inputs: Any = None if snapshot.values else kind.initial(config, pool)
        if snapshot.interrupts:
            inputs = Command(resume={pause.id: "resume" for pause in snapshot.interrupts})
        progress = kind.lane_progress(on_update, config) if lanes > 1 and kind.lane_progress else None
        run_config: dict[str, Any] = dict(thread)
        if lanes > 1:  # (only then: a limit of 1 stalls LangGraph's durable checkpoint writes)
            run_config["max_concurrency"] = lanes
        lanes_pruned = pruning_in_background(saver, thread, kind.boundary) if lanes > 1 else nullcontext()
        try:
            with lanes_pruned:
                stream = graph.stream(
                    inputs,
                    run_config,
                    context=context,
                    stream_mode=["updates", "custom"],
                    durability="sync",
                    subgraphs=True,
                )
                for namespace, mode, chunk in stream:
                    if mode == "custom":  # a node's progress within its step: nothing checkpointed yet
                        if not namespace and isinstance(chunk, dict):
                            on_update(PROGRESS, chunk)
                        continue
                    prune_history(saver, thread, kind.boundary)  # bounded; resume needs the latest
                    for node, update in chunk.items():
                        if node == "__interrupt__":
                            continue
                        if namespace and progress is not None:
                            progress(namespace[0], node, update or {})
                        elif not namespace:
                            on_update(node, update or {})
                    flush_log(run_dir, context.log)
            prune_history(saver, thread, kind.boundary)  # the last step's too
            paused = graph.get_state(thread).interrupts
            if paused:
                raise NoUsableTemplates(str(paused[0].value))
        finally:
            context.log += kind.closing_log(context)
            flush_log(run_dir, context.log)


def supervise(
    run_dir: Path,
    work: Callable[[], None],
    resumable: tuple[type[BaseException], ...],
    prepare: Callable[[], None] | None = None,
) -> tuple[str, str | None]:
    """Run ``work`` under the run's lock and record how it ended; returns (status, reason).

    Every exit path leaves a status the user can act on: finished, paused (resumable: Ctrl-C, a budget, an
    unreachable LLM) or failed (also resumable from the last checkpoint, once the cause is fixed).
    """
    with run_lock(run_dir):
        if prepare is not None:  # changes to the run's files wait for the lock (RunLocked leaves them be)
            prepare()
        write_status(run_dir, "running")
        try:
            work()
        except RunLocked:  # a worker on another machine drives it (the store's lock): it is running
            raise
        except KeyboardInterrupt:
            result = ("paused", INTERRUPTED)
        except resumable as error:
            result = ("paused", str(error).splitlines()[0])
        except Exception as error:
            log.debug("run failed", exc_info=True)  # the terminal, with --debug
            append_log(run_dir, traceback.format_exc().rstrip().splitlines())  # always kept with the run
            result = ("failed", f"{type(error).__name__}: {error}".splitlines()[0])
        else:
            result = ("finished", None)
        write_status(run_dir, *result)
        return result


def execute(
    run_dir: Path,
    kind: Kind,
    context: Any,
    pool: list[str],
    on_update: Updates,
    prepare: Callable[[], None] | None = None,
) -> tuple[str, str | None]:
    """Start or resume a run of any kind; returns (status, reason). ``prepare`` runs under the run's lock."""
    work = lambda: drive(run_dir, kind, context, pool, on_update)  # noqa: E731
    return supervise(run_dir, work, (*kind.resumable, NoUsableTemplates, StoreLost), prepare)
