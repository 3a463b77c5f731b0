"""Building a run's models from its config and driving the graph, with durable status on every exit path."""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from langgraph.types import Command

from promptclimb.evaluators.base import DualEncoder
from promptclimb.evaluators.classify.data import FewShotDataset
from promptclimb.evaluators.classify.registry import check_modality, load_any_dataset, load_backbone
from promptclimb.evaluators.classify.scorer import ClipScorer, default_cache_dir
from promptclimb.evaluators.classify.texts import TextDataset
from promptclimb.graph.checkpoint import (
    SQLITE_THREAD,
    CheckpointError,
    RunLocked,
    open_checkpointer,
    read_state,
    run_lock,
    thread_of,
    where,
)
from promptclimb.graph.config import RunConfig
from promptclimb.graph.context import Context
from promptclimb.graph.history import branch, classify_boundary, prune_history, pruning_in_background
from promptclimb.graph.runs import (
    CONFIG_FILE,
    append_call,
    append_log,
    first_error,
    load_config,
    read_calls,
    set_aside_calls,
    write_status,
)
from promptclimb.graph.state import Candidate, LaneOutcome, OptimState, initial_state
from promptclimb.graph.wiring import build_graph, build_lane_graph
from promptclimb.llm.backends import ChatBackend, open_backend
from promptclimb.llm.proposer import LLMUnavailable, Proposer
from promptclimb.llm.records import Usage
from promptclimb.nodes.lanes import merge_lanes, outcome
from promptclimb.nodes.propose import BudgetReached
from promptclimb.nodes.rank import ranked
from promptclimb.prompts import meta
from promptclimb.prompts.pools import load_pool

THREAD = {"configurable": {"thread_id": SQLITE_THREAD}}  # a SQLite run's thread; thread_of(run_dir) for any
log = logging.getLogger(__name__)


class NoUsableTemplates(RuntimeError):
    """The LLM gave nothing usable for several steps in a row: the run pauses, resumable."""


# Stops that leave the run resumable, with the reason the user sees.
RESUMABLE_STOPS: tuple[type[BaseException], ...] = (BudgetReached, LLMUnavailable, NoUsableTemplates)

Dataset = FewShotDataset | TextDataset


def load_data(config: RunConfig) -> Dataset:
    return load_any_dataset(
        config.data,
        **config.draw(),  # type: ignore[arg-type]
        text_column=config.text_column,
        label_column=config.label_column,
    )


def load_inputs(config: RunConfig) -> tuple[Dataset, list[str]]:
    """Check the data and the initial pool before anything is created or spent."""
    pool = load_pool(config.pool, size=config.pool_size, seed=config.seed)
    return load_data(config), pool


def task_description(config: RunConfig, dataset: Dataset) -> str:
    """The one concrete line that tells the LLM what the data is (--task, or from the dataset)."""
    if config.task:
        return " ".join(config.task.split())
    modality = dataset.modality
    line = meta.TASK_DEFAULT.get(modality, meta.TASK_DEFAULT["image"])
    line = line.replace("<<N_CLASSES>>", str(len(dataset.classnames)))
    return line.replace("<<NAME>>", meta.quoted(dataset.name))  # a folder name: quoted data


def make_context(
    config: RunConfig,
    run_dir: Path,
    dataset: Dataset,
    backbone: DualEncoder,
    backend: ChatBackend | None,
) -> Context:
    if backbone.random_weights:
        append_log(run_dir, [f"WARNING: {config.scorer_spec()} has no weights: it runs with RANDOM weights"])
    scorer = ClipScorer(backbone, dataset, config.cache_dir or default_cache_dir())
    proposer = None
    if backend is not None:
        # The log so far: a step asked again after a kill reuses the replies it already paid for.
        recorder = lambda call: append_call(run_dir, call)  # noqa: E731
        proposer = Proposer(backend, recorder=recorder, logged=read_calls(run_dir))
    examples = dataset.examples(config.examples) if isinstance(dataset, TextDataset) else []
    return Context(
        config=config,
        scorer=scorer,
        proposer=proposer,
        dataset_name=dataset.name,
        task=task_description(config, dataset),
        modality=backbone.modality,
        examples=examples,
    )


def open_scorer_model(config: RunConfig, dataset: Dataset | None = None) -> DualEncoder:
    """The run's scorer model (CLIP, a sentence encoder, a plugin), checked against the data."""
    backbone = load_backbone(config.scorer_spec(), device=config.device, precision=config.precision)
    if dataset is not None:
        check_modality(dataset, backbone, config.scorer_spec())
    return backbone


@contextmanager
def open_models(
    config: RunConfig, dataset: Dataset | None = None
) -> Iterator[tuple[DualEncoder, ChatBackend]]:
    """Load the scorer's model and open the LLM backend (an embedded server is stopped on exit)."""
    backbone = open_scorer_model(config, dataset)
    with open_backend(config.llm, **config.backend_options()) as backend:  # type: ignore[arg-type]
        yield backbone, backend


def current_state(run_dir: Path) -> OptimState | None:
    """The latest checkpointed state, or None when the run has not checkpointed yet.

    While concurrent restarts climb, the run's own checkpoint still holds the scored pool only: the
    lanes' progress (in their own checkpoints) is merged in, as the gather node will merge it.
    """
    config = load_config(run_dir) if (run_dir / CONFIG_FILE).is_file() else None
    concurrent = config is not None and config.concurrent()
    thread, place = thread_of(run_dir), where(run_dir)
    with open_checkpointer(run_dir, readonly=True) as saver:
        graph = build_graph(saver, concurrent)
        values = read_state(graph, thread, OptimState, place) or None
        if not values or not concurrent or values.get("restarts_done"):
            return values
        try:
            lanes = lanes_so_far(graph, saver, thread)
            return {**values, **merge_lanes(values, lanes, config)}  # type: ignore[arg-type]
        except Exception as error:  # crafted or damaged lane checkpoints
            raise CheckpointError(f"unreadable checkpoint file {place}: {first_error(error)}") from None


def lanes_so_far(graph: Any, saver: Any, thread: dict[str, Any]) -> list[LaneOutcome]:
    """Each concurrent restart's work: the outcome of a finished lane, the latest state of one in flight."""
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


def drive(
    run_dir: Path,
    context: Context,
    pool: list[str],
    on_update: Callable[[str, dict[str, Any]], None],
) -> None:
    """Run the graph to its end, or until an error; checkpoints are synchronous after every step."""
    config = context.config
    thread = thread_of(run_dir)
    with open_checkpointer(run_dir) as saver:
        graph = build_graph(saver, config.concurrent())
        snapshot = graph.get_state(thread)
        inputs: Any = None if snapshot.values else initial_state(pool)
        if snapshot.interrupts:  # paused by the graph itself (nothing usable from the LLM): go on
            # One answer per pending interrupt: concurrent restarts may each have paused.
            inputs = Command(resume={pause.id: "resume" for pause in snapshot.interrupts})
        progress = LaneProgress(on_update, config) if config.concurrent() else None
        run_config: dict[str, Any] = dict(thread)
        if config.concurrent():  # (only then: a limit of 1 stalls LangGraph's durable checkpoint writes)
            run_config["max_concurrency"] = config.parallel_restarts
        lanes_pruned = (
            pruning_in_background(saver, thread, classify_boundary) if config.concurrent() else nullcontext()
        )
        try:
            with lanes_pruned:
                stream = graph.stream(
                    inputs,
                    run_config,
                    context=context,
                    stream_mode="updates",
                    durability="sync",
                    subgraphs=True,
                )
                for namespace, chunk in stream:
                    prune_history(saver, thread, classify_boundary)
                    for node, update in chunk.items():
                        if node == "__interrupt__":
                            continue
                        if namespace and progress is not None:
                            progress(namespace[0], node, update or {})
                        elif not namespace:
                            on_update(node, update or {})
            prune_history(saver, thread, classify_boundary)  # the last step's too
            paused = graph.get_state(thread).interrupts
            if paused:
                raise NoUsableTemplates(str(paused[0].value))
        finally:
            skipped = getattr(context.scorer, "skipped_images", {})
            context.log += [f"skipped {n} unreadable images in split {k}" for k, n in skipped.items() if n]
            append_log(run_dir, context.log)
            context.log.clear()


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

    thread, concurrent = thread_of(run_dir), load_config(run_dir).concurrent()
    with run_lock(run_dir), open_checkpointer(run_dir) as saver:
        graph = build_graph(saver, concurrent)
        start = restart_start(saver, thread, restart)
        graph.update_state(start.config, None, as_node="__copy__")
        moved = set_aside_calls(run_dir, datetime.fromisoformat(start.checkpoint["ts"]))
        prune_history(saver, thread, classify_boundary)
        write_status(run_dir, "paused", f"rewound to the start of restart {restart}")
    return moved


class LaneProgress:
    """Turns the updates of concurrent lanes into run-wide ones for the progress display: iterations and
    LLM usage summed over lanes, the leaderboard merged. Display only; the state is merged by gather."""

    def __init__(self, on_update: Callable[[str, dict[str, Any]], None], config: RunConfig) -> None:
        self.on_update, self.config = on_update, config
        self.done: dict[str, int] = {}
        self.usage: dict[str, Usage] = {}
        self.best: dict[str, list[Candidate]] = {}
        self.step: dict[str, dict[str, int]] = {}  # lane -> its restart and iteration

    def __call__(self, lane: str, node: str, update: dict[str, Any]) -> None:
        step = self.step.setdefault(lane, {})
        step.update({key: update[key] for key in ("restart", "iteration") if key in update})
        if "iterations_done" in update:
            self.done[lane] = update["iterations_done"]
        if "usage" in update:
            self.usage[lane] = update["usage"]
        if update.get("candidates"):
            self.best[lane] = update["candidates"][:5]
        merged = {**update, **step}
        if "iterations_done" in update:
            merged["iterations_done"] = sum(self.done.values())
        if "usage" in update:
            merged["usage"] = functools.reduce(Usage.plus, self.usage.values(), Usage())
        if update.get("candidates"):
            tops = {c.template: c for top in self.best.values() for c in top}
            merged["candidates"] = ranked(list(tops.values()), self.config)
        self.on_update(node, merged)


def supervise(
    run_dir: Path,
    work: Callable[[], None],
    resumable: tuple[type[BaseException], ...] = RESUMABLE_STOPS,
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
            result = ("paused", "interrupted by the user")
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
    context: Context,
    pool: list[str],
    on_update: Callable[[str, dict[str, Any]], None],
    prepare: Callable[[], None] | None = None,
) -> tuple[str, str | None]:
    """Start or resume a classification run; returns (status, reason)."""
    return supervise(run_dir, lambda: drive(run_dir, context, pool, on_update), prepare=prepare)
