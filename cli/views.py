"""What a run looks like on the terminal, for both kinds: its live progress, its summary, how it ended.

``drive_to_end`` is the one place a CLI command drives a session (session/lifecycle.py) and prints its end.
"""

from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from promptclimb.cli.console import err, out, safe, say, table, warn

if TYPE_CHECKING:
    from promptclimb.session.lifecycle import Session

EXIT = {"finished": 0, "paused": 3, "failed": 1}


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def step(restart: int, iteration: int) -> str:
    """Where a template came from, numbered as the progress shows it: restart 1 is the first."""
    return f"r{restart + 1}.i{iteration}"


# ------------------------------------------------------------------------------------ classification


class LiveBoard:
    """Progress bar (iterations, restarts) over a live top-5 leaderboard, fed by the graph's node updates."""

    def __init__(self, config: Any, done: dict[str, int]) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
        )
        total = config.iterations * config.restarts
        self.concurrent = config.concurrent()
        at_once = f"{config.restarts} restarts, {config.parallel_restarts} at once"
        self.restarts = config.restarts
        first = (
            at_once
            if self.concurrent
            else f"restart {min(done['restarts_done'], config.restarts - 1) + 1}"
        )
        self.task = self.progress.add_task(first, total=total, completed=done["iterations_done"])
        self.top: list[Any] = []

    def __rich__(self) -> Group:
        board = table(
            "",
            ["train", "val", "template"],
            [[pct(c.train_acc), pct(c.val_acc), c.template] for c in self.top],
            box=None,
            show_header=bool(self.top),
        )
        return Group(self.progress, board)

    def __call__(self, node: str, update: dict[str, Any]) -> None:
        if node == "rank" and update.get("candidates"):
            self.top = update["candidates"][:5]
            if "iterations_done" in update:
                self.progress.update(self.task, completed=update["iterations_done"])
        elif node == "feedback" and "restarts_done" in update and not self.concurrent:
            # After the last restart there is no next one: "restart 2" of a --restarts 1 run was wrong.
            restart = min(update["restarts_done"] + 1, self.restarts)
            self.progress.update(self.task, description=f"restart {restart}")
        elif node == "finalize":
            self.progress.update(self.task, description="final test evaluation")

    def shown(self) -> AbstractContextManager[Any]:
        return Live(self, console=err, refresh_per_second=4, transient=True)


class PlainProgress:
    """Not a terminal (nohup, SLURM, CI logs): one plain line per LLM iteration, nothing redrawn."""

    def __init__(self, config: Any, done: dict[str, int]) -> None:
        self.config, self.restart, self.iteration = config, done["restarts_done"], 0
        self.calls, self.cost = 0, 0.0

    def __call__(self, node: str, update: dict[str, Any]) -> None:
        self.restart = update.get("restart", self.restart)
        self.iteration = update.get("iteration", self.iteration)  # concurrent restarts: the lane's own
        if node == "propose":
            self.iteration = update.get("iteration", self.iteration)
            usage = update.get("usage")
            if usage is not None:
                self.calls, self.cost = usage.calls, usage.cost_usd
        elif node == "rank" and "iterations_done" in update and update.get("candidates"):
            best = update["candidates"][0]
            say(
                f"{time.strftime('%H:%M:%S')} restart {self.restart + 1}/{self.config.restarts} "
                f"iteration {self.iteration}/{self.config.iterations} best train {pct(best.train_acc)} "
                f"LLM calls {self.calls} cost ${self.cost:.4f}",
                to_err=True,
            )
        elif node == "finalize":
            say(f"{time.strftime('%H:%M:%S')} final test evaluation done", to_err=True)

    def shown(self) -> AbstractContextManager[Any]:
        return nullcontext()


def print_summary(summary: dict[str, Any], limit: int | None = None) -> None:
    rows = summary["leaderboard"][:limit] if limit else summary["leaderboard"]
    # The ranking score first (train, or train+val pooled): the rows are in its order.
    cells = [
        [i, row["template"], pct(row.get("selection_acc", row["train_acc"])), pct(row["train_acc"]),
         pct(row.get("val_acc")),
         row["source"] if row["source"] in ("pool", "local") else step(row["restart"], row["iteration"])]
        for i, row in enumerate(rows, 1)
    ]  # fmt: skip
    title = f"{summary['run_id']}  [{summary['status']}]"
    out.print(table(title, ["#", "template", "selection", "train", "val", "source"], cells))
    pooled = "train+val pooled" if summary.get("selection") == "train+val" else "train"
    say(f"ranked by selection accuracy ({pooled})")
    usage = summary["usage"] or {}
    tokens = f"{usage.get('input_tokens', 0)}+{usage.get('output_tokens', 0)}"
    say(
        f"iterations {summary['iterations_done']}, restarts {summary['restarts_done']}, "
        f"templates scored {summary['candidates_scored']}, rejected {len(summary['rejections'])}, "
        f"LLM calls {summary['llm_calls']}, tokens {tokens}, cost ${usage.get('cost_usd', 0.0):.4f}"
    )
    if summary["reason"]:
        say(f"{summary['status']}: {summary['reason']}")
    final = summary["final"]
    if final:
        say(f"selected: {final['template']!r}  test {pct(final['test_acc'])}")
        say(f"top-{len(final['ensemble_templates'])} ensemble: test {pct(final['ensemble_test_acc'])}")
        if final.get("class_templates"):
            texts = sum(len(v) for v in (final.get("class_prompts") or {}).values())
            chosen = " (reported)" if final.get("selected") == "classes" else ""
            say(f"class-specific: {len(final['class_templates'])} template(s) + {texts} texts: "
                f"test {pct(final.get('classes_test_acc'))}{chosen}")  # fmt: skip
        for name, acc in final["baselines"].items():
            say(f"baseline {name}: test {pct(acc)}")
    contributed = summary["llm_templates_scored"] + (summary.get("class_prompts") or {}).get("kept", 0)
    written = (summary.get("class_prompts") or {}).get("written", 0)
    if summary["llm_calls"] and not summary["llm_templates_scored"] and not written:
        # A run shorter than --max-unusable-steps never pauses: say that the LLM gave nothing usable.
        warn(f"the LLM gave nothing usable in {summary['llm_calls']} calls: the result is the starting "
             "pool's (see show's rejections)")  # fmt: skip
    elif summary["llm_calls"] and not contributed and summary["status"] == "finished":
        warn("nothing the LLM wrote was kept: the result is the starting pool's")


# ------------------------------------------------------------------------------------ text-to-image


class T2ILive:
    """Progress of the critic iterations and the best image so far, fed by the graph's node updates."""

    def __init__(self, config: Any, done: dict[str, int]) -> None:
        total = config.iterations + (config.phase_iterations("invert") if config.kind == "personalize" else 0)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[best]}"),
            TimeElapsedColumn(),
            console=err,
        )
        self.task = self.progress.add_task(
            "iterations", total=total, completed=done["iterations_done"], best=""
        )

    def __call__(self, node: str, update: dict[str, Any]) -> None:
        if node == "rank" and update.get("candidates"):
            candidates = update["candidates"]
            edits = [c for c in candidates if c.phase == "edit"]
            best = edits[0] if edits else candidates[0]  # ranked phase by phase, best first
            fields: dict[str, Any] = {"best": f"best {best.score:.3f} {best.prompt[:60]!r}"}
            if "iterations_done" in update:
                fields["completed"] = update["iterations_done"]
            self.progress.update(self.task, **fields)
        elif node == "start_edit":
            self.progress.update(self.task, description="edit")
        elif node == "finalize":
            self.progress.update(self.task, description="done")

    def shown(self) -> AbstractContextManager[Any]:
        return self.progress


class T2IPlainProgress:
    """Not a terminal (nohup, SLURM, CI logs): one plain line per critic iteration."""

    def __init__(self, config: Any, done: dict[str, int]) -> None:
        self.config, self.calls, self.cost = config, 0, 0.0

    def __call__(self, node: str, update: dict[str, Any]) -> None:
        if update.get("usage") is not None:
            self.calls = update["usage"].calls
        if node == "rank" and "iterations_done" in update and update.get("candidates"):
            best = update["candidates"][0]
            say(
                f"{time.strftime('%H:%M:%S')} iteration {update['iterations_done']} best {best.score:.3f} "
                f"{best.prompt!r} LLM calls {self.calls}",
                to_err=True,
            )

    def shown(self) -> AbstractContextManager[Any]:
        return nullcontext()


def print_t2i_summary(summary: dict[str, Any], limit: int | None = None) -> None:
    rows = summary["leaderboard"][:limit] if limit else summary["leaderboard"]
    cells = [
        [i, f"{row['score']:.3f}", row["prompt"], row["image"], f"{row['phase']}.i{row['iteration']}"]
        for i, row in enumerate(rows, 1)
    ]
    title = f"{summary['run_id']}  [{summary['status']}]"
    out.print(table(title, ["#", "score", "prompt", "image", "step"], cells))
    images = summary["images"] or {}
    say(
        f"iterations {summary['iterations_done']}, images {images.get('images', 0)} "
        f"(${images.get('cost_usd', 0.0):.3f}), LLM calls {summary['llm_calls']}, "
        f"total cost ${summary['cost_usd']:.4f}, rejected prompts {len(summary['rejections'])}"
    )
    if summary["reason"]:
        say(f"{summary['status']}: {summary['reason']}")
    final = summary["final"]
    if final:
        base = "" if final["baseline"] is None else f" (first prompt {final['baseline']:.3f})"
        say(f"best {final['score']:.3f}{base}: {final['prompt']!r} -> {final['image']}")


# ------------------------------------------------------------------------------------ both kinds

# kind -> (terminal progress, plain progress, summary printer, rows of the summary printed after a drive)
VIEWS: dict[str, tuple[Any, Any, Any, int]] = {
    "classify": (LiveBoard, PlainProgress, print_summary, 10),
    "t2i": (T2ILive, T2IPlainProgress, print_t2i_summary, 8),
}


def show_summary(kind: str, summary: dict[str, Any], limit: int | None = None) -> None:
    VIEWS[kind][2](summary, limit)


def drive_to_end(session: Session, announce: bool = False) -> int:
    """Drive a started (``announce``: say where it is) or resumed run with its progress view; print its
    summary; return the exit status."""
    live, plain, _, limit = VIEWS[session.kind.name]
    for line in session.opened.warnings:
        warn(line)
    if announce:
        say(f"run {session.run_dir.name} in {session.run_dir}", to_err=True)
    view = (live if err.is_terminal else plain)(session.config, session.opened.done)
    with view.shown():
        status, reason = session.drive(view)
    show_summary(session.kind.name, session.summary(), limit)
    outputs = session.outputs(status)
    if outputs:
        say(f"report: {outputs[0]}")
    return stopped(session.run_dir, status, reason)


def stopped(run_dir: Path, status: str, reason: str | None) -> int:
    """The exit status of a run that ended; says why and how to go on when it did not finish."""
    from promptclimb.session.driver import INTERRUPTED

    if status == "finished":
        return 0
    err.print(Text.assemble((status, "bold"), ": ", safe(reason)), soft_wrap=True)
    if status == "failed":
        say(f"traceback in {run_dir / 'run.log'}", to_err=True)
        if logging.getLogger("promptclimb").isEnabledFor(logging.DEBUG):
            say(failure_traceback(run_dir), to_err=True)
    say(f"resume with: promptclimb resume {run_dir}", to_err=True)
    return 130 if reason == INTERRUPTED else EXIT[status]


def failure_traceback(run_dir: Path) -> str:
    """The last traceback the driver wrote to run.log (for --debug)."""
    text = (run_dir / "run.log").read_text(errors="replace") if (run_dir / "run.log").exists() else ""
    start = text.rfind("Traceback (most recent call last)")
    return text[start:].rstrip() if start >= 0 else "(no traceback in run.log)"
