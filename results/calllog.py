"""Reading a run's LLM call log (llm_calls.jsonl) as propose steps, for replays and plots.

Checkpoints are pruned to the latest few, so the log is the only record of how the calls split into
propose steps. One propose step sends its conversation (the *base* request), may retry it after failures
(same request) and may re-ask after an unusable reply (the base plus assistant/re-ask turns). A new step
either sends another base, or the same base again after a success: a restart that starts from the same
first turn, or the re-run of a step whose first attempt was lost when the process was killed (an orphan:
logged, never checkpointed, asked again on resume).
"""

from __future__ import annotations

from dataclasses import dataclass

from promptclimb.llm.records import LLMCall
from promptclimb.prompts import meta

REASK_PREFIX = meta.REASK.split("<<ERROR>>")[0]


def base_request(request: list[dict[str, str]]) -> list[dict[str, str]]:
    """The conversation a step started from: the request without its trailing re-ask exchanges."""
    messages = list(request)
    while (
        len(messages) >= 3
        and messages[-1].get("role") == "user"
        and messages[-1].get("content", "").startswith(REASK_PREFIX)
        and messages[-2].get("role") == "assistant"
    ):
        messages = messages[:-2]
    return messages


@dataclass
class Attempt:
    """Consecutive calls of one attempt at one propose step."""

    calls: list[LLMCall]
    base: list[dict[str, str]]

    @property
    def succeeded(self) -> bool:
        return any(c.reply is not None for c in self.calls)


def attempts(calls: list[LLMCall]) -> list[Attempt]:
    groups: list[Attempt] = []
    for call in calls:
        base = base_request(call.request)
        fresh = call.request == base
        last = groups[-1] if groups else None
        if last is None or base != last.base or (fresh and last.succeeded):
            groups.append(Attempt([], base))
        groups[-1].calls.append(call)
    return groups


def used_attempts(calls: list[LLMCall], counted_calls: int) -> tuple[list[Attempt], bool]:
    """The attempts the run's checkpointed steps consumed, and whether that count matches the state.

    ``counted_calls`` is the state's usage.calls: the calls of every checkpointed step. When the log holds
    exactly that many, every attempt was used. Otherwise the extra ones are orphans: an attempt followed by
    another attempt at the same base (the re-run after a kill), and attempts after the last counted call
    (a step in flight when the run stopped).
    """
    groups = attempts(calls)
    if len(calls) == counted_calls:
        return groups, True
    kept = [
        g
        for g, following in zip(groups, [*groups[1:], None], strict=True)
        if not (following and following.base == g.base)
    ]
    while kept and sum(len(g.calls) for g in kept) > counted_calls:
        kept.pop()
    return kept, sum(len(g.calls) for g in kept) == counted_calls
