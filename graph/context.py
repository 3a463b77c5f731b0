"""Heavy objects injected into the nodes through LangGraph's runtime context (never into the state).

They are rebuilt from the run's saved RunConfig on every start and resume.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from promptclimb.graph.config import RunConfig

if TYPE_CHECKING:  # annotations only: reading a run back (show, list) loads neither numpy nor the LLM stack
    from promptclimb.evaluators.base import Scorer
    from promptclimb.llm.proposer import Proposer


@dataclass
class Context:
    config: RunConfig
    scorer: Scorer
    proposer: Proposer | None  # None when no LLM is needed (e.g. replaying a finished run)
    dataset_name: str = ""  # picks the hand-made template baseline (CoOp dataset names)
    task: str = "the dataset's classes"  # how the meta-prompt describes the data (one concrete line)
    modality: str = "image"  # what the scorer's inputs are: "image" | "text"
    # (training input, its class name) shown to the LLM (texts only; never val or test)
    examples: list[tuple[str, str]] = field(default_factory=list)
    log: list[str] = field(default_factory=list)  # notable events for the run log (the CLI writes them)
