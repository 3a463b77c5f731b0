"""Rank: order the leaderboard and track progress of the current restart (early stopping).

Selection is by accuracy only: training accuracy, or train and val pooled (``select_on``: more examples
behind each number, so less luck in a 1-shot pick). Ties keep discovery order (the older template first),
unless the user asks for the cosine margin as a tie-break (``--tie-break margin``: not accuracy-only).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from langgraph.runtime import Runtime

from promptclimb.graph.config import RunConfig
from promptclimb.graph.context import Context
from promptclimb.graph.state import Candidate, OptimState

# The order itself lives in nodes/ranking.py (no LangGraph import); importable from here as before.
from promptclimb.nodes.ranking import correct_and_total, ranked, selection_acc  # noqa: F401

if TYPE_CHECKING:  # not in rank's own signature, which LangGraph reads: show and list skip numpy
    from promptclimb.evaluators.base import Scorer

RESTART_POOL_SHARE = 2 / 3  # restarts after the first start from this share of the pool, resampled


def selection_splits(on: str, scorer: Scorer) -> list[str]:
    """The splits behind the selection data: train, or train and val pooled where there is a val split."""
    return ["train", "val"] if on == "train+val" and scorer.has_split("val") else ["train"]


def restart_pool(candidates: list[Candidate], restart: int, config: RunConfig) -> list[Candidate]:
    """The pool templates a restart starts from: all of them for the first, a resampled share for later
    ones (as the paper draws new initial prompts per restart), so restarts explore different starting
    points instead of replaying the first one."""
    pool = [c for c in candidates if c.source == "pool"]
    # Liu et al.'s release has no restarts inside a run: a repeat (its --run) starts from the same pool.
    if restart == 0 or len(pool) < 4 or config.meta == "liu2024":
        return pool
    keep = max(3, round(len(pool) * RESTART_POOL_SHARE))
    rng = random.Random(f"promptclimb-restart:{config.seed}:{restart}")
    chosen = set(rng.sample(sorted(c.template for c in pool), keep))
    return [c for c in pool if c.template in chosen]


def in_restart(candidates: list[Candidate], restart: int, config: RunConfig) -> list[Candidate]:
    """What one hill-climb sees: its starting pool plus the templates proposed in this restart."""
    # In the order of ``candidates`` (ranked, best first): a proposal that beats the pool comes before it.
    start = {c.template for c in restart_pool(candidates, restart, config)}
    return [c for c in candidates if c.template in start or (c.source == "llm" and c.restart == restart)]


def rank(state: OptimState, runtime: Runtime[Context]) -> dict:
    config = runtime.context.config
    candidates = ranked(state["candidates"], config)
    restart, iteration = state["restart"], state["iteration"]
    mine = in_restart(candidates, restart, config)
    best = selection_acc(mine[0], config.selection()) if mine else 0.0
    update: dict = {"candidates": candidates, "best_in_restart": best}
    if iteration > 0:  # an LLM iteration just finished (iteration 0 is the initial pool)
        improved = best > state["best_in_restart"]
        update["stale"] = 0 if improved else state["stale"] + 1
        update["iterations_done"] = state["iterations_done"] + 1
    return update
