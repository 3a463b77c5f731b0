"""Concurrent restarts: each restart climbs in its own subgraph (a "lane"), fanned out with LangGraph's Send.

A lane is the ordinary propose -> evaluate -> rank -> feedback loop on one restart, started from the scored
pool; it ends when its restart ends. LangGraph checkpoints every lane step in the lane's own namespace, so
a killed run resumes each unfinished lane where it stopped and never re-runs a finished one. The gather
node merges what the lanes found into the run's one leaderboard, in restart order.

Lanes do not see each other's templates while they climb (two lanes may find the same one: the later
restart's copy is recorded as a duplicate at the merge), and each lane gets an equal share of the run's
LLM budgets, so that budget checks need no cross-lane counter that a resume would have to rebuild.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from promptclimb.graph.config import RunConfig
from promptclimb.graph.context import Context
from promptclimb.graph.state import Candidate, LaneOutcome, OptimState, Rejection, initial_state
from promptclimb.llm.records import Usage
from promptclimb.nodes.feedback import feedback, restart_finished
from promptclimb.nodes.rank import ranked, restart_pool, selection_acc
from promptclimb.prompts import meta
from promptclimb.prompts.template import normalize


def lane_config(config: RunConfig, restart: int) -> RunConfig:
    """The run's config with this restart's share of the LLM budgets (shares add up to the whole)."""
    update: dict[str, Any] = {}
    if config.max_llm_calls is not None:
        share, extra = divmod(config.max_llm_calls, config.restarts)
        update["max_llm_calls"] = share + (1 if restart < extra else 0)
    if config.max_cost is not None:
        update["max_cost"] = config.max_cost / config.restarts
    return config.model_copy(update=update)


def lane_start(restart: int, pool: list[Candidate], config: RunConfig) -> OptimState:
    """A lane's first state: the scored pool, nothing asked yet."""
    start = restart_pool(pool, restart, config)
    best = max((selection_acc(c, config.selection()) for c in start), default=0.0)
    return {**initial_state([]), "pending_source": "llm", "candidates": pool, "restart": restart,
            "best_in_restart": best}  # fmt: skip


def lane_feedback(state: OptimState, runtime: Runtime[Context]) -> dict:
    """feedback for one restart: the next turn, or the lane's end (never the next restart)."""
    if restart_finished(state, runtime.context.config):
        return {"restarts_done": 1, "restart": state["restart"]}
    return {**feedback(state, runtime), "restart": state["restart"]}


def outcome(state: OptimState) -> LaneOutcome:
    """What a lane (finished, or as far as it got) adds to the run."""
    restart = state["restart"]
    return LaneOutcome(
        restart=restart,
        candidates=[c for c in state["candidates"] if c.source == "llm" and c.restart == restart],
        rejections=state.get("rejections", []),
        usage=state.get("usage") or Usage(),
        iterations_done=state.get("iterations_done", 0),
    )


def climber(lane_graph: CompiledStateGraph) -> Callable[..., dict]:
    """The node that climbs one restart: runs the lane subgraph, resuming it when it has checkpoints."""

    def climb(lane: dict[str, Any], runtime: Runtime[Context], config: RunnableConfig) -> dict:
        restart = lane["restart"]
        context = dataclasses.replace(runtime.context, config=lane_config(runtime.context.config, restart))
        # Called inside the node with the node's config: LangGraph checkpoints the subgraph under this
        # task's namespace and, on a resume, continues it from there (the input is then ignored).
        end = lane_graph.invoke(lane_start(restart, lane["pool"], context.config), config, context=context)
        return {"lanes": [outcome(end)]}

    return climb


def merge_lanes(state: OptimState, lanes: list[LaneOutcome], config: RunConfig) -> dict:
    """The run's leaderboard, rejections and totals with the lanes' work added, in restart order."""
    candidates = list(state["candidates"])
    rejections = list(state.get("rejections", []))
    usage = state.get("usage") or Usage()
    found = {normalize(c.template): c for c in candidates}
    for lane in sorted(lanes, key=lambda lane: lane.restart):
        for candidate in lane.candidates:
            first = found.setdefault(normalize(candidate.template), candidate)
            if first is candidate:
                candidates.append(candidate)
            else:  # found by an earlier restart at the same time: kept once, the repeat recorded
                rejections.append(duplicate(candidate, first))
        rejections += lane.rejections
        usage = usage.plus(lane.usage)
    return {
        "candidates": ranked(candidates, config),
        "rejections": rejections,
        "usage": usage,
        "iterations_done": state.get("iterations_done", 0) + sum(lane.iterations_done for lane in lanes),
    }


def duplicate(candidate: Candidate, first: Candidate) -> Rejection:
    where = "the pool" if first.source == "pool" else f"restart {first.restart + 1}"
    return Rejection(
        text=candidate.template,
        reason=f"duplicate of {meta.quoted(first.template)}, found concurrently in {where}",
        restart=candidate.restart,
        iteration=candidate.iteration,
    )


def gather(state: OptimState, runtime: Runtime[Context]) -> dict:
    config = runtime.context.config
    lanes = state.get("lanes", [])
    return {
        **merge_lanes(state, lanes, config),
        "restarts_done": len(lanes),
        "restart": max((lane.restart for lane in lanes), default=0),
        "conversation": [],
    }
