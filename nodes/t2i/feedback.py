"""Feedback (text-to-image): the next user turn, rendered by prompts/t2i_messages.py: the last images, the
best and the worst so far, each with its prompt, score and critique, the images attached."""

from __future__ import annotations

from langgraph.runtime import Runtime

from promptclimb.graph.t2i.context import T2IContext
from promptclimb.graph.t2i.state import T2ICandidate, T2IConfig, T2IMessage, T2IState
from promptclimb.nodes.t2i.rank import in_phase
from promptclimb.prompts.t2i_messages import feedback_turn as render_feedback_turn


def feedback_turn(ranking: list[T2ICandidate], iteration: int, config: T2IConfig) -> T2IMessage:
    """``ranking``: this phase's images, best first."""
    text, images = render_feedback_turn(
        ranking,
        iteration,
        score_kind=config.score,
        top_k=config.top_k,
        bottom_k=config.bottom_k,
        proposals=config.proposals,
    )
    return T2IMessage(role="user", content=text, images=images)


def feedback(state: T2IState, runtime: Runtime[T2IContext]) -> dict:
    config = runtime.context.config
    ranking = in_phase(state["candidates"], state["phase"])
    turn = feedback_turn(ranking, state["iteration"], config)
    return {"conversation": [*state["conversation"], turn]}
