"""Rank (text-to-image): order the images of each phase by score; count finished critic iterations."""

from __future__ import annotations

from promptclimb.graph.t2i.state import T2ICandidate, T2IConfig, T2IState

PHASE_ORDER = {"t2i": 0, "invert": 0, "edit": 1}


def ranked(candidates: list[T2ICandidate]) -> list[T2ICandidate]:
    """Phase by phase, best score first; ties go to the earlier image (the simpler, cheaper prompt)."""
    return sorted(candidates, key=lambda c: (PHASE_ORDER[c.phase], -c.score, c.iteration, c.index))


def in_phase(candidates: list[T2ICandidate], phase: str) -> list[T2ICandidate]:
    return [c for c in candidates if c.phase == phase]


def rank(state: T2IState) -> dict:
    update: dict = {"candidates": ranked(state["candidates"])}
    if (
        state["iteration"] > 0
    ):  # a critic iteration just finished (iteration 0 holds the phase's first prompts)
        update["iterations_done"] = state["iterations_done"] + 1
    return update


def phase_done(state: T2IState, config: T2IConfig) -> bool:
    """Out of iterations, or (dsg and rating) a perfect image already: more would only cost."""
    phase = state["phase"]
    if state["iteration"] >= config.phase_iterations(phase):
        return True
    if not config.stop_when_perfect or config.score == "clip" or phase == "edit":
        return False
    mine = in_phase(state["candidates"], phase)
    return bool(mine) and max(c.score for c in mine) >= 1.0
