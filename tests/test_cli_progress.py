"""The progress bar never names a restart the run does not have."""

from __future__ import annotations

from promptclimb.cli.views import LiveBoard
from promptclimb.graph.config import RunConfig


def description(board: LiveBoard) -> str:
    return board.progress.tasks[0].description


def test_the_last_restart_stays_the_last_one_shown() -> None:
    board = LiveBoard(
        RunConfig(data="x", iterations=2, restarts=1), done={"iterations_done": 0, "restarts_done": 0}
    )
    assert description(board) == "restart 1"
    board("feedback", {"restarts_done": 1})
    assert description(board) == "restart 1"


def test_a_resumed_run_starts_at_its_own_restart() -> None:
    board = LiveBoard(
        RunConfig(data="x", iterations=2, restarts=3), done={"iterations_done": 2, "restarts_done": 1}
    )
    assert description(board) == "restart 2"
    board("feedback", {"restarts_done": 2})
    assert description(board) == "restart 3"
