"""Phases (text-to-image): personalize inverts the reference first, then edits the recovered prompt; the
run ends with the best image of its last phase."""

from __future__ import annotations

from langgraph.runtime import Runtime

from promptclimb.graph.t2i.context import T2IContext
from promptclimb.graph.t2i.state import T2IFinal, T2IState
from promptclimb.nodes.t2i.rank import in_phase


def start_edit(state: T2IState) -> dict:
    """Personalize: the best inverted prompt becomes the starting point of the edit phase."""
    best = in_phase(state["candidates"], "invert")
    return {
        "phase": "edit",
        "recovered": best[0].prompt if best else None,
        "conversation": [],
        "questions": [],
        "iteration": 0,
        "pending": [],
    }


def finalize(state: T2IState, runtime: Runtime[T2IContext]) -> dict:
    ranking = in_phase(state["candidates"], state["phase"])
    if not ranking:
        return {"final": None}
    best = ranking[0]
    first = [c for c in ranking if c.iteration == 0]
    baseline = max((c.score for c in first), default=None)
    final = T2IFinal(
        prompt=best.prompt,
        image=best.image,
        score=best.score,
        scores=best.scores,
        phase=best.phase,
        baseline=baseline,
        recovered=state.get("recovered"),
    )
    runtime.context.log.append(f"final: {best.image} score {best.score:.3f} prompt {best.prompt!r}")
    return {"final": final}
