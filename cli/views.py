"""What a run looks like on the terminal, for both kinds: its live progress, its summary, how it ended.

``drive_to_end`` is the one place a CLI command drives a session (session/lifecycle.py) and prints its end.
"""

from __future__ import annotations

import logging
import re
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from promptclimb.cli.console import err, out, safe, say, table, warn
from promptclimb.llm.pricing import cost_text, usage_cost_text

if TYPE_CHECKING:
    from promptclimb.session.lifecycle import Session

EXIT = {"finished": 0, "paused": 3, "failed": 1}


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def step(restart: int, iteration: int) -> str:
    """Where a template came from, numbered as the progress shows it: restart 1 is the first."""
    return f"r{restart + 1}.i{iteration}"


# ------------------------------------------------------------------------------------ classification


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
        f"LLM calls {summary['llm_calls']}, tokens {tokens}, cost {usage_cost_text(usage)}"
    )
    if summary["reason"]:
        say(f"{summary['status']}: {summary['reason']}")
    final = summary["final"]
    counts = summary.get("class_prompts") or {}  # --space classes: written, kept, adopted, inputs
    if final:
        say(f"selected: {final['template']!r}  test {pct(final['test_acc'])}")
        say(f"top-{len(final['ensemble_templates'])} ensemble: test {pct(final['ensemble_test_acc'])}")
        if final.get("class_templates"):
            texts = sum(len(v) for v in (final.get("class_prompts") or {}).values())
            inputs, adopted = counts.get("inputs", 0), counts.get("adopted", 0)
            parts = []
            if inputs:
                parts.append(f"{inputs} of them training inputs")
            if adopted:
                parts.append(f"{adopted} adopted from other classes")
            of_them = f" ({', '.join(parts)})" if parts else ""
            chosen = " (reported)" if final.get("selected") == "classes" else ""
            say(f"class-specific: {len(final['class_templates'])} template(s) + {texts} texts{of_them}: "
                f"test {pct(final.get('classes_test_acc'))}{chosen}")  # fmt: skip
            alone = final.get("classes_without_llm_test_acc")
            if alone is not None:
                what = "the inputs alone" if inputs else "no input kept: the templates alone"
                say(f"  without the LLM's texts ({what}): test {pct(alone)}")
        for name, acc in final["baselines"].items():
            say(f"baseline {name}: test {pct(acc)}")
    contributed = summary["llm_templates_scored"] + counts.get("kept", 0) + counts.get("adopted", 0)
    written = counts.get("written", 0)
    finished = summary["status"] == "finished"  # a pause (Ctrl-C mid-call) has not used its replies yet
    if finished and summary["llm_calls"] and not summary["llm_templates_scored"] and not written:
        # A run shorter than --max-unusable-steps never pauses: say that the LLM gave nothing usable.
        warn(f"the LLM gave nothing usable in {summary['llm_calls']} calls: the result is the starting "
             "pool's (see show's rejections)")  # fmt: skip
    elif finished and summary["llm_calls"] and not contributed:
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
    total = cost_text(summary["cost_usd"], (summary["usage"] or {}).get("unpriced_calls", 0))
    say(
        f"iterations {summary['iterations_done']}, images {images.get('images', 0)} "
        f"(${images.get('cost_usd', 0.0):.3f}), LLM calls {summary['llm_calls']}, "
        f"total cost {total}, rejected prompts {len(summary['rejections'])}"
    )
    if summary["reason"]:
        say(f"{summary['status']}: {summary['reason']}")
    final = summary["final"]
    if final:
        base = "" if final["baseline"] is None else f" (first prompt {final['baseline']:.3f})"
        say(f"best {final['score']:.3f}{base}: {final['prompt']!r} -> {final['image']}")


# ------------------------------------------------------------------------------------ both kinds

# kind -> (summary printer, rows of the summary printed after a drive)
VIEWS: dict[str, tuple[Any, int]] = {"classify": (print_summary, 10), "t2i": (print_t2i_summary, 8)}


def show_summary(kind: str, summary: dict[str, Any], limit: int | None = None) -> None:
    VIEWS[kind][0](summary, limit)


def progress_views(kind: str) -> tuple[Any, Any]:
    """The (terminal, plain) progress views of a kind; classification's load the graph's modules, so only
    a command that drives a run imports them."""
    if kind == "classify":
        from promptclimb.cli.progress import LiveBoard, PlainProgress

        return LiveBoard, PlainProgress
    return T2ILive, T2IPlainProgress


def drive_to_end(session: Session, announce: bool = False) -> int:
    """Drive a started (``announce``: say where it is) or resumed run with its progress view; print its
    summary; return the exit status."""
    live, plain = progress_views(session.kind.name)
    limit = VIEWS[session.kind.name][1]
    for line in session.opened.warnings:
        warn(line)
    if announce:
        say(f"run {session.run_dir.name} in {session.run_dir}", to_err=True)
    view = (live if err.is_terminal else plain)(session.config, session.opened.done)
    with view.shown():
        status, reason = session.drive(view)
    summary = readable_summary(session, status)
    if summary is not None:  # why it stopped is said once, by the end line below, not also by the summary
        show_summary(session.kind.name, {**summary, "reason": None}, limit)
    outputs = session.outputs(status)
    if outputs:
        say(f"report: {outputs[0]}")
    return stopped(session.run_dir, status, reason)


def readable_summary(session: Session, status: str) -> dict[str, Any] | None:
    """The run's summary; None (said in a warning) when a run that did not finish cannot be read back now,
    such as one whose PostgreSQL store went away: its stop and resume hint still follow."""
    from promptclimb.graph.checkpoint import CheckpointError

    try:
        return session.summary()
    except CheckpointError as error:
        if status == "finished":
            raise
        warn(f"no summary: {error}")
        return None


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
    budget = re.search(r"--max-[a-z-]+", reason or "")  # the same budget would pause it again at once
    raise_it = f" {budget.group()} N (N above the budget it reached)" if budget else ""
    say(f"resume with: promptclimb resume {run_dir}{store_hint(run_dir)}{raise_it}", to_err=True)
    return 130 if reason == INTERRUPTED else EXIT[status]


def store_hint(run_dir: Path) -> str:
    """What a resume of a run on PostgreSQL needs besides its id: the store's URL, from the user again."""
    from promptclimb.graph.checkpoint import STORE_ENV, uses_postgres

    return f" (with --checkpoints postgresql://... or ${STORE_ENV})" if uses_postgres(run_dir) else ""


def failure_traceback(run_dir: Path) -> str:
    """The last traceback the driver wrote to run.log (for --debug)."""
    text = (run_dir / "run.log").read_text(errors="replace") if (run_dir / "run.log").exists() else ""
    start = text.rfind("Traceback (most recent call last)")
    return text[start:].rstrip() if start >= 0 else "(no traceback in run.log)"
