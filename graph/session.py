"""A classification run's checkpointed state, read back (``current_state``) and forked (``rewind``).

The run's life (inputs, models, context, driving, status) is the session's: promptclimb.session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptclimb.graph.checkpoint import (
    SQLITE_THREAD,
    CheckpointError,
    open_checkpointer,
    read_saved_state,
    read_state,
    run_lock,
    thread_of,
    where,
)
from promptclimb.graph.history import branch, classify_boundary, prune_history
from promptclimb.graph.runs import CONFIG_FILE, first_error, load_config, set_aside_calls, write_status
from promptclimb.graph.state import LaneOutcome, OptimState

# The graph (and with it the nodes, the scorer and the LLM stack) is imported by the functions that compile
# it: show and list read most runs without it (read_saved_state).

THREAD = {"configurable": {"thread_id": SQLITE_THREAD}}  # a SQLite run's thread; thread_of(run_dir) for any

# Names that moved to the session layer, still importable from here for scripts written before it
# (bench/bench_climb.py): looked up on first use, so graph/ imports nothing above itself.
def current_state(run_dir: Path) -> OptimState | None:
    """The latest checkpointed state, or None when the run has not checkpointed yet.

    While concurrent restarts climb, the run's own checkpoint still holds the scored pool only: the
    lanes' progress (in their own checkpoints) is merged in, as the gather node will merge it.
    """
    config = load_config(run_dir) if (run_dir / CONFIG_FILE).is_file() else None
    concurrent = config is not None and config.concurrent()
    thread, place = thread_of(run_dir), where(run_dir)
    with open_checkpointer(run_dir, readonly=True) as saver:
        if not concurrent and (saved := read_saved_state(saver, thread, OptimState, place)) is not None:
            return saved or None
        from promptclimb.graph.wiring import build_graph

        graph = build_graph(saver, concurrent)
        values = read_state(graph, thread, OptimState, place) or None
        if not values or not concurrent or values.get("restarts_done"):
            return values
        from promptclimb.nodes.lanes import merge_lanes

        try:
            lanes = lanes_so_far(graph, saver, thread)
            return {**values, **merge_lanes(values, lanes, config)}  # type: ignore[arg-type]
        except Exception as error:  # crafted or damaged lane checkpoints
            raise CheckpointError(f"unreadable checkpoint file {place}: {first_error(error)}") from None


def lanes_so_far(graph: Any, saver: Any, thread: dict[str, Any]) -> list[LaneOutcome]:
    """Each concurrent restart's work: the outcome of a finished lane, the latest state of one in flight."""
    from promptclimb.graph.wiring import build_lane_graph
    from promptclimb.nodes.lanes import outcome

    lane_graph = build_lane_graph(saver)
    found: list[LaneOutcome] = []
    for task in graph.get_state(thread).tasks:
        if task.name != "climb":
            continue
        if task.result and task.result.get("lanes"):  # finished before the run stopped
            found += [LaneOutcome.model_validate(lane) for lane in task.result["lanes"]]
            continue
        namespace = {"checkpoint_ns": f"climb:{task.id}"}
        lane = lane_graph.get_state({"configurable": {**thread["configurable"], **namespace}}).values
        if lane:
            found.append(outcome(lane))  # type: ignore[arg-type]
    return found


class NoSuchRestart(CheckpointError):
    """A rewind to a restart whose start the run's history does not hold; the message lists those it does."""


def restart_start(saver: Any, thread: dict[str, Any], restart: int) -> Any:
    """The kept checkpoint at the start of ``restart`` (1-based, as printed) on the run's current branch.

    Restart 1 starts once the pool is scored (nothing is re-scored); restart K > 1 at its first checkpoint,
    which the previous restart's feedback step wrote.
    """
    starts: dict[int, Any] = {}
    pool_scored: dict[int, Any] = {}
    for item in branch(saver, thread):  # oldest first
        values = item.checkpoint.get("channel_values") or {}
        if values.get("restart") is None:
            continue  # the input checkpoint: no state yet
        starts.setdefault(values["restart"] + 1, item)
        if values["restart"] == 0 and values.get("candidates"):
            pool_scored.setdefault(1, item)
    starts.update(pool_scored)
    if restart not in starts:
        kept = ", ".join(map(str, sorted(starts))) or "none"
        raise NoSuchRestart(f"no checkpoint at the start of restart {restart} (kept: {kept})")
    return starts[restart]


def rewind(run_dir: Path, restart: int) -> int:
    """Fork the run at the start of ``restart`` (1-based); returns the LLM calls set aside.

    The fork is LangGraph's checkpoint copy (``update_state(..., as_node="__copy__")``): a new latest
    checkpoint with the values of the restart's start, so the next resume continues from there with no
    pending writes of the old branch. Calls logged after that point move to llm_calls.rewound.jsonl, the old
    branch's checkpoints are pruned, and the run is paused (resumable).
    """
    from datetime import datetime

    from promptclimb.graph.wiring import build_graph

    thread, concurrent = thread_of(run_dir), load_config(run_dir).concurrent()
    with run_lock(run_dir), open_checkpointer(run_dir) as saver:
        graph = build_graph(saver, concurrent)
        start = restart_start(saver, thread, restart)
        graph.update_state(start.config, None, as_node="__copy__")
        moved = set_aside_calls(run_dir, datetime.fromisoformat(start.checkpoint["ts"]))
        prune_history(saver, thread, classify_boundary)
        write_status(run_dir, "paused", f"rewound to the start of restart {restart}")
    return moved
