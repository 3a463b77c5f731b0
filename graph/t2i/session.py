"""Text-to-image runs: run directories, models built from the saved config, and driving the graph with durable
status on every exit path. Same conventions as graph/session.py and graph/runs.py:

    config.json         the T2IConfig, with "kind": "t2i" | "invert" | "personalize" (resume dispatches on it)
    run.json            status and the one-line reason it stopped
    checkpoints.sqlite  LangGraph checkpoints, written synchronously after every step
    llm_calls.jsonl     every request to the critic / question answerer (images as run-relative paths)
    run.log             notable events
    reference.png       invert, personalize: the reference image, copied in
    images/*.png        every generated image: <phase>-i<iteration>-<index>.png, prompt and seed in PNG text
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from promptclimb.evaluators.images import UnreadableImage, open_rgb
from promptclimb.evaluators.t2i.critics import Critic, VisionChat
from promptclimb.evaluators.t2i.generators import (
    GeneratorError,
    GeneratorOptions,
    ImageGenerator,
    open_generator,
)
from promptclimb.evaluators.t2i.scores import Judge
from promptclimb.graph.checkpoint import SQLITE_THREAD, open_checkpointer, read_state, thread_of, where
from promptclimb.graph.history import prune_history, t2i_boundary
from promptclimb.graph.runs import CONFIG_FILE, append_call, append_log, new_run_dir, read_model, write_status
from promptclimb.graph.session import supervise
from promptclimb.graph.t2i.context import REFERENCE_FILE, T2IContext
from promptclimb.graph.t2i.state import KINDS, T2IConfig, T2IState, t2i_serializer
from promptclimb.graph.t2i.wiring import build_t2i_graph, initial_t2i_state
from promptclimb.llm.errors import LLMUnavailable
from promptclimb.nodes.propose import BudgetReached

THREAD = {"configurable": {"thread_id": SQLITE_THREAD}}  # a SQLite run's thread; thread_of(run_dir) for any
log = logging.getLogger(__name__)

# Stops that leave the run resumable as "paused", with the reason the user sees.
RESUMABLE_STOPS: tuple[type[BaseException], ...] = (BudgetReached, LLMUnavailable, GeneratorError)


class T2IInputError(ValueError):
    """Bad input to a text-to-image command (missing reference, empty query); one-line message."""


def read_kind(run_dir: Path) -> str | None:
    """The run's ``kind`` from its config.json (None for classification runs, which have none)."""
    try:
        return json.loads((run_dir / CONFIG_FILE).read_text()).get("kind")
    except (OSError, ValueError, AttributeError):
        return None


def is_t2i_run(run_dir: Path) -> bool:
    return read_kind(run_dir) in KINDS


def check_inputs(config: T2IConfig) -> None:
    """Refuse bad input before anything is created or spent."""
    if config.kind in ("t2i", "personalize") and not (config.query or "").strip():
        raise T2IInputError(f"{config.kind} needs a non-empty text")
    if config.kind in ("invert", "personalize"):
        if not config.reference:
            raise T2IInputError(f"{config.kind} needs a reference image")
        try:
            open_rgb(config.reference)
        except UnreadableImage as error:
            raise T2IInputError(f"reference image {error}") from error


def slug(text: str, limit: int = 32) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:limit].strip("-").lower() or "run"


def new_run_id(config: T2IConfig) -> str:
    subject = config.query if config.kind == "t2i" else Path(config.reference or "ref").stem
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{config.kind}-{slug(subject or '')}-s{config.seed}"


def create_t2i_run(runs_dir: Path, config: T2IConfig) -> Path:
    run_dir = new_run_dir(runs_dir, new_run_id(config))
    if config.reference:
        config = config.model_copy(update={"reference": str(Path(config.reference).resolve())})
        open_rgb(config.reference).save(run_dir / REFERENCE_FILE, format="PNG")
    config.save(run_dir / CONFIG_FILE)
    write_status(run_dir, "running")
    return run_dir


def load_t2i_config(run_dir: Path) -> T2IConfig:
    return read_model(run_dir / CONFIG_FILE, T2IConfig)


def open_t2i_checkpointer(
    run_dir: Path, readonly: bool = False
) -> AbstractContextManager[BaseCheckpointSaver]:
    """The run's checkpointer with the text-to-image models in the msgpack allow-list."""
    return open_checkpointer(run_dir, serde=t2i_serializer(), readonly=readonly)


def generator_options(config: T2IConfig) -> GeneratorOptions:
    return GeneratorOptions(
        base_url=config.generator_base_url,
        api_key_env=config.generator_api_key_env,
        size=config.image_size,
        quality=config.image_quality,
        price_per_image=config.image_price,
        steps=config.steps,
        guidance=config.guidance,
        device=config.device,
    )


@contextmanager
def open_t2i_models(config: T2IConfig) -> Iterator[tuple[ImageGenerator, Any, Any]]:
    """The generator, the critic's chat backend (stopped on exit) and CLIP when a score needs it."""
    from promptclimb.llm.backends import open_backend

    generator = open_generator(config.generator, generator_options(config))
    clip = None
    if config.clip_model():
        from promptclimb.evaluators.classify.clip import load_clip

        clip = load_clip(config.clip_model(), device=config.device)
    with ExitStack() as stack:
        backend = stack.enter_context(
            open_backend(
                config.critic,
                base_url=config.llm_base_url,
                api_key_env=config.llm_api_key_env,
                temperature=config.temperature,
            )
        )
        yield generator, backend, clip


def make_t2i_context(
    config: T2IConfig, run_dir: Path, generator: ImageGenerator, backend: Any, clip: Any
) -> T2IContext:
    if clip is not None and getattr(clip, "random_weights", False):
        append_log(run_dir, [f"WARNING: {config.clip_model()} has no weights: CLIP runs with RANDOM weights"])
    chat = VisionChat(backend, run_dir, recorder=lambda call: append_call(run_dir, call))
    reference = REFERENCE_FILE if config.kind in ("invert", "personalize") else None
    judge = Judge(config, run_dir, chat, clip, reference=reference)
    return T2IContext(
        config=config,
        run_dir=run_dir,
        generator=generator,
        critic=Critic(chat, config.max_words),
        judge=judge,
    )


def current_t2i_state(run_dir: Path) -> T2IState | None:
    with open_t2i_checkpointer(run_dir, readonly=True) as saver:
        graph = build_t2i_graph(saver)
        return read_state(graph, thread_of(run_dir), T2IState, where(run_dir)) or None


def drive(run_dir: Path, context: T2IContext, on_update: Callable[[str, dict[str, Any]], None]) -> None:
    thread = thread_of(run_dir)
    with open_t2i_checkpointer(run_dir) as saver:
        graph = build_t2i_graph(saver)
        started = bool(graph.get_state(thread).values)
        inputs = None if started else initial_t2i_state(context.config)
        try:
            for chunk in graph.stream(
                inputs, thread, context=context, stream_mode="updates", durability="sync"
            ):
                prune_history(saver, thread, t2i_boundary)  # bounded; resume needs the latest
                for node, update in chunk.items():
                    on_update(node, update or {})
                append_log(run_dir, context.log)
                context.log.clear()
        finally:
            append_log(run_dir, context.log)
            context.log.clear()


def execute_t2i(
    run_dir: Path,
    context: T2IContext,
    on_update: Callable[[str, dict[str, Any]], None],
    prepare: Callable[[], None] | None = None,
) -> tuple[str, str | None]:
    """Start or resume a text-to-image run; returns (status, reason). ``prepare`` runs under the lock."""
    return supervise(run_dir, lambda: drive(run_dir, context, on_update), RESUMABLE_STOPS, prepare)
