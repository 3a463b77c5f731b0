"""A classification run's checkpointed state, read back (``current_state``) and forked (``rewind``).

The run's life (inputs, models, context, driving, status) is the session's: promptclimb.session.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

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
from promptclimb.nodes.ranking import selection_acc

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


class RewindPoint(NamedTuple):
    """A kept checkpoint ``rewind --to`` forks at: the run after ``iterations`` LLM iterations."""

    iterations: int  # LLM iterations done in the whole run (0: the pool scored, before any LLM step)
    restart: int  # 0-based, as the state holds it
    iteration: int  # the last iteration done in that restart (0: none yet)
    best: float  # the best selection accuracy there (a template, or the class-specific classifier)
    llm_calls: int
    item: Any  # the checkpoint tuple

    def label(self) -> str:
        """The step as ``show`` prints it (r1.i5: restart 1, iteration 5), or the scored pool."""
        return f"r{self.restart + 1}.i{self.iteration}" if self.iterations else "the scored pool"


def rewind_points(saver: Any, thread: dict[str, Any], selection: str = "train") -> list[RewindPoint]:
    """One point per number of iterations done, the first kept checkpoint after it, on the current branch."""
    points: dict[int, RewindPoint] = {}
    for item in branch(saver, thread):  # oldest first
        values = item.checkpoint.get("channel_values") or {}
        candidates = values.get("candidates") or []
        if values.get("restart") is None or not candidates:
            continue  # no state yet, or the pool not scored
        done = values.get("iterations_done", 0)
        usage = values.get("usage")
        best = max(selection_acc(c, selection) for c in candidates)
        classifier = values.get("classifier")  # --space classes: the class-specific classifier's score
        if classifier is not None and classifier.total:
            best = max(best, classifier.correct / classifier.total)
        calls = usage.calls if usage is not None else 0
        where = (values["restart"], values.get("iteration", 0))
        points.setdefault(done, RewindPoint(done, *where, best, calls, item))
    return sorted(points.values(), key=lambda p: p.iterations)


@contextmanager
def crafted_is_unreadable(run_dir: Path) -> Iterator[None]:
    """A crafted or damaged checkpoint met while walking a run's history: one line naming the file."""
    try:
        yield
    except CheckpointError:
        raise
    except Exception as error:  # noqa: BLE001 - the states are data from the run directory
        raise CheckpointError(f"unreadable checkpoint file {where(run_dir)}: {first_error(error)}") from None


def list_rewind_points(run_dir: Path) -> list[RewindPoint]:
    """The points ``rewind --to`` takes, oldest first (``rewind --list`` prints them)."""
    selection = load_config(run_dir).selection()
    with open_checkpointer(run_dir, readonly=True) as saver, crafted_is_unreadable(run_dir):
        return rewind_points(saver, thread_of(run_dir), selection)


def spans(numbers: list[int]) -> str:
    """1, 2, 3, 5 -> "1-3, 5" (what a refused --to lists)."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs) or "none"


def rewind_point(saver: Any, thread: dict[str, Any], iterations: int) -> RewindPoint:
    points = rewind_points(saver, thread)
    for point in points:
        if point.iterations == iterations:
            return point
    kept = spans([p.iterations for p in points])
    raise NoSuchRestart(f"no kept checkpoint after {iterations} iterations (kept: {kept})")


def rewind(run_dir: Path, restart: int | None = None, to: int | None = None) -> int:
    """Fork the run at the start of ``restart`` (1-based), or after ``to`` LLM iterations of the whole run
    (``rewind_points``); returns the LLM calls set aside.

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
        with crafted_is_unreadable(run_dir):  # nothing is changed before the point is found
            if to is not None:
                point = rewind_point(saver, thread, to)
                start, said = point.item, f"after iteration {to} ({point.label()})"
            else:
                assert restart is not None
                start, said = restart_start(saver, thread, restart), f"to the start of restart {restart}"
        graph.update_state(start.config, None, as_node="__copy__")
        moved = set_aside_calls(run_dir, datetime.fromisoformat(start.checkpoint["ts"]))
        prune_history(saver, thread, classify_boundary)
        write_status(run_dir, "paused", f"rewound {said}")
    return moved
