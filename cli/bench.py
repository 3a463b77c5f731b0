"""promptclimb bench: a suite's cells run in turn, on threads (--jobs) or as Ray tasks (--ray), with one
overall progress line, then its tables printed and written (results/suite_tables.py).

Every event is one line naming its cell and the suite's progress (cells done, elapsed time, ETA); on a
terminal a live bar under those lines keeps the same progress ticking. Heavy modules load inside handlers.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from promptclimb.cli.console import err, out, say, table, warn

WARNING_STYLE = "bold yellow"


def duration(seconds: float) -> str:
    """A short wall-clock duration: "42s", "3m05s", "1h02m"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class SuiteClock:
    """Cells done out of the total, the time since the bench began, and an ETA: the remaining cells times
    the wall-clock time per cell this invocation ran (cells skipped as finished earlier cost nothing and are
    not counted; with --jobs or Ray, cells in parallel shorten that time, so the ETA follows), counting down
    between the events that measure it."""

    def __init__(self, total: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.clock = clock
        self.began = clock()
        self.done = 0  # cells that ended: finished, skipped, paused or failed
        self.ran = 0  # of those, cells this invocation ran rather than skipped
        self.per_cell: float | None = None  # wall-clock seconds per cell run, as of the last cell that ended
        self.measured_at = self.began

    def ended(self, skipped: bool) -> None:
        self.done += 1
        self.ran += not skipped
        self.measured_at = self.clock()
        if self.ran:
            self.per_cell = (self.measured_at - self.began) / self.ran

    def elapsed(self) -> float:
        return self.clock() - self.began

    def eta(self) -> float | None:
        """Seconds left; None until a cell has run (nothing to measure yet)."""
        if self.done >= self.total:
            return 0.0
        if self.per_cell is None:
            return None
        return max(0.0, self.per_cell * (self.total - self.done) - (self.clock() - self.measured_at))

    def line(self) -> str:
        text = f"{self.done}/{self.total} done, {duration(self.elapsed())} elapsed"
        if self.done < self.total:
            eta = self.eta()
            text += f", ETA {'unknown' if eta is None else duration(eta)}"
        return text


class BenchProgress:
    """The events of a bench, one line each with the suite's progress; on a terminal, a live bar too."""

    def __init__(self, total: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = SuiteClock(total, clock)
        self.live: Any = None  # rich Progress while on a terminal
        self.task: Any = None

    def __enter__(self) -> BenchProgress:
        if err.is_terminal:
            from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn
            from rich.text import Text

            clock = self.clock

            class ClockColumn(ProgressColumn):  # redrawn every refresh, so the elapsed time keeps ticking
                def render(self, task: Any) -> Text:
                    return Text(clock.line())

            self.live = Progress(
                TextColumn("bench"),
                BarColumn(),
                ClockColumn(),
                console=err,
                transient=True,
                refresh_per_second=1,
            )
            self.live.start()
            self.task = self.live.add_task("bench", total=clock.total)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.live is not None:
            self.live.stop()

    def started(self, cell_id: str) -> None:
        self.event(f"{cell_id}: started")

    def ended(self, cell_id: str, skipped: bool, what: str) -> None:
        self.clock.ended(skipped)
        self.event(f"{cell_id}: {what}")

    def event(self, text: str) -> None:
        say(f"{text} ({self.clock.line()})", to_err=True)
        if self.live is not None:
            self.live.update(self.task, completed=self.clock.done)


def outcome_text(outcome: Any) -> str:
    if outcome.skipped:
        return "finished earlier: skipped"
    if outcome.status != "finished" and outcome.reason:
        return f"{outcome.status}: {outcome.reason}"
    return outcome.status


# ------------------------------------------------------------------------------------------ tables


def print_suite_tables(suite: Any, results: Any) -> None:
    """The measured tables, the published ones under each, then the paired differences, as in suite.md."""
    from promptclimb.results.suite_paired import paired_tables
    from promptclimb.results.suite_tables import published_tables, tables

    for measured in tables(suite, results.rows):
        out.print(table(measured.title, measured.header, measured.body(), right_from=1))
        for title, header, body in published_tables(suite, measured.shots, measured.clip):
            out.print(table(title, header, body, right_from=1))
    for title, header, body in paired_tables(suite, results.paired):
        out.print(table(title, header, body, right_from=1))


def bench_ended(results: Any, interrupted: bool, problems: int, again: str) -> int:
    """The tables of whatever finished, the random-weights banner beside them, and the exit status."""
    for path in results.written:
        say(f"wrote {path}")
    if results.banner:  # beside the numbers it voids, on every path (--jobs, --ray, --table-only)
        say(f"WARNING: {results.banner}", to_err=True, style=WARNING_STYLE)
    if interrupted:
        say(f"interrupted: run `{again}` again to resume", to_err=True)
        return 130
    return 3 if problems else 0


# ------------------------------------------------------------------------------------------ handler


def cmd_bench(args: argparse.Namespace) -> int:
    from promptclimb.results.suite import SuiteError, cells, load_suite
    from promptclimb.results.suite_paired import check_baseline
    from promptclimb.results.suite_tables import write_results

    suite = load_suite(Path(args.suite))
    baseline = check_baseline(suite, args.baseline)
    runs_dir = Path(args.runs_dir)

    def finish(random_scorers: set[str], interrupted: bool, problems: int, again: str) -> int:
        results = write_results(suite, runs_dir, random_scorers, baseline=baseline, latex=args.latex)
        print_suite_tables(suite, results)
        return bench_ended(results, interrupted, problems, again)

    if args.table_only:
        return finish(set(), False, 0, "")
    grid = cells(suite, runs_dir / suite.name)
    jobs = min(args.jobs, len(grid))
    at_once = f", {jobs} at a time" if jobs > 1 else ""
    say(f"suite {suite.name}: {len(grid)} cells in {runs_dir / suite.name}{at_once}", to_err=True)
    if args.ray is not None and args.jobs > 1:
        raise SuiteError("--jobs and --ray do not go together: Ray schedules the cells itself")
    outcomes = ray_outcomes(args, suite, runs_dir) if args.ray is not None else None
    again = f"promptclimb bench {args.suite}" + (" --ray" if args.ray is not None else "")
    random_scorers: set[str] = set()
    interrupted, problems = False, 0
    with BenchProgress(len(grid)) as progress:
        if outcomes is None:
            from promptclimb.session.cells import run_suite

            announce = lambda cell, k, total: progress.started(cell.id)  # noqa: E731
            outcomes = run_suite(suite, runs_dir, on_cell=announce, jobs=jobs)
        try:
            for outcome in outcomes:
                problems += outcome.status != "finished"
                progress.ended(outcome.cell.id, outcome.skipped, outcome_text(outcome))
                if outcome.random_weights and outcome.random_weights not in random_scorers:
                    random_scorers.add(outcome.random_weights)
                    if args.ray is not None:  # a worker's own warning never reaches this terminal
                        from promptclimb.results.suite_tables import random_banner

                        warn(random_banner([outcome.random_weights]))
        except KeyboardInterrupt:
            interrupted = True
    return finish(random_scorers, interrupted, problems, again)


def ray_outcomes(args: argparse.Namespace, suite: Any, runs_dir: Path) -> Any:
    """The cells as Ray tasks (session/distributed.py), their outcomes as they end."""
    import os

    from promptclimb.graph.checkpoint import STORE_ENV, store_url
    from promptclimb.results.suite import SuiteError
    from promptclimb.session.distributed import RayOptions, run_suite_on_ray

    if store_url() is not None and not os.environ.get(STORE_ENV):
        # The URL may hold a password: it is never sent to the workers; they read it where keys are read.
        raise SuiteError(
            f"with --ray, give the PostgreSQL store as ${STORE_ENV} in the environment of this command and "
            "of every Ray node, not as --checkpoints"
        )
    options = RayOptions(address=args.ray or None, gpus_per_cell=args.ray_gpus, retries=args.ray_retries)
    say(f"on Ray: {args.ray or 'a new local cluster'}", to_err=True)
    return run_suite_on_ray(suite, runs_dir, options)
