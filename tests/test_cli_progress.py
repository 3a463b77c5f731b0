"""The progress views: phases (the starting pool k/N, one bar per restart, the final evaluation), restart
labels the run really has, the selection score, calls, cost and ETA; a resumed run starts from its counts."""

from __future__ import annotations

import pytest
from rich.console import Console

from promptclimb.cli.progress import LiveBoard, PlainProgress
from promptclimb.graph.config import RunConfig
from promptclimb.graph.state import Candidate
from promptclimb.llm.records import Usage
from promptclimb.session.driver import PROGRESS

FRESH = {"iterations_done": 0, "restarts_done": 0}


def descriptions(board: LiveBoard) -> list[str]:
    return [task.description for task in board.progress.tasks]


def rendered(board: LiveBoard) -> str:
    console = Console(width=160, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(board)
    return console.export_text()


def candidate(template: str, train: int, val: int, restart: int = 0, iteration: int = 0) -> Candidate:
    source = "pool" if iteration == 0 else "llm"
    return Candidate(template=template, train_acc=train / 10, val_acc=val / 10, margin=0.0, restart=restart,
                     iteration=iteration, source=source, train_correct=train, train_n=10, val_correct=val,
                     val_n=10)  # fmt: skip


def test_the_pool_is_a_phase_then_each_restart_gets_its_own_bar() -> None:
    board = LiveBoard(RunConfig(data="x", iterations=2, restarts=3), done=FRESH)
    board(PROGRESS, {"inputs": "train"})
    assert descriptions(board) == ["starting pool: encoding the train inputs"]
    board(PROGRESS, {"pool": (8, 24)})
    pool = board.progress.tasks[0]
    assert (pool.description, pool.completed, pool.total) == ("starting pool", 8, 24)
    board("evaluate", {"candidates": [candidate("a {}", 3, 5)]})
    board("rank", {"candidates": [candidate("a {}", 3, 5)], "best_in_restart": 0.4})
    assert board.progress.tasks[0].completed == 24
    assert descriptions(board)[1:] == ["restart 1/3"]
    board("propose", {"iteration": 1, "usage": Usage(calls=1, cost_usd=0.0125)})
    board("rank", {"candidates": [candidate("b {}", 6, 6, 0, 1)], "iterations_done": 1})
    assert board.progress.tasks[1].completed == 1
    text = rendered(board)
    # selection is train+val pooled by default: (6 + 6) / 20
    assert "selection 60.0%" in text and "LLM calls 1" in text and "cost $0.0125" in text and "ETA" in text
    board("feedback", {"restarts_done": 1, "restart": 1, "iteration": 0})
    assert descriptions(board)[1:] == ["restart 1/3 done", "restart 2/3"]


def test_the_last_restart_stays_the_last_one_shown() -> None:
    board = LiveBoard(RunConfig(data="x", iterations=2, restarts=1), done=FRESH)
    board("rank", {"candidates": [candidate("a {}", 3, 5)]})
    board("feedback", {"restarts_done": 1})
    assert "restart 2/1" not in " ".join(descriptions(board))
    assert descriptions(board)[-1] == "final test evaluation"


def test_a_resumed_run_starts_at_its_own_restart_with_its_counts() -> None:
    done = {"iterations_done": 3, "restarts_done": 1, "restart": 1, "iteration": 1, "candidates_scored": 9,
            "usage": {"calls": 4, "cost_usd": 0.5}}  # fmt: skip
    board = LiveBoard(RunConfig(data="x", iterations=2, restarts=3), done=done)
    assert descriptions(board) == ["restart 1/3", "restart 2/3"]
    assert board.progress.tasks[1].completed == 1
    assert "LLM calls 4" in rendered(board) and "cost $0.5000" in rendered(board)


def test_concurrent_restarts_say_so_and_each_lane_has_its_bar() -> None:
    config = RunConfig(data="x", iterations=2, restarts=3, parallel_restarts=2, space="templates")
    board = LiveBoard(config, done=FRESH)
    board("rank", {"candidates": [candidate("a {}", 3, 5)]})
    board("propose", {"iteration": 1, "restart": 2})
    lane = {"restart": 2, "iteration": 1}  # what the lane progress adds to a lane's updates
    board("rank", {"iterations_done": 1, **lane, "candidates": [candidate("b {}", 3, 5)]})
    assert "restart 3/3" in descriptions(board)
    assert "3 restarts, 2 at once" in rendered(board)


def test_an_unknown_price_is_never_shown_as_zero_dollars(capsys: pytest.CaptureFixture[str]) -> None:
    view = PlainProgress(RunConfig(data="x", iterations=2, restarts=1), done=FRESH)
    view("rank", {"candidates": [candidate("a {}", 3, 5)]})
    view("propose", {"iteration": 1, "usage": Usage(calls=1, unpriced_calls=1)})
    view("rank", {"iterations_done": 1, "candidates": [candidate("a {}", 3, 5)]})
    line = capsys.readouterr().err
    assert "cost unknown" in line and "$0.0000" not in line


def test_plain_lines_name_the_pool_steps_and_a_resume_says_how_far_it_got(
    capsys: pytest.CaptureFixture[str],
) -> None:
    done = {"iterations_done": 4, "restarts_done": 0, "restart": 0, "iteration": 4, "candidates_scored": 9,
            "usage": {"calls": 4, "cost_usd": 0.0}}  # fmt: skip
    view = PlainProgress(RunConfig(data="x", iterations=8, restarts=1), done=done)
    with view.shown():
        pass
    first = capsys.readouterr().err.splitlines()[0]
    assert "iteration 4/8" in first and "iterations done 4" in first and "LLM calls 4" in first
    fresh = PlainProgress(RunConfig(data="x", iterations=8, restarts=1), done=FRESH)
    fresh(PROGRESS, {"pool": (4, 24)})
    assert "starting pool: 4/24 templates scored" in capsys.readouterr().err
