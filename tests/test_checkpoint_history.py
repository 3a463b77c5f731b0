"""The bounded checkpoint history, on SQLite and on a real PostgreSQL server: each restart's start is kept,
the kept checkpoints form a chain LangGraph's get_state_history walks, and `rewind` forks from a restart's
start and finishes as the original run did."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt
from typing_extensions import TypedDict

from promptclimb.graph.checkpoint import open_checkpointer, thread_of
from promptclimb.graph.history import KEEP_NEWEST, lineage, prune_history
from promptclimb.graph.runs import CALLS_FILE, REWOUND_CALLS_FILE, read_calls
from promptclimb.graph.wiring import build_graph
from tests.graph_helpers import cli, only_run, run_args, summary


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest) -> str:
    """Each test runs on both backends; postgres through a fresh database of the session's real server."""
    if request.param == "postgres":
        request.getfixturevalue("pg_store")
    return request.param


def history(run_dir: Path) -> list[Any]:
    """LangGraph's own view: get_state_history of the run's thread, newest first."""
    with open_checkpointer(run_dir, readonly=True) as saver:
        return list(build_graph(saver).get_state_history(thread_of(run_dir)))


def checkpoint_id(config: dict[str, Any] | None) -> str | None:
    return config["configurable"]["checkpoint_id"] if config else None


def assert_chain(snapshots: list[Any]) -> None:
    """Each kept checkpoint's parent is the next older kept one; the oldest has none."""
    ids = [checkpoint_id(s.config) for s in snapshots]
    assert [checkpoint_id(s.parent_config) for s in snapshots] == [*ids[1:], None]


def finished_run(store: str, tmp_path: Path, tiny_clip: Path, restarts: int, iterations: int) -> Path:
    runs = tmp_path / "runs"
    args = run_args(runs, tiny_clip, "--iterations", str(iterations), "--restarts", str(restarts))
    assert cli(*args) == 0
    run_dir = only_run(runs)
    assert (run_dir / "checkpoints.sqlite").exists() == (store == "sqlite")
    return run_dir


def test_history_is_bounded_keeps_each_restart_start_and_is_a_chain(store, tmp_path, tiny_clip):
    run_dir = finished_run(store, tmp_path, tiny_clip, restarts=3, iterations=6)
    snapshots = history(run_dir)
    # 18 iterations of 4 nodes ran; kept: the newest 3, the input and first checkpoints, the scored pool, the
    # end of each iteration (rewind --to) and the start of restarts 2 and 3.
    assert len(snapshots) <= KEEP_NEWEST + 5 + 18
    assert {s.values.get("restart") for s in snapshots} == {None, 0, 1, 2}
    assert {s.values.get("iterations_done") for s in snapshots} >= set(range(19))
    for restart in (1, 2):
        start = next(s for s in reversed(snapshots) if s.values.get("restart") == restart)
        assert start.values["iteration"] == 0 and start.next == ("propose",)
        assert start.values["restarts_done"] == restart
    assert_chain(snapshots)


def test_rewind_to_a_restart_then_resume_finishes_as_the_original_run(store, tmp_path, tiny_clip, capsys):
    run_dir = finished_run(store, tmp_path, tiny_clip, restarts=3, iterations=3)
    runs = run_dir.parent
    original = summary(run_dir)
    assert original["llm_calls"] == 9 and len(read_calls(run_dir)) == 9

    assert cli("--runs-dir", str(runs), "rewind", run_dir.name, "--restart", "2") == 0
    rewound = summary(run_dir)
    assert rewound["status"] == "paused" and "restart 2" in rewound["reason"]
    assert (rewound["restarts_done"], rewound["iterations_done"], rewound["llm_calls"]) == (1, 3, 3)
    assert {row["restart"] for row in rewound["leaderboard"]} == {0}  # restart 2's templates are gone
    assert len(read_calls(run_dir)) == 3  # the log holds the current branch's calls ...
    set_aside = (run_dir / REWOUND_CALLS_FILE).read_text().splitlines()
    steps = [json.loads(line)["step"].split(",")[0] for line in set_aside]
    assert steps == ["restart 1"] * 3 + ["restart 2"] * 3
    assert_chain(history(run_dir))

    assert cli("--runs-dir", str(runs), "resume", run_dir.name) == 0
    again = summary(run_dir)
    assert again["status"] == "finished" and again["iterations_done"] == 9 and again["llm_calls"] == 9
    # The scripted LLM answers a conversation the same way: the same climb, the same result.
    assert again["leaderboard"] == original["leaderboard"] and again["final"] == original["final"]
    assert len(read_calls(run_dir)) == 9 and (run_dir / CALLS_FILE).exists()
    assert_chain(history(run_dir))

    capsys.readouterr()
    assert cli("--runs-dir", str(runs), "rewind", run_dir.name, "--restart", "4") == 2
    assert "1 to 3" in capsys.readouterr().err


def test_rewind_to_an_iteration_then_resume_goes_on_from_exactly_there(tmp_path, tiny_clip, capsys):
    """--to N forks after the run's N-th LLM iteration (mid-restart here): the history up to N is the
    original's, the calls after it are set aside, and the resumed run climbs on to the original's end."""
    run_dir = finished_run("sqlite", tmp_path, tiny_clip, restarts=2, iterations=3)
    runs, original = run_dir.parent, summary(run_dir)
    capsys.readouterr()
    assert cli("--runs-dir", str(runs), "rewind", run_dir.name, "--list") == 0
    listed = capsys.readouterr().out
    assert "the scored pool" in listed and "r1.i3" in listed and "r2.i3" in listed

    assert cli("--runs-dir", str(runs), "rewind", run_dir.name, "--to", "4") == 0
    rewound = summary(run_dir)
    assert rewound["status"] == "paused" and "after iteration 4 (r2.i1)" in rewound["reason"]
    assert (rewound["iterations_done"], rewound["llm_calls"], rewound["restarts_done"]) == (4, 4, 1)
    assert rewound["history"] == original["history"][: len(rewound["history"])]
    assert [(h["restart"], h["iteration"]) for h in rewound["history"]] == [(0, 1), (0, 2), (0, 3), (1, 1)]
    assert [r for r in original["leaderboard"] if (r["restart"], r["iteration"]) <= (1, 1)] == [
        r for r in rewound["leaderboard"]
    ]
    assert len(read_calls(run_dir)) == 4 and len((run_dir / REWOUND_CALLS_FILE).read_text().splitlines()) == 2

    assert cli("--runs-dir", str(runs), "resume", run_dir.name) == 0
    again = summary(run_dir)
    assert again["status"] == "finished" and (again["iterations_done"], again["llm_calls"]) == (6, 6)
    assert again["history"] == original["history"] and again["leaderboard"] == original["leaderboard"]
    assert again["final"] == original["final"]
    assert_chain(history(run_dir))

    for bad in ("7", "-1"):
        capsys.readouterr()
        assert cli("--runs-dir", str(runs), "rewind", run_dir.name, "--to", bad) == 2
        err = capsys.readouterr().err.strip()
        assert "kept: 0-6" in err and len(err.splitlines()) == 1


class Inner(TypedDict):
    n: int


class Outer(TypedDict):
    n: int
    restart: int


def inner_graph() -> Any:
    """A sub-graph that counts to 6 and asks a human (an interrupt) at 4: in progress, in its namespace."""

    def count(state: Inner) -> Inner:
        if state["n"] == 4:
            interrupt("continue?")
        return {"n": state["n"] + 1}

    builder = StateGraph(Inner)
    builder.add_node("count", count)
    builder.add_edge(START, "count")
    builder.add_conditional_edges("count", lambda s: END if s["n"] >= 6 else "count", ["count", END])
    return builder.compile()


def outer_graph(saver: Any) -> Any:
    builder = StateGraph(Outer)
    builder.add_node("bump", lambda s: {"restart": s["restart"] + 1, "n": 0})
    builder.add_node("climb", inner_graph())
    builder.add_edge(START, "bump")
    builder.add_edge("bump", "climb")
    builder.add_conditional_edges("climb", lambda s: END if s["restart"] >= 2 else "bump", ["bump", END])
    return builder.compile(checkpointer=saver)


def test_a_sub_graph_in_progress_keeps_what_it_resumes_from(tmp_path):
    """Sub-graph namespaces (concurrent restarts write there) keep their newest checkpoints, so a sub-graph
    stopped mid-way resumes where it was; the root namespace keeps its boundaries."""
    import sqlite3

    conn = sqlite3.connect(tmp_path / "c.sqlite", check_same_thread=False)
    saver = SqliteSaver(conn)
    graph, thread = outer_graph(saver), {"configurable": {"thread_id": "t"}}
    inputs: Any = {"n": 0, "restart": 0}
    for _ in range(2):  # first restart: interrupted at 4; resumed, the second restart is interrupted too
        for _chunk in graph.stream(inputs, thread, subgraphs=True, durability="sync"):
            prune_history(saver, thread, lambda v: v.get("restart"))
        inputs = Command(resume="go")
    rows = conn.execute("SELECT checkpoint_ns, count(*) FROM checkpoints GROUP BY checkpoint_ns").fetchall()
    assert any(ns for ns, _ in rows) and all(count <= KEEP_NEWEST for ns, count in rows if ns), rows
    assert graph.get_state(thread).values["restart"] == 2
    assert graph.get_state(thread).tasks[0].interrupts  # the second restart waits inside its sub-graph
    for _chunk in graph.stream(Command(resume="go"), thread, durability="sync"):
        prune_history(saver, thread, lambda v: v.get("restart"))
    assert graph.get_state(thread).values == {"n": 6, "restart": 2}
    root = [t for t in saver.list(thread) if t.config["configurable"]["checkpoint_ns"] == ""]
    assert len(lineage(root)) == len(root)  # the root namespace is one chain


def test_the_plan_keeps_the_current_branch_only():
    """After a fork, the abandoned branch goes; the newest and each boundary's first stay."""
    saver = InMemorySaver()
    builder = StateGraph(Outer)
    builder.add_node("bump", lambda s: {"restart": s["restart"] + 1})
    builder.add_edge(START, "bump")
    builder.add_conditional_edges("bump", lambda s: END if s["restart"] >= 8 else "bump", ["bump", END])
    graph, thread = builder.compile(checkpointer=saver), {"configurable": {"thread_id": "t"}}
    graph.invoke({"n": 0, "restart": 0}, thread)
    items = list(saver.list(thread))
    fork_from = next(t for t in items if t.checkpoint["channel_values"].get("restart") == 3)
    graph.update_state(fork_from.config, None, as_node="__copy__")
    branch = lineage(list(saver.list(thread)))
    assert [t.checkpoint["channel_values"].get("restart") for t in branch][:2] == [3, 2]
    assert len(branch) < len(items) + 1  # the copy's parent is the fork point's: restarts 4..8 are off it


def test_lanes_are_pruned_while_they_climb_inside_one_step(tmp_path):
    """Concurrent lanes climb inside one step of the run, whose updates can reach the driving loop only
    at its end: the background pruner bounds their namespaces meanwhile (each lane counts its own)."""
    import sqlite3
    import threading
    import time

    from langgraph.types import Send

    from promptclimb.graph.history import pruning_in_background

    conn = sqlite3.connect(tmp_path / "c.sqlite", check_same_thread=False)
    saver, seen, lock = SqliteSaver(conn), [], threading.Lock()

    def count(state: Inner) -> Inner:
        time.sleep(0.02)
        with lock, saver.lock:
            rows = conn.execute(
                "SELECT count(*) FROM checkpoints WHERE checkpoint_ns <> '' GROUP BY checkpoint_ns"
            )
            seen.extend(n for (n,) in rows.fetchall())
        return {"n": state["n"] + 1}

    lane = StateGraph(Inner)
    lane.add_node("count", count)
    lane.add_edge(START, "count")
    lane.add_conditional_edges("count", lambda s: END if s["n"] >= 60 else "count", ["count", END])
    lane_graph = lane.compile()
    builder = StateGraph(Outer)

    def climb(state: Outer, config: RunnableConfig) -> dict[str, Any]:
        lane_graph.invoke({"n": 0}, config)  # checkpoints in this task's namespace
        return {}

    builder.add_node("climb", climb)
    builder.add_conditional_edges(START, lambda s: [Send("climb", s), Send("climb", s)], ["climb"])
    builder.add_edge("climb", END)
    graph, thread = builder.compile(checkpointer=saver), {"configurable": {"thread_id": "t"}}
    with pruning_in_background(saver, thread, lambda v: v.get("restart"), every_s=0.1):
        graph.invoke({"n": 0, "restart": 0}, {**thread, "max_concurrency": 2}, durability="sync")
    # Unpruned, each lane would reach 60 checkpoints; between prunings (0.1 s) a lane writes about 5.
    assert max(seen) >= 4 and max(seen) <= 3 + 15, max(seen)


def test_a_call_started_in_the_fork_points_millisecond_is_set_aside(tmp_path):
    """Calls are logged to the millisecond, checkpoints to the microsecond: a scripted call can start
    within the millisecond the fork point was written, and belongs to the branch being set aside."""
    from datetime import datetime

    from promptclimb.graph.runs import append_call, set_aside_calls
    from promptclimb.llm.records import LLMCall

    def call(started_at: str, step: str) -> LLMCall:
        return LLMCall(
            started_at=started_at,
            model="scripted:",
            request=[],
            reply="{}",
            error=None,
            latency_s=0.0,
            step=step,
        )

    append_call(tmp_path, call("2026-12-04T17:59:48.830+00:00", "restart 0, iteration 3"))
    append_call(tmp_path, call("2026-12-04T17:59:48.838+00:00", "restart 1, iteration 1"))
    fork = datetime.fromisoformat("2026-12-04T17:59:48.838500+00:00")
    assert set_aside_calls(tmp_path, fork) == 1
    assert [c.step for c in read_calls(tmp_path)] == ["restart 0, iteration 3"]
    moved = (tmp_path / REWOUND_CALLS_FILE).read_text().splitlines()
    assert [json.loads(line)["step"] for line in moved] == ["restart 1, iteration 1"]
