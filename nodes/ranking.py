"""The leaderboard's order: accuracy on the selection data, then the tie-break (nodes/rank.py's rule).

Pure functions of the candidates, apart from the rank node so that reading a run back (show, list, the
report) orders its templates as the run did without importing LangGraph's runtime.
"""

from __future__ import annotations

from promptclimb.graph.config import RunConfig
from promptclimb.graph.state import Candidate


def correct_and_total(candidate: Candidate, on: str) -> tuple[int, int]:
    """Correct answers and examples behind the selection accuracy (train, or train+val pooled)."""
    if on == "train+val" and candidate.val_n:
        return candidate.train_correct + candidate.val_correct, candidate.train_n + candidate.val_n
    return candidate.train_correct, candidate.train_n


def selection_acc(candidate: Candidate, on: str = "train") -> float:
    correct, total = correct_and_total(candidate, on)
    if total == 0:  # a candidate from an older run without counts
        return candidate.train_acc
    return correct / total


def leaderboard_key(candidate: Candidate, on: str = "train", tie_break: str = "order") -> tuple:
    """Accuracy on the selection data; for train-only selection, ties go to validation accuracy."""
    val = candidate.val_acc if candidate.val_acc is not None and on == "train" else -1.0
    margin = candidate.margin if tie_break == "margin" else 0.0
    return (selection_acc(candidate, on), val, margin)


def ranked(candidates: list[Candidate], config: RunConfig) -> list[Candidate]:
    """Best first; a stable sort, so equal templates keep discovery order."""
    on, tie_break = config.selection(), config.tie_break
    if config.meta == "liu2024":  # the released code sorts on training accuracy alone: no tie-break
        return sorted(candidates, key=lambda c: selection_acc(c, on), reverse=True)
    return sorted(candidates, key=lambda c: leaderboard_key(c, on, tie_break), reverse=True)
