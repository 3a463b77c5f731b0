"""Building a run's models from its config and driving the graph, with durable status on every exit path."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
from promptclimb.graph.history import branch, classify_boundary, prune_history
from promptclimb.graph.runs import append_call, append_log, set_aside_calls, write_status
from promptclimb.graph.state import OptimState
from promptclimb.graph.wiring import build_graph, initial_state
from promptclimb.llm.backends import ChatBackend, open_backend
from promptclimb.llm.proposer import LLMUnavailable, Proposer
from promptclimb.nodes.propose import BudgetReached
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
        shots=config.shots,
        seed=config.seed,
        layout=config.layout,
        coop_name=config.coop_name,
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
        proposer = Proposer(backend, recorder=lambda call: append_call(run_dir, call))
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
    with open_backend(
        config.llm,
        base_url=config.llm_base_url,
        api_key_env=config.llm_api_key_env,
        temperature=config.temperature,
    ) as backend:
        yield backbone, backend


def current_state(run_dir: Path) -> OptimState | None:
    """The latest checkpointed state, or None when the run has not checkpointed yet."""
    with open_checkpointer(run_dir, readonly=True) as saver:
        return read_state(build_graph(saver), thread_of(run_dir), OptimState, where(run_dir)) or None


def drive(
    run_dir: Path,
    context: Context,
    pool: list[str],
    on_update: Callable[[str, dict[str, Any]], None],
) -> None:
    """Run the graph to its end, or until an error; checkpoints are synchronous after every step."""
    thread = thread_of(run_dir)
    with open_checkpointer(run_dir) as saver:
        graph = build_graph(saver)
        snapshot = graph.get_state(thread)
        inputs: Any = None if snapshot.values else initial_state(pool)
        if snapshot.interrupts:  # paused by the graph itself (nothing usable from the LLM): go on
            inputs = Command(resume="resume")
        try:
            for chunk in graph.stream(
                inputs, thread, context=context, stream_mode="updates", durability="sync"
            ):
                prune_history(saver, thread, classify_boundary)
                for node, update in chunk.items():
                    if node != "__interrupt__":
                        on_update(node, update or {})
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

    thread = thread_of(run_dir)
    with run_lock(run_dir), open_checkpointer(run_dir) as saver:
        graph = build_graph(saver)
        start = restart_start(saver, thread, restart)
        graph.update_state(start.config, None, as_node="__copy__")
        moved = set_aside_calls(run_dir, datetime.fromisoformat(start.checkpoint["ts"]))
        prune_history(saver, thread, classify_boundary)
        write_status(run_dir, "paused", f"rewound to the start of restart {restart}")
    return moved


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
