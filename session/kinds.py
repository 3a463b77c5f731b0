"""The small table of what differs between the two kinds of run; everything else is kind-neutral.

A run's kind is read from its config.json ("kind": "t2i" | "invert" | "personalize" for text-to-image; none
for classification) without loading anything heavy, so the CLI can dispatch before torch or LangGraph load.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Hashable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_FILE = "config.json"  # graph/runs.py's name, read here without importing it
T2I_KINDS = ("t2i", "invert", "personalize")  # graph/t2i/state.py's KINDS (checked by the t2i kind)
CLASSIFY, T2I = "classify", "t2i"


@dataclass(frozen=True)
class Kind:
    """One kind of run: how its config, models, graph and summary are made; the driver and the lifecycle do
    the rest the same way for both."""

    name: str  # "classify" | "t2i"
    load_config: Callable[[Path], Any]
    overrides: tuple[str, ...]  # options a resume may give anew (budgets, endpoints)
    resumable: tuple[type[BaseException], ...]  # stops that leave the run paused, not failed
    checkpointer: Callable[..., AbstractContextManager[Any]]  # (run_dir, readonly=False)
    graph: Callable[[Any, Any], Any]  # (saver, config) -> the compiled graph
    boundary: Callable[[dict[str, Any]], Hashable]  # history pruning: what starts a kept segment
    initial: Callable[[Any, list[str]], Any]  # (config, pool) -> the first state
    lanes: Callable[[Any], int]  # restarts climbed at once (1: one after another)
    lane_progress: Callable[..., Any] | None  # merges concurrent lanes' updates for the progress views
    closing_log: Callable[[Any], list[str]]  # lines the run log gets when a drive ends (context -> lines)
    open: Callable[..., AbstractContextManager[Any]]  # models and context of a new or resumed run
    summarize: Callable[[Path], dict[str, Any]]
    endpoint_reasons: Callable[[Any, dict[str, Any]], list[str]]  # (config, given) -> credentials at stake
    code_reasons: Callable[[Any], list[str]]  # config -> code or files a run's config.json would load
    endpoint_hint: str  # what to give instead of --trust-run-llm
    code_hint: str  # what to do instead of --trust-run-plugin
    finished: Callable[[Path], list[Path]]  # files a finished run writes (text-to-image: its report)


def kind_name(run_dir: Path) -> str:
    """ "t2i" for a text-to-image run (any of its kinds), else "classify"; reads only config.json."""
    try:
        kind = json.loads((run_dir / CONFIG_FILE).read_text()).get("kind")
    except (OSError, ValueError, AttributeError):
        kind = None
    return T2I if kind in T2I_KINDS else CLASSIFY


def kind_named(name: str) -> Kind:
    """The table row of a kind, its module imported only now (heavy: LangGraph, the models' loaders)."""
    module = {CLASSIFY: "promptclimb.session.classify", T2I: "promptclimb.session.t2i"}[name]
    return importlib.import_module(module).KIND


def kind_of(run_dir: Path) -> Kind:
    return kind_named(kind_name(run_dir))
