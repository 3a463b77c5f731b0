"""A run read back from its directory, for show, list, report, export, transfer, replay and rewind.

Every command that rebuilds a run from its files passes the gate of ``resume`` for code: a scorer plugin or a
checkpoint file named by config.json loads only with --trust-run-plugin (session/consent.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptclimb.errors import UserError
from promptclimb.graph.checkpoint import CheckpointError
from promptclimb.graph.runs import CALLS_FILE, REWOUND_CALLS_FILE, find_run, list_runs, load_config
from promptclimb.session.consent import Trust, check_code_consent
from promptclimb.session.kinds import CLASSIFY, T2I, kind_name, kind_named

__all__ = ["CALLS_FILE", "REWOUND_CALLS_FILE"]


class WrongKind(UserError, ValueError):
    """A command for one kind of run (report, export... for classification; t2i-report for text-to-image)."""


class RewindRefused(UserError, ValueError):
    """A rewind the run cannot take (restart out of range, concurrent restarts)."""


def find_of_kind(ref: str, runs_dir: Path, kind: str, command: str) -> Path:
    """The run ``ref`` names, refused unless it is of ``kind`` (one line naming the command that fits)."""
    run_dir = find_run(ref, runs_dir)
    if kind_name(run_dir) == kind:
        return run_dir
    if kind == T2I:
        raise WrongKind(f"{run_dir} is not a text-to-image run")
    if command == "rewind":
        raise WrongKind("rewind works on classification runs only")
    raise WrongKind(
        f"run {run_dir.name} is a text-to-image run: {command} is for classification runs "
        "(see promptclimb t2i-report)"
    )


def open_for_reading(ref: str, runs_dir: Path, command: str, trust: Trust) -> Path:
    """A classification run to rebuild from its files, once its config.json passes the consent gate."""
    run_dir = find_of_kind(ref, runs_dir, CLASSIFY, command)
    check_code_consent(kind_named(CLASSIFY), load_config(run_dir), trust)
    return run_dir


def read_run(run_dir: Path) -> tuple[str, dict[str, Any]]:
    """(kind, summary) of any run: the documented ``show --json`` of its kind."""
    kind = kind_name(run_dir)
    # The summaries themselves, not the kinds' rows: those import the models' and the LLMs' stacks.
    if kind == T2I:
        from promptclimb.results.t2i_report import summarize_t2i as summarize
    else:
        from promptclimb.results.summary import summarize
    return kind, summarize(run_dir)


REPLAY_MARKER = "replay.json"  # results/replay.py's marker of a replay directory


def list_row(run_dir: Path) -> dict[str, Any]:
    """One record per run, as ``list --json`` gives it (best: the selection score of the classifier the run
    reports, the class-specific one or else the selected template; a t2i run's final score)."""
    kind, s = read_run(run_dir)
    row = {"run_id": run_dir.name, "run_dir": str(run_dir), "kind": s["kind"] if kind == T2I else kind}
    if (run_dir / REPLAY_MARKER).is_file():  # a replay is a copy of another run, not a run of its own
        row["kind"] = f"{row['kind']} replay"
    row |= {"status": s["status"], "iterations_done": s["iterations_done"]}
    if kind == T2I:
        return row | {"best": s["final"]["score"] if s["final"] else None, "test": None}
    final = s["final"] or {}
    best = s["leaderboard"][0]["selection_acc"] if s["leaderboard"] else None
    if final.get("selected") == "classes" and final.get("classes_selection_acc") is not None:
        best = final["classes_selection_acc"]  # the reported classifier's, as its test accuracy beside it
    return row | {
        "best": best,
        # the classifier the run reports (template, ensemble or class-specific), not always the template
        "test": final.get("selected_test_acc", final.get("test_acc")) if final else None,
    }


def list_rows(runs_dir: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every run's record, and a warning per run that cannot be read (one must not hide the others)."""
    rows, warnings = [], []
    for run_dir in list_runs(runs_dir):
        try:
            rows.append(list_row(run_dir))
        except CheckpointError as failure:
            warnings.append(str(failure))
            rows.append({"run_id": run_dir.name, "run_dir": str(run_dir), "kind": "-",
                         "status": unread_status(run_dir), "iterations_done": None, "best": None,
                         "test": None})  # fmt: skip
    return rows, warnings


def unread_status(run_dir: Path) -> str:
    """A run whose checkpoints cannot be read: its status from run.json where they are in a PostgreSQL store
    not given (or not reachable) now, else "unreadable"."""
    from promptclimb.graph.checkpoint import uses_postgres
    from promptclimb.graph.runs import read_status

    try:
        on_postgres = uses_postgres(run_dir)
    except CheckpointError:
        on_postgres = False
    return f"{read_status(run_dir)[0]}, stored in PostgreSQL" if on_postgres else "unreadable"


def rewind_points(ref: str, runs_dir: Path, trust: Trust) -> tuple[Path, list[Any]]:
    """The points ``rewind --to`` takes (graph/session.py's RewindPoint), oldest first."""
    from promptclimb.graph.session import list_rewind_points

    run_dir = open_for_reading(ref, runs_dir, "rewind", trust)
    return run_dir, list_rewind_points(run_dir)


def rewind_run(
    ref: str, runs_dir: Path, restart: int | None, trust: Trust, to: int | None = None
) -> tuple[Path, int]:
    """Fork a classification run at the start of ``restart`` (1-based) or after ``to`` LLM iterations of the
    whole run; returns it and the calls set aside."""
    from promptclimb.graph.session import rewind

    run_dir = open_for_reading(ref, runs_dir, "rewind", trust)
    if to is not None:
        return run_dir, rewind(run_dir, to=to)
    assert restart is not None
    config = load_config(run_dir)
    if not 1 <= restart <= config.restarts:
        raise RewindRefused(
            f"--restart takes 1 to {config.restarts}: run {run_dir.name} has {config.restarts} restarts"
        )
    if config.concurrent() and restart != 1:  # its restarts have no start of their own in the run
        raise RewindRefused(
            f"the restarts of run {run_dir.name} climb concurrently: rewind takes --restart 1 (all again)"
        )
    return run_dir, rewind(run_dir, restart=restart)
