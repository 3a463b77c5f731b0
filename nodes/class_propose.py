"""Class propose (``--space classes``): ask the LLM for texts for the chosen classes, screen what it wrote."""

from __future__ import annotations

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from promptclimb.graph.context import Context
from promptclimb.graph.state import ClassPrompt, OptimState, Rejection
from promptclimb.llm.class_texts import extract_class_texts, key_of, screen_text, texts_schema
from promptclimb.llm.parsing import shorten
from promptclimb.nodes.propose import calls_left, check_budget, proposal_seed, step_label
from promptclimb.prompts.classes import reask_message

TOKENS_PER_WORD = 2  # output budget per asked word for servers that count tokens (the embedded one)


def reply_tokens(classes: int, per_class: int, words: int) -> int:
    """The reply's token budget: the JSON's frame plus every asked text at its longest."""
    return 60 + classes * per_class * TOKENS_PER_WORD * words


def shown_name(name: str) -> str:
    """A class name as the message shows it and the reply's keys carry it."""
    return " ".join(name.split())[:80]


def class_propose(state: OptimState, runtime: Runtime[Context]) -> dict:
    context = runtime.context
    config, names = context.config, context.scorer.classnames
    check_budget(state["usage"], config)
    streak = state.get("unusable_streak", 0)
    if streak and streak % config.max_unusable_steps == 0:
        interrupt(f"the LLM gave no usable class text in {streak} steps in a row (see show's rejections)")
    iteration, restart = state["iteration"] + 1, state["restart"]
    targets = list(state.get("targets", []))
    asked = [shown_name(names[c]) for c in targets]
    messages = [{"role": m.role, "content": m.content} for m in state["conversation"]]
    result = context.proposer.ask(
        messages,
        lambda reply: extract_class_texts(reply, asked),
        lambda error: reask_message(error, asked, config.per_class, context.modality),
        schema=texts_schema(asked, config.per_class, config.class_words),
        max_tokens=reply_tokens(len(asked), config.per_class, config.class_words),
        seed=proposal_seed(config, restart, iteration),
        step=step_label(restart, iteration),
        max_calls=calls_left(state["usage"], config),
    )
    usage = state["usage"]
    for call in result.calls:
        usage = usage.add(call)
    found: dict[int, list[str]] = result.value or {}  # type: ignore[assignment]
    seen: dict[int, set[str]] = {}
    for prompt in state.get("class_prompts", []):
        seen.setdefault(prompt.cls, set()).add(key_of(prompt.text))
    fresh: list[ClassPrompt] = []
    rejections: list[Rejection] = []
    for position, texts in sorted(found.items()):
        cls = targets[position]
        for text in texts[: 2 * config.per_class]:  # extras beyond twice the ask are not scored
            cleaned, why = screen_text(text, names[cls], seen.setdefault(cls, set()))
            if cleaned is None:
                rejections.append(Rejection(text=shorten(text), reason=f"{names[cls]}: {why}",
                                            restart=restart, iteration=iteration))  # fmt: skip
                continue
            seen[cls].add(key_of(cleaned))
            fresh.append(ClassPrompt(cls=cls, text=cleaned, restart=restart, iteration=iteration))
    if not fresh and result.error:
        rejections.append(Rejection(text=shorten(result.reply) or "(empty reply)", reason=result.error,
                                    restart=restart, iteration=iteration))  # fmt: skip
    return {
        "unusable_streak": 0 if fresh else streak + 1,
        "iteration": iteration,
        "pending_classes": fresh,
        "asked": [*state.get("asked", []), *targets],
        "rejections": [*state["rejections"], *rejections],
        "usage": usage,
    }
