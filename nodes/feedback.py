"""Feedback: write the next user turn, or start the next restart.

Three styles (``--meta``):

- ``chat`` (the conversational variant, the loop the paper's abstract describes): one growing conversation
  per restart; each turn shows the scores of the last proposals, the best and the worst templates of the
  restart, and asks for better ones.
- ``liu2024`` (Liu et al.'s released code): one self-contained user message per iteration
  (prompts/liu2024.py): the best and the worst templates as plain text, no scores, no task.
- ``compact`` (promptclimb's default): every turn is one self-contained message rebuilt from the
  leaderboard (task first, example inputs, the best templates with correct/N from worst to best, the
  worst ones), so the prompt stays short for small models and nothing anchors the LLM on its own earlier
  replies.

Each feedback mode shows exactly its kind of feedback: ``pos`` only the best templates, ``neg`` only the
worst, ``none`` no scores at all (the LLM resamples), ``pos+neg`` both (and, in chat, the last scores).
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from promptclimb.graph.config import RunConfig
from promptclimb.graph.context import Context
from promptclimb.graph.state import Candidate, Message, OptimState
from promptclimb.nodes.rank import correct_and_total, in_restart, restart_pool, selection_acc
from promptclimb.prompts import liu2024, meta
from promptclimb.prompts.template import PLACEHOLDER

MAX_EXAMPLE_CHARS = 160  # an example input shown to the LLM is cut to this


def shown(template: str) -> str:
    """How the LLM sees a template: the placeholder word instead of ``{}``."""
    return template.replace(PLACEHOLDER, meta.PLACEHOLDER_WORD)


def quoted(text: str) -> str:
    """A template or an example input in a meta-prompt (already bounded by validation or clip_text)."""
    return meta.quoted(text, limit=None)


def fill(text: str, **slots: str) -> str:
    """Plain replacement of <<SLOT>> markers: LLM-written text is never formatted."""
    for name, value in slots.items():
        text = text.replace(f"<<{name}>>", value)
    return text


# -- chat style (the conversational variant) -----------------------------------------------------------------


def score_lines(candidates: list[Candidate]) -> str:
    return "\n".join(f"- {quoted(shown(c.template))}: {100 * c.train_acc:.1f}%" for c in candidates)


def feedback_message(ranking: list[Candidate], last: list[Candidate] | None, config: RunConfig) -> str:
    """One chat turn. ``ranking`` is best first; ``last`` the templates scored in the previous iteration."""
    n = str(config.asked())
    good = ranking[: config.top_k]
    # The worst templates, excluding any already shown as good (small leaderboards overlap).
    bad = [c for c in ranking[::-1][: config.bottom_k] if c not in good][::-1]
    parts: list[str] = []
    if config.feedback == "pos+neg" and last is not None:  # last scores mix good and bad: both kinds
        parts.append(fill(meta.LAST_SCORES, LAST=score_lines(last) or meta.NOTHING_USABLE))
    if config.feedback in ("pos+neg", "pos"):
        parts.append(fill(meta.GOOD_LIST, GOOD=score_lines(good)))
    if config.feedback in ("pos+neg", "neg") and bad:
        parts.append(fill(meta.BAD_LIST, BAD=score_lines(bad)))
    ask = {
        "pos+neg": meta.ASK_BETTER,
        "pos": meta.ASK_BETTER_POSITIVE,
        "neg": meta.ASK_BETTER_NEGATIVE,
        "none": meta.ASK_RESAMPLE,
    }[config.feedback]
    parts.append(fill(ask, N=n))
    return "\n\n".join(parts)


# -- compact style (promptclimb's default) --------------------------------------------------------------


def count_lines(candidates: list[Candidate], on: str) -> str:
    lines = []
    for c in candidates:
        correct, total = correct_and_total(c, on)
        score = f"{correct}/{total}" if total else f"{100 * c.train_acc:.1f}%"
        lines.append(f"- {quoted(shown(c.template))}: {score}")
    return "\n".join(lines)


def compact_message(ranking: list[Candidate], context: Context, repeats: int, error: str | None) -> str:
    """One self-contained turn: task, examples, scores as the feedback mode allows, the ask."""
    config = context.config
    inputs = meta.INPUTS.get(context.modality, "inputs")
    on = config.selection()
    total = correct_and_total(ranking[0], on)[1] if ranking else 0
    parts = [fill(meta.COMPACT_TASK, TASK=context.task)]
    if context.examples:
        lines = "\n".join(
            f"- {quoted(clip_text(text))} (class: {quoted(name)})" for text, name in context.examples
        )
        parts.append(fill(meta.COMPACT_EXAMPLES, INPUTS=inputs, LINES=lines))
    parts.append(meta.COMPACT_HOW)
    slots = {"TOTAL": str(total), "INPUTS": inputs}
    bottom = [c for c in ranking[::-1][: config.bottom_k]]
    if config.feedback == "pos+neg":
        best = ranking[: max(1, config.shown - len(bottom))]
        shown_set = best + [c for c in bottom if c not in best]
        ordered = sorted(shown_set, key=lambda c: selection_acc(c, on))  # worst to best, best last (OPRO)
        parts.append(fill(meta.COMPACT_SCORES, LINES=count_lines(ordered, on), **slots))
    elif config.feedback == "pos":
        best = ranking[: config.shown][::-1]
        parts.append(fill(meta.COMPACT_SCORES_BEST, LINES=count_lines(best, on), **slots))
    elif config.feedback == "neg" and bottom:
        parts.append(fill(meta.COMPACT_SCORES_WORST, LINES=count_lines(bottom, on), **slots))
    if config.feedback != "none":
        parts.append(fill(meta.COMPACT_DEPART, INPUTS=inputs))
        if error:
            parts.append(fill(meta.NOTHING_USABLE_COMPACT, ERROR=error))
        elif repeats:
            parts.append(fill(meta.COMPACT_REPEATS, K=str(repeats)))
    ask = meta.COMPACT_ASK_RESAMPLE if config.feedback == "none" else meta.COMPACT_ASK
    parts.append(fill(ask, N=str(config.asked()), INPUTS=inputs))
    return "\n\n".join(parts)


def clip_text(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_EXAMPLE_CHARS else text[: MAX_EXAMPLE_CHARS - 3] + "..."


# -- the node ---------------------------------------------------------------------------------------------


def restart_finished(state: OptimState, config: RunConfig) -> bool:
    if state["iteration"] >= config.iterations:
        return True
    return config.patience is not None and state["stale"] >= config.patience


def next_turn(state: OptimState, context: Context, restart: int, fresh: bool) -> Message:
    """The user turn that asks for the next proposals of ``restart`` (``fresh``: its first turn)."""
    config = context.config
    candidates = state["candidates"]  # best first: the rank node sorted them just before this node
    if config.meta == "liu2024":  # Liu et al.'s released loop: best first, then worst first, no scores
        ranking = in_restart(candidates, restart, config)
        good = [c.template for c in ranking[: config.top_k]]
        bad = [c.template for c in ranking[::-1][: config.bottom_k]]
        return Message(role="user", content=liu2024.message(good, bad, config.asked()))
    if config.meta == "compact":
        ranking = in_restart(candidates, restart, config)
        repeats = 0 if fresh else state.get("last_repeats", 0)
        error = None
        if not fresh and state.get("unusable_streak", 0):
            error = "no valid new template in it"
        return Message(role="user", content=compact_message(ranking, context, repeats, error))
    if fresh:
        pool = restart_pool(candidates, restart, config)
        return Message(role="user", content=feedback_message(pool, None, config))
    last = [c for c in candidates if c.restart == restart and c.iteration == state["iteration"]]
    last = [c for c in last if c.source == "llm"]
    ranking = in_restart(candidates, restart, config)
    return Message(role="user", content=feedback_message(ranking, last, config))


def feedback(state: OptimState, runtime: Runtime[Context]) -> dict:
    context = runtime.context
    config = context.config
    if restart_finished(state, config):
        done = state["restarts_done"] + 1
        if done >= config.restarts:
            return {"restarts_done": done}
        restart = state["restart"] + 1
        start = restart_pool(state["candidates"], restart, config)
        pool_best = max((selection_acc(c, config.selection()) for c in start), default=0.0)
        return {
            "restarts_done": done,
            "restart": restart,
            "iteration": 0,
            "stale": 0,
            "best_in_restart": pool_best,
            "last_repeats": 0,
            "conversation": [next_turn(state, context, restart, fresh=True)],
        }
    if not state["conversation"]:  # the initial pool was just scored
        return {"conversation": [next_turn(state, context, state["restart"], fresh=True)]}
    turn = next_turn(state, context, state["restart"], fresh=False)
    if config.meta in ("compact", "liu2024"):  # self-contained: no history to carry
        return {"conversation": [turn]}
    return {"conversation": recent([*state["conversation"], turn], config.history_turns)}


def recent(conversation: list[Message], turns: int) -> list[Message]:
    """The last ``turns`` exchanges before the newest user turn; it still begins with a user turn."""
    return conversation[-(2 * turns + 1) :]
