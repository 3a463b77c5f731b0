"""Rank: order the leaderboard and track progress of the current restart (early stopping)."""

from __future__ import annotations

from promptclimb.graph.state import Candidate, OptimState


def leaderboard_key(candidate: Candidate) -> tuple[float, float, float]:
    """Selection uses training accuracy only; ties go to validation accuracy, then the mean margin."""
    val = candidate.val_acc if candidate.val_acc is not None else -1.0
    return (candidate.train_acc, val, candidate.margin)


def ranked(candidates: list[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=leaderboard_key, reverse=True)


def in_restart(candidates: list[Candidate], restart: int) -> list[Candidate]:
    """What one hill-climb sees: the initial pool plus the templates proposed in this restart."""
    return [c for c in candidates if c.source == "pool" or c.restart == restart]


def rank(state: OptimState) -> dict:
    candidates = ranked(state["candidates"])
    restart, iteration = state["restart"], state["iteration"]
    mine = in_restart(candidates, restart)
    best = mine[0].train_acc if mine else 0.0
    update: dict = {"candidates": candidates, "best_in_restart": best}
    if iteration > 0:  # an LLM iteration just finished (iteration 0 is the initial pool)
        improved = best > state["best_in_restart"]
        update["stale"] = 0 if improved else state["stale"] + 1
        update["iterations_done"] = state["iterations_done"] + 1
    return update
