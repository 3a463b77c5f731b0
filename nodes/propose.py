"""Propose: ask the LLM for new templates, in the conversation of the current restart."""

from __future__ import annotations

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from promptclimb.graph.config import RunConfig
from promptclimb.graph.context import Context
from promptclimb.graph.state import Message, OptimState, Rejection
from promptclimb.llm.parsing import shorten
from promptclimb.llm.proposer import EMPTY_REPLY_STAND_IN, LLMContextOverflow
from promptclimb.llm.records import Usage
from promptclimb.prompts.classify_messages import system_prompt
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


def calls_left(usage: Usage, config: RunConfig) -> int | None:
    """LLM requests this step may still make under --max-llm-calls (re-asks included)."""
    return None if config.max_llm_calls is None else max(1, config.max_llm_calls - usage.calls)


def proposal_seed(config: RunConfig, restart: int, iteration: int) -> int:
    """Distinct per step, identical on resume: a re-asked step may get the same answer."""
    return config.seed * 1_000_003 + restart * 1_009 + iteration


def step_label(restart: int, iteration: int) -> str:
    return f"restart {restart}, iteration {iteration}"


def propose(state: OptimState, runtime: Runtime[Context]) -> dict:
    context = runtime.context
    config = context.config
    check_budget(state["usage"], config)
    streak = state.get("unusable_streak", 0)
    if streak and streak % config.max_unusable_steps == 0:
        # Pause (resumable) rather than spend more calls on a model that gives nothing usable; `resume`
        # answers the interrupt and this step asks again.
        interrupt(f"the LLM gave no usable template in {streak} steps in a row (see show's rejections)")
    iteration = state["iteration"] + 1
    released = config.meta == "liu2024"  # Liu et al.'s released loop: one user message, no system prompt
    system = system_prompt(
        task=context.task,
        modality=context.modality,
        classnames=context.scorer.classnames,
        feedback=config.feedback,
    )
    messages = [] if released else [{"role": "system", "content": system}]
    messages += [{"role": m.role, "content": m.content} for m in state["conversation"]]
    seen = {normalize(c.template) for c in state["candidates"]}
    ask = {
        "seed": proposal_seed(config, state["restart"], iteration),
        "step": step_label(state["restart"], iteration),
        "max_calls": calls_left(state["usage"], config),
        "dash_reply": released,
    }
    n = config.asked()
    try:
        proposal = context.proposer.propose(messages, n, seen, **ask)
    except LLMContextOverflow:
        if released:  # its one message is all there is: nothing older to drop
            raise
        # Too long for the model's window: keep the system prompt and the newest user turn, whose lists of
        # good and bad templates carry what the older turns taught.
        proposal = context.proposer.propose([messages[0], messages[-1]], n, seen, **ask)
    usage = state["usage"]
    for call in proposal.calls:
        usage = usage.add(call)
    # Some APIs (Anthropic) refuse an empty assistant turn, which would stop every later step.
    reply = Message(role="assistant", content=proposal.reply or EMPTY_REPLY_STAND_IN)
    found = list(proposal.rejections)
    if not proposal.templates and proposal.error and not found:  # an unusable reply is recorded too
        found.append((shorten(proposal.reply) or "(empty reply)", proposal.error))
    rejections = [
        Rejection(text=text, reason=reason, restart=state["restart"], iteration=iteration)
        for text, reason in found
    ]
    repeats = sum(1 for _, reason in proposal.rejections if reason.startswith("duplicate of"))
    return {
        # A released-loop reply of templates already scored is usable there: it only adds nothing.
        "unusable_streak": 0 if proposal.templates or (released and proposal.error is None) else streak + 1,
        "last_repeats": repeats,
        "iteration": iteration,
        "pending": proposal.templates,
        "pending_source": "llm",
        "conversation": [*state["conversation"], reply],
        "rejections": [*state["rejections"], *rejections],
        "usage": usage,
    }
