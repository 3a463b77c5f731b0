"""Text-to-image run directories, read and written without any model: the session (session/t2i.py) builds
the models and drives the graph. Same conventions as graph/runs.py:

    config.json         the T2IConfig, with "kind": "t2i" | "invert" | "personalize" (resume dispatches on it)
    run.json            status and the one-line reason it stopped
    checkpoints.sqlite  LangGraph checkpoints, written synchronously after every step
    llm_calls.jsonl     every request to the critic / question answerer (images as run-relative paths)
    run.log             notable events
    reference.png       invert, personalize: the reference image, copied in
    images/*.png        every generated image: <phase>-i<iteration>-<index>.png, prompt and seed in PNG text
"""

from __future__ import annotations

import re
import time
from contextlib import AbstractContextManager
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver

from promptclimb.evaluators.images import open_rgb
from promptclimb.graph.checkpoint import open_checkpointer, read_saved_state, read_state, thread_of, where
from promptclimb.graph.runs import CONFIG_FILE, new_run_dir, read_model, write_status
from promptclimb.graph.t2i.context import REFERENCE_FILE
from promptclimb.graph.t2i.state import T2IConfig, T2IState, t2i_serializer


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


def current_t2i_state(run_dir: Path) -> T2IState | None:
    thread, place = thread_of(run_dir), where(run_dir)
    with open_t2i_checkpointer(run_dir, readonly=True) as saver:
        if (saved := read_saved_state(saver, thread, T2IState, place)) is not None:
            return saved or None  # show and list: no graph compiled, so no node imported
        from promptclimb.graph.t2i.wiring import build_t2i_graph

        return read_state(build_t2i_graph(saver), thread, T2IState, place) or None
