"""A classification run's progress as it happens, in phases: the starting pool (k/N templates scored), one
bar per restart, the final test evaluation; with the best selection score, LLM calls, cost and an ETA.

``Tally`` keeps what both views show from the graph's node updates and the nodes' progress events;
``LiveBoard`` draws it with rich's Progress on a terminal, ``PlainProgress`` prints one plain line per event
elsewhere (nohup, SLURM, CI logs: nothing redrawn, no carriage return).
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

from promptclimb.cli.console import err, say, table
from promptclimb.cli.views import pct
from promptclimb.graph.state import Candidate
from promptclimb.llm.pricing import cost_text
from promptclimb.nodes.evaluate import INPUTS_PROGRESS, POOL_PROGRESS
from promptclimb.nodes.rank import ranked, selection_acc
from promptclimb.session.driver import PROGRESS

# Updates that mean the starting pool is scored (the pool's own evaluate update comes before them).
CLIMB_NODES = (
    "rank",
    "feedback",
    "propose",
    "class_feedback",
    "class_propose",
    "class_adopt",
    "gather",
    "finalize",
)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class Tally:
    """The run-wide counts a progress view shows; ``feed`` returns the event an update was, if any:
    "inputs", "pool", "iteration", "restart" (one ended), "final" (the test evaluation starts), "done"."""

    def __init__(self, config: Any, done: dict[str, Any]) -> None:
        self.config, self.on = config, config.selection()
        self.restarts, self.iterations = config.restarts, config.iterations
        self.concurrent = config.concurrent()
        self.restart: int = done.get("restart", done["restarts_done"])  # 0-based, as the state counts
        self.step: dict[int, int] = {self.restart: done.get("iteration", 0)}  # restart -> its iterations
        self.finished: set[int] = set(range(done["restarts_done"])) if not self.concurrent else set()
        self.iterations_done: int = done["iterations_done"]
        self.pool_done = done.get("candidates_scored", 0) > 0
        self.pool: tuple[int, int] | None = None  # (scored, to score) of the starting pool
        self.inputs: str | None = None  # the split whose inputs are being encoded
        usage = done.get("usage") or {}
        self.calls: int = usage.get("calls", 0)
        self.cost: float = usage.get("cost_usd", 0.0)
        self.unpriced: int = usage.get("unpriced_calls", 0)
        self.top: list[Candidate] = []
        self.best: float | None = None
        self.climb_started: float | None = time.monotonic() if self.pool_done else None
        self.climb_from = self.iterations_done  # the ETA's rate counts this drive's iterations only
        self.ending = False

    def feed(self, node: str, update: dict[str, Any]) -> str | None:
        if node == PROGRESS:
            if INPUTS_PROGRESS in update:
                self.inputs = str(update[INPUTS_PROGRESS])
                return "inputs"
            if POOL_PROGRESS in update:
                scored, total = update[POOL_PROGRESS]
                self.pool, self.inputs = (int(scored), int(total)), None
                return "pool"
            return None
        if not self.pool_done and node in CLIMB_NODES:
            self.pool_done, self.climb_started = True, time.monotonic()
        if "restart" in update:
            self.restart = update["restart"]
        if "iteration" in update:
            self.step[self.restart] = update["iteration"]
        if update.get("usage") is not None:
            usage = update["usage"]
            self.calls, self.cost, self.unpriced = usage.calls, usage.cost_usd, usage.unpriced_calls
        if update.get("candidates"):
            self.top = ranked(update["candidates"], self.config)[:5]
            self.best = max(self.best or 0.0, selection_acc(self.top[0], self.on))
        classifier = update.get("classifier")
        if classifier is not None and classifier.total:
            self.best = max(self.best or 0.0, classifier.correct / classifier.total)
        if node == "finalize":
            return "done"
        if node == "gather" or (node in ("feedback", "class_feedback") and "restarts_done" in update):
            return self._restart_ended(node, update)
        if "iterations_done" in update and node in ("rank", "class_evaluate"):
            self.iterations_done = update["iterations_done"]
            return "iteration"
        return None

    def _restart_ended(self, node: str, update: dict[str, Any]) -> str:
        if node == "gather":
            self.finished = set(range(self.restarts))
        elif self.concurrent:  # a lane's end: its own restart (the lane progress adds it to the update)
            self.finished.add(self.restart)
        else:
            self.finished = set(range(update["restarts_done"]))
        if len(self.finished) >= self.restarts and not self.ending:
            self.ending = True
            return "final"
        return "restart"

    def remaining(self) -> int:
        """LLM iterations left at most (a restart that stops early, --patience, leaves fewer)."""
        left = [r for r in range(self.restarts) if r not in self.finished]
        return sum(max(self.iterations - self.step.get(r, 0), 0) for r in left)

    def eta(self) -> float | None:
        """Seconds left in the climb, at this drive's pace so far (None before its first iteration)."""
        done = self.iterations_done - self.climb_from
        if self.climb_started is None or done <= 0:
            return None
        return (time.monotonic() - self.climb_started) / done * self.remaining()

    def at_once(self) -> str:
        return f"{self.restarts} restarts, {self.config.parallel_restarts} at once" if self.concurrent else ""

    def where(self, restart: int | None = None) -> str:
        r = self.restart if restart is None else restart
        return f"restart {r + 1}/{self.restarts} iteration {self.step.get(r, 0)}/{self.iterations}"

    def numbers(self) -> str:
        return (
            f"selection {pct(self.best)} LLM calls {self.calls} cost {cost_text(self.cost, self.unpriced)} "
            f"ETA {duration(self.eta()) if not self.ending else '-'}"
        )


class LiveBoard:
    """A terminal's live view: a bar per phase (the pool, each restart, the final evaluation), the numbers
    line and the top-5 leaderboard, redrawn in place."""

    def __init__(self, config: Any, done: dict[str, Any]) -> None:
        self.tally = Tally(config, done)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
        )
        self.pool: TaskID | None = None
        self.bars: dict[int, TaskID] = {}
        self.final: TaskID | None = None
        t = self.tally
        if not t.pool_done:
            self.pool = self.progress.add_task("starting pool: loading", total=None)
        for r in sorted(t.finished):
            self._bar(r)
        if t.pool_done and t.iterations and not t.concurrent:
            self._bar(t.restart)

    def _bar(self, restart: int) -> TaskID:
        if restart not in self.bars:
            t = self.tally
            self.bars[restart] = self.progress.add_task(
                f"restart {restart + 1}/{t.restarts}", total=t.iterations, completed=t.step.get(restart, 0)
            )
        return self.bars[restart]

    def __call__(self, node: str, update: dict[str, Any]) -> None:
        t = self.tally
        event = t.feed(node, update)
        if event == "inputs" and self.pool is not None:
            self.progress.update(self.pool, description=f"starting pool: encoding the {t.inputs} inputs")
        elif event == "pool" and self.pool is not None and t.pool is not None:
            scored, total = t.pool
            self.progress.update(self.pool, description="starting pool", total=total, completed=scored)
        if t.pool_done and self.pool is not None:
            if t.pool is None:  # scored with no count reported (a scorer of its own): no bar to fill
                self.progress.remove_task(self.pool)
            else:
                self.progress.update(self.pool, description="starting pool", completed=t.pool[1])
            self.pool = None
        if t.pool_done and t.iterations and node != "finalize" and not t.ending:
            self._bar(t.restart)
        for restart, task in self.bars.items():
            finished = " done" if restart in t.finished else ""
            description = f"restart {restart + 1}/{t.restarts}{finished}"
            self.progress.update(task, completed=t.step.get(restart, 0), description=description)
        if event == "final" and self.final is None:
            self.final = self.progress.add_task("final test evaluation", total=None)
        elif event == "done":
            if self.final is None:
                self.final = self.progress.add_task("final test evaluation", total=1)
            self.progress.update(self.final, total=1, completed=1)

    def __rich__(self) -> Group:
        t = self.tally
        numbers = Text(" ".join(x for x in (t.at_once(), t.numbers()) if x))
        pooled = t.on != "train"  # the ranking score is its own column where it is not train accuracy
        columns = [*(["selection"] if pooled else []), "train", "val", "template"]
        rows = [
            [*([pct(selection_acc(c, t.on))] if pooled else []), pct(c.train_acc), pct(c.val_acc), c.template]
            for c in t.top
        ]
        board = table("", columns, rows, box=None, show_header=bool(t.top))
        return Group(self.progress, numbers, board)

    def shown(self) -> AbstractContextManager[Any]:
        return Live(self, console=err, refresh_per_second=4, transient=True)


class PlainProgress:
    """Not a terminal: one plain line per event (the pool's steps, each LLM iteration, the final
    evaluation), each with the time; a resumed run's first line says how far it already got."""

    def __init__(self, config: Any, done: dict[str, Any]) -> None:
        self.tally = Tally(config, done)
        self.resumed = done["iterations_done"] > 0 or done.get("candidates_scored", 0) > 0

    def line(self, text: str) -> None:
        say(f"{time.strftime('%H:%M:%S')} {text}", to_err=True)

    def __call__(self, node: str, update: dict[str, Any]) -> None:
        t = self.tally
        event = t.feed(node, update)
        if event == "inputs":
            self.line(f"starting pool: encoding the {t.inputs} inputs")
        elif event == "pool" and t.pool is not None:
            self.line(f"starting pool: {t.pool[0]}/{t.pool[1]} templates scored")
        elif event == "iteration":
            self.line(f"{t.where()} {t.numbers()}")
        elif event == "final":
            self.line(f"final test evaluation {t.numbers()}")
        elif event == "done":
            self.line("final test evaluation done")

    def shown(self) -> AbstractContextManager[Any]:
        t = self.tally
        if t.concurrent:
            self.line(t.at_once())
        if self.resumed:
            restarts = f"restarts done {len(t.finished)}/{t.restarts}" if t.concurrent else t.where()
            self.line(f"resumed at {restarts}, iterations done {t.iterations_done} {t.numbers()}")
        return nullcontext()
