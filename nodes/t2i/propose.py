"""Propose (text-to-image): the phase's first prompts, and the critic's revised prompts at each iteration."""

from __future__ import annotations

from langgraph.runtime import Runtime

from promptclimb.evaluators.t2i.critics import Revision
from promptclimb.graph.t2i.context import T2IContext
from promptclimb.graph.t2i.state import T2IConfig, T2IMessage, T2IRejection, T2IState
from promptclimb.llm.errors import LLMUnavailable
from promptclimb.nodes.t2i.budget import check_llm_budget
from promptclimb.nodes.t2i.rank import in_phase
from promptclimb.prompts.t2i_messages import reference_turn, system_prompt
from promptclimb.prompts.template import normalize


class NoUsablePrompts(LLMUnavailable):
    """The critic answered, but nothing usable: the run pauses, resumable."""


def critic_seed(config: T2IConfig, phase: str, iteration: int) -> int:
    """Distinct per step, identical on resume."""
    return config.seed * 1_000_003 + (7_919 if phase == "edit" else 0) + iteration


def apply(state: T2IState, revision: Revision, iteration: int) -> dict:
    """The state update shared by both proposing nodes: usage, rejections, the reply in the conversation."""
    usage = state["usage"]
    for call in revision.calls:
        usage = usage.add(call)
    rejections = [
        T2IRejection(text=text, reason=reason, phase=state["phase"], iteration=iteration)
        for text, reason in revision.rejections
    ]
    return {"usage": usage, "rejections": [*state["rejections"], *rejections], "pending": revision.prompts}


def start_phase(state: T2IState, runtime: Runtime[T2IContext]) -> dict:
    """t2i starts from the query itself; invert and edit ask the critic to look at the reference first."""
    context = runtime.context
    config, phase = context.config, state["phase"]
    if phase == "t2i":
        return {
            "pending": [config.query or ""],
            "pending_source": "initial",
            "conversation": [],
            "iteration": 0,
        }
    check_llm_budget(state, config)
    turn = T2IMessage(
        role="user", content=reference_turn(phase, config.initial), images=[context.reference or ""]
    )
    revision = context.critic.write_prompts(
        system_prompt(phase, config.query, state.get("recovered")),
        [turn],
        config.initial,
        set(),
        critic_seed(config, phase, 0),
    )
    if not revision.prompts:
        # Nothing to draw: the phase would "finish" with no image at all. Pause instead (resumable), as a
        # classification run pauses on an LLM that gives nothing usable.
        raise NoUsablePrompts(
            f"the critic gave no usable prompt to start the {phase} phase "
            f"({len(revision.rejections)} refused; see llm_calls.jsonl): check the critic model, then resume"
        )
    reply = T2IMessage(role="assistant", content=revision.reply)
    return {
        **apply(state, revision, 0),
        "pending_source": "initial",
        "conversation": [turn, reply],
        "iteration": 0,
    }


def propose(state: T2IState, runtime: Runtime[T2IContext]) -> dict:
    context = runtime.context
    config, phase = context.config, state["phase"]
    check_llm_budget(state, config)
    iteration = state["iteration"] + 1
    seen = {normalize(c.prompt) for c in in_phase(state["candidates"], phase)}
    revision = context.critic.write_prompts(
        system_prompt(phase, config.query, state.get("recovered")),
        state["conversation"],
        config.proposals,
        seen,
        critic_seed(config, phase, iteration),
    )
    reply = T2IMessage(role="assistant", content=revision.reply)
    return {
        **apply(state, revision, iteration),
        "iteration": iteration,
        "pending_source": "llm",
        "conversation": [*state["conversation"], reply],
    }
