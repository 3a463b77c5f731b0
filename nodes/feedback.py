"""Feedback: write the next user turn, or start the next restart.

The turn's text is rendered in prompts/ (``--meta``): ``chat`` (the conversational variant, the loop the
paper's abstract describes: one growing conversation per restart) and ``compact`` (promptclimb's: one
self-contained message rebuilt from the leaderboard) by prompts/classify_messages.py; ``liu2024`` (Liu et
al.'s released code: one self-contained user message, the best and the worst templates as plain text, no
scores, no task) by prompts/liu2024.py. This node picks the style and the templates each turn shows.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from promptclimb.graph.config import RunConfig
from promptclimb.graph.context import Context
from promptclimb.graph.state import Candidate, Message, OptimState
from promptclimb.nodes.rank import correct_and_total, in_restart, restart_pool, selection_acc
from promptclimb.prompts import liu2024
from promptclimb.prompts.classify_messages import Counted, compact_message, feedback_message


def counted(candidate: Candidate, on: str) -> Counted:
    """A candidate as the compact style shows it: its counts on the selection data ``on``."""
    correct, total = correct_and_total(candidate, on)
    return Counted(template=candidate.template, correct=correct, total=total, train_acc=candidate.train_acc)


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
        on = config.selection()
        text = compact_message(
            [counted(c, on) for c in ranking],
            config,
            task=context.task,
            modality=context.modality,
            examples=context.examples,
            repeats=repeats,
            error=error,
        )
        return Message(role="user", content=text)
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
