"""Propose: ask the LLM for new templates, in the conversation of the current restart."""

from __future__ import annotations

from langgraph.runtime import Runtime

from promptclimb.graph.config import RunConfig
from promptclimb.graph.context import Context
from promptclimb.graph.state import Message, OptimState, Rejection
from promptclimb.llm.proposer import EMPTY_REPLY_STAND_IN, LLMContextOverflow
from promptclimb.llm.records import Usage
from promptclimb.prompts import meta
from promptclimb.prompts.template import normalize


class BudgetReached(RuntimeError):
    """The run hit --max-llm-calls or --max-cost; it stops resumable, before spending more."""


def check_budget(usage: Usage, config: RunConfig) -> None:
    if config.max_llm_calls is not None and usage.calls >= config.max_llm_calls:
        raise BudgetReached(
            f"LLM call budget reached ({usage.calls} of --max-llm-calls {config.max_llm_calls})"
        )
    if config.max_cost is not None and usage.cost_usd >= config.max_cost:
        raise BudgetReached(
            f"LLM cost budget reached (${usage.cost_usd:.4f} of --max-cost {config.max_cost})"
        )


def system_prompt(context: Context) -> str:
    examples = ", ".join(meta.quoted(name) for name in context.scorer.classnames[:8])
    return meta.SYSTEM.replace("<<TASK>>", context.task).replace("<<EXAMPLES>>", examples)


def proposal_seed(config: RunConfig, restart: int, iteration: int) -> int:
    """Distinct per step, identical on resume: a re-asked step may get the same answer."""
    return config.seed * 1_000_003 + restart * 1_009 + iteration


def step_label(restart: int, iteration: int) -> str:
    return f"restart {restart}, iteration {iteration}"


def propose(state: OptimState, runtime: Runtime[Context]) -> dict:
    context = runtime.context
    config = context.config
    check_budget(state["usage"], config)
    iteration = state["iteration"] + 1
    messages = [{"role": "system", "content": system_prompt(context)}]
    messages += [{"role": m.role, "content": m.content} for m in state["conversation"]]
    seen = {normalize(c.template) for c in state["candidates"]}
    ask = {
        "seed": proposal_seed(config, state["restart"], iteration),
        "step": step_label(state["restart"], iteration),
    }
    try:
        proposal = context.proposer.propose(messages, config.proposals, seen, **ask)
    except LLMContextOverflow:
        # Too long for the model's window: keep the system prompt and the newest user turn, whose lists of
        # good and bad templates carry what the older turns taught.
        proposal = context.proposer.propose([messages[0], messages[-1]], config.proposals, seen, **ask)
    usage = state["usage"]
    for call in proposal.calls:
        usage = usage.add(call)
    # Some APIs (Anthropic) refuse an empty assistant turn, which would stop every later step.
    reply = Message(role="assistant", content=proposal.reply or EMPTY_REPLY_STAND_IN)
    rejections = [
        Rejection(text=text, reason=reason, restart=state["restart"], iteration=iteration)
        for text, reason in proposal.rejections
    ]
    return {
        "iteration": iteration,
        "pending": proposal.templates,
        "pending_source": "llm",
        "conversation": [*state["conversation"], reply],
        "rejections": [*state["rejections"], *rejections],
        "usage": usage,
    }
