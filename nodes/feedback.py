"""Feedback: write the next user turn (scores of good/bad templates), or start the next restart."""

from __future__ import annotations

from langgraph.runtime import Runtime

from promptclimb.graph.config import RunConfig
from promptclimb.graph.context import Context
from promptclimb.graph.state import Candidate, Message, OptimState
from promptclimb.nodes.rank import in_restart
from promptclimb.prompts import meta
from promptclimb.prompts.template import PLACEHOLDER


def shown(template: str) -> str:
    """How the LLM sees a template: the placeholder word instead of ``{}``."""
    return template.replace(PLACEHOLDER, meta.PLACEHOLDER_WORD)


def score_lines(candidates: list[Candidate]) -> str:
    return "\n".join(f'- "{shown(c.template)}": {100 * c.train_acc:.1f}%' for c in candidates)


def fill(text: str, **slots: str) -> str:
    """Plain replacement of <<SLOT>> markers: LLM-written text is never formatted."""
    for name, value in slots.items():
        text = text.replace(f"<<{name}>>", value)
    return text


def feedback_message(ranking: list[Candidate], last: list[Candidate] | None, config: RunConfig) -> str:
    """One user turn. ``ranking`` is best first; ``last`` the templates scored in the previous iteration."""
    n = str(config.proposals)
    good = ranking[: config.top_k]
    # The worst templates, excluding any already shown as good (small leaderboards overlap).
    bad = [c for c in ranking[::-1][: config.bottom_k] if c not in good][::-1]
    parts: list[str] = []
    if config.feedback != "none" and last is not None:
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


def restart_finished(state: OptimState, config: RunConfig) -> bool:
    if state["iteration"] >= config.iterations:
        return True
    return config.patience is not None and state["stale"] >= config.patience


def first_turn(candidates: list[Candidate], config: RunConfig) -> Message:
    pool = [c for c in candidates if c.source == "pool"]
    return Message(role="user", content=feedback_message(pool, None, config))


def feedback(state: OptimState, runtime: Runtime[Context]) -> dict:
    config = runtime.context.config
    candidates = state["candidates"]
    if restart_finished(state, config):
        done = state["restarts_done"] + 1
        if done >= config.restarts:
            return {"restarts_done": done}
        pool_best = max((c.train_acc for c in candidates if c.source == "pool"), default=0.0)
        return {
            "restarts_done": done,
            "restart": state["restart"] + 1,
            "iteration": 0,
            "stale": 0,
            "best_in_restart": pool_best,
            "conversation": [first_turn(candidates, config)],
        }
    if not state["conversation"]:  # the initial pool was just scored
        return {"conversation": [first_turn(candidates, config)]}
    last = [c for c in candidates if c.restart == state["restart"] and c.iteration == state["iteration"]]
    last = [c for c in last if c.source == "llm"]
    ranking = in_restart(candidates, state["restart"])
    turn = Message(role="user", content=feedback_message(ranking, last, config))
    return {"conversation": recent([*state["conversation"], turn], config.history_turns)}


def recent(conversation: list[Message], turns: int) -> list[Message]:
    """The last ``turns`` exchanges before the newest user turn; it still begins with a user turn."""
    return conversation[-(2 * turns + 1) :]
