"""Questions: decompose the phase's target into DSG yes/no questions, once per phase (dsg score only)."""

from __future__ import annotations

from langgraph.runtime import Runtime

from promptclimb.graph.t2i.context import T2IContext
from promptclimb.graph.t2i.state import T2IConfig, T2IState
from promptclimb.nodes.t2i.budget import check_llm_budget


def target_text(config: T2IConfig, phase: str) -> str | None:
    """What an image of this phase must show, in words; None when it is the reference image itself."""
    return None if phase == "invert" else config.query


def questions(state: T2IState, runtime: Runtime[T2IContext]) -> dict:
    context = runtime.context
    config = context.config
    if config.score != "dsg":
        return {"questions": []}
    check_llm_budget(state, config)
    text = target_text(config, state["phase"])
    if text is None:
        found = context.judge.decompose_image(context.path(context.reference or ""))
    else:
        found = context.judge.decompose_text(text)
    usage = state["usage"]
    for call in found.calls:
        usage = usage.add(call)
    return {"questions": found.questions, "usage": usage}
