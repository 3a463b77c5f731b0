"""The promptclimb command line: the only place that prints."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from promptclimb.cli.results import add_commands as add_results_commands
from promptclimb.cli.t2i import add_commands as add_t2i_commands
from promptclimb.cli.t2i import is_t2i_run, list_row, resume_t2i, show_t2i
from promptclimb.evaluators.base import DualEncoder
from promptclimb.evaluators.classify.clip import ModelLoadError
from promptclimb.evaluators.classify.data import DataError
from promptclimb.evaluators.classify.scorer import ClipScorer, default_cache_dir
from promptclimb.graph.checkpoint import CheckpointError, RunLocked, is_locked
from promptclimb.graph.config import DEFAULT_CLIP, FEEDBACK_MODES, META_STYLES, RunConfig
from promptclimb.graph.context import Context
from promptclimb.graph.runs import RunNotFound, create_run, find_run, list_runs, load_config, read_status
from promptclimb.graph.session import (
    execute,
    load_data,
    load_inputs,
    make_context,
    open_models,
    open_scorer_model,
)
from promptclimb.llm.backends import BackendError
from promptclimb.llm.models import list_models
from promptclimb.nodes.finalize import PHOTO_BASELINE
from promptclimb.prompts.pools import handmade_templates, load_pool
from promptclimb.prompts.template import TemplateError, validate
from promptclimb.results.summary import summarize

out = Console()
err = Console(stderr=True)

# Bad input: a one-line message and exit status 2, nothing created or lost.
USER_ERRORS = (
    DataError,
    TemplateError,
    ModelLoadError,
    BackendError,
    RunNotFound,
    CheckpointError,
    RunLocked,
)
EXIT = {"finished": 0, "paused": 3, "failed": 1}


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def add_run_options(p: argparse.ArgumentParser) -> None:
    d = RunConfig.model_fields
    p.add_argument("--data", required=True, help="dataset directory (image folders, CoOp layout, ...)")
    p.add_argument("--layout", default="auto", help="auto | folders | flat | named | coop | csv")
    p.add_argument("--coop-name", help="CoOp dataset name when --layout coop cannot guess it")
    p.add_argument("--shots", type=int, default=d["shots"].default, help="images per class for training")
    p.add_argument(
        "--seed", type=int, default=d["seed"].default, help="few-shot sampling seed (paper: 1, 2, 3)"
    )
    p.add_argument("--clip", default=DEFAULT_CLIP, help="Hugging Face id or local directory")
    p.add_argument(
        "--scorer",
        help="the scorer model: hf:<CLIP id or dir> (default: hf:--clip), text:<sentence encoder id or dir> "
        "(CSV text datasets), or <plugin>:<arg> from the promptclimb.scorers entry points",
    )
    p.add_argument("--task", help="one line describing the data for the LLM (default: from the dataset)")
    p.add_argument("--text-column", help="CSV text datasets: the text column (default: found by name)")
    p.add_argument("--label-column", help="CSV text datasets: the label column (default: found by name)")
    p.add_argument("--precision", default="auto", help="auto | fp32 | bf16 | fp16")
    p.add_argument("--device", help="cuda | mps | cpu (default: best available)")
    p.add_argument("--cache-dir", help="feature cache (default $PROMPTCLIMB_CACHE or ~/.cache/promptclimb)")
    p.add_argument("--llm", help="provider:model, e.g. openai:gpt-4o-mini (default: embedded local model)")
    p.add_argument("--llm-base-url", help="base URL of an OpenAI-compatible server (vLLM, Ollama, ...)")
    p.add_argument("--llm-api-key-env", help="environment variable holding the API key")
    p.add_argument("--temperature", type=float, default=d["temperature"].default)
    p.add_argument("--pool", default=d["pool"].default, help="initial pool: a name or a file of templates")
    p.add_argument("--pool-size", type=int, help="random sample of this many pool templates")
    p.add_argument(
        "--iterations", type=int, default=d["iterations"].default, help="LLM iterations per restart"
    )
    p.add_argument("--restarts", type=int, default=d["restarts"].default)
    p.add_argument(
        "--proposals", type=int, default=d["proposals"].default, help="templates asked per iteration"
    )
    p.add_argument("--top-k", type=int, default=d["top_k"].default, help="best templates shown to the LLM")
    p.add_argument("--bottom-k", type=int, default=d["bottom_k"].default, help="worst templates shown")
    p.add_argument("--feedback", default="pos+neg", choices=list(FEEDBACK_MODES), help="feedback mode")
    p.add_argument(
        "--meta",
        default=d["meta"].default,
        choices=list(META_STYLES),
        help="compact: promptclimb's default loop; chat: the paper's conversation",
    )
    p.add_argument("--shown", type=int, help="compact: templates shown per iteration (default 15)")
    p.add_argument("--examples", type=int, help="compact: example inputs shown (texts; default 8)")
    p.add_argument(
        "--select-on", choices=["train", "train+val"], help="selection data (default: train+val compact)"
    )
    p.add_argument(
        "--tie-break", choices=["order", "margin"], help="ties: discovery order, or the cosine margin"
    )
    p.add_argument(
        "--max-unusable-steps", type=int, help="pause after N LLM steps in a row with nothing usable"
    )
    p.add_argument("--history-turns", type=int, help="earlier exchanges the LLM sees (default 6)")
    p.add_argument("--patience", type=int, help="end a restart after N iterations without improvement")
    p.add_argument("--ensemble-size", type=int, default=d["ensemble_size"].default)
    p.add_argument("--max-llm-calls", type=int, help="stop (resumable) after this many LLM calls")
    p.add_argument("--max-cost", type=float, help="stop (resumable) after this estimated cost in USD")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="promptclimb", description=__doc__)
    root.add_argument("--runs-dir", default="runs", help="where runs live (default ./runs)")
    sub = root.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start an optimization run")
    add_run_options(run)
    run.add_argument("--dry-run", action="store_true", help="print the planned LLM calls and evaluations")
    resume = sub.add_parser("resume", help="continue a paused, killed or failed run")
    resume.add_argument("run")
    resume.add_argument("--max-llm-calls", type=int, help="raise the LLM call budget")
    resume.add_argument("--max-cost", type=float, help="raise the cost budget")
    resume.add_argument("--max-images", type=int, help="raise the image budget (text-to-image runs)")
    show = sub.add_parser("show", help="status, leaderboard, history and counts of a run")
    show.add_argument("run")
    show.add_argument("--json", action="store_true")
    sub.add_parser("list", help="all runs with status and best score")
    add_score_command(sub)
    models = sub.add_parser("models", help="the embedded LLMs and whether they are installed")
    models.add_argument("--verify", action="store_true", help="check the sha256 of installed model files")
    COMMANDS.update(add_t2i_commands(sub))  # t2i, invert, personalize, t2i-report (cli/t2i.py)
    COMMANDS.update(add_results_commands(sub))  # report, export, transfer, replay, bench (cli_results.py)
    for command in sub.choices.values():  # `promptclimb run --runs-dir X` works as well as before `run`
        command.add_argument("--runs-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return root


def config_from_args(args: argparse.Namespace) -> RunConfig:
    fields = {k: v for k, v in vars(args).items() if k in RunConfig.model_fields and v is not None}
    return RunConfig(**fields)


def plan(config: RunConfig, pool: list[str], n_classes: int) -> dict[str, int]:
    steps = config.iterations * config.restarts
    templates = len(pool) + steps * config.asked()
    return {
        "llm_calls": steps,
        "template_evaluations": templates,
        "text_prompts_to_encode_at_most": templates * n_classes,
    }


class LiveBoard:
    """Progress bar (iterations, restarts) over a live top-5 leaderboard, fed by the graph's node updates."""

    def __init__(self, config: RunConfig, done: int) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
        )
        total = config.iterations * config.restarts
        self.task = self.progress.add_task("restart 1", total=total, completed=done)
        self.top: list[Any] = []

    def __rich__(self) -> Group:
        table = Table(box=None, show_header=bool(self.top))
        for column in ("train", "val", "template"):
            table.add_column(column)
        for c in self.top:
            table.add_row(pct(c.train_acc), pct(c.val_acc), c.template)
        return Group(self.progress, table)

    def __call__(self, node: str, update: dict[str, Any]) -> None:
        if node == "rank" and update.get("candidates"):
            self.top = update["candidates"][:5]
            if "iterations_done" in update:
                self.progress.update(self.task, completed=update["iterations_done"])
        elif node == "feedback" and "restarts_done" in update:
            self.progress.update(self.task, description=f"restart {update['restarts_done'] + 1}")
        elif node == "finalize":
            self.progress.update(self.task, description="final test evaluation")


def run_to_end(run_dir: Path, context: Context, pool: list[str], resumed: bool = False) -> int:
    done = summarize(run_dir)["iterations_done"] if resumed else 0
    board = LiveBoard(context.config, done)
    with Live(board, console=err, refresh_per_second=4, transient=True):
        status, reason = execute(run_dir, context, pool, board)
    print_summary(summarize(run_dir), limit=10)
    if status == "finished":
        return 0
    err.print(f"[bold]{status}[/]: {reason}", highlight=False)
    err.print(f"resume with: promptclimb resume {run_dir}", highlight=False)
    return 130 if reason == "interrupted by the user" else EXIT[status]


def warn_random_weights(config: RunConfig, backbone: DualEncoder) -> None:
    if backbone.random_weights:
        err.print(
            f"[bold yellow]WARNING: {config.scorer_spec()} holds no weights: it runs with RANDOM weights. "
            "Accuracies are meaningless (for speed and plumbing tests only).[/]",
            highlight=False,
        )


def cmd_run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    dataset, pool = load_inputs(config)
    if args.dry_run:
        out.print_json(data=plan(config, pool, len(dataset.classnames)))
        return 0
    with open_models(config, dataset) as (backbone, backend):
        warn_random_weights(config, backbone)
        run_dir = create_run(Path(args.runs_dir), config)
        err.print(f"run {run_dir.name} in {run_dir}", highlight=False)
        context = make_context(config, run_dir, dataset, backbone, backend)
        return run_to_end(run_dir, context, pool)


def cmd_resume(args: argparse.Namespace) -> int:
    run_dir = find_run(args.run, Path(args.runs_dir))
    if is_t2i_run(run_dir):
        return resume_t2i(run_dir, args)
    if is_locked(run_dir):  # refuse before loading any model
        raise RunLocked(f"run {run_dir.name} is in use by another process")
    status, _ = read_status(run_dir)
    if status == "finished":
        out.print(f"run {run_dir.name} is already finished; see: promptclimb show {run_dir}", highlight=False)
        return 0
    config = load_config(run_dir)
    raised = {k: getattr(args, k) for k in ("max_llm_calls", "max_cost") if getattr(args, k) is not None}
    if raised:
        config = config.model_copy(update=raised)
        config.save(run_dir / "config.json")
    # The pool matters only when the run was killed before its first checkpoint.
    dataset, pool = load_inputs(config)
    with open_models(config, dataset) as (backbone, backend):
        warn_random_weights(config, backbone)
        return run_to_end(
            run_dir, make_context(config, run_dir, dataset, backbone, backend), pool, resumed=True
        )


def print_summary(summary: dict[str, Any], limit: int | None = None) -> None:
    table = Table(title=f"{summary['run_id']}  [{summary['status']}]")
    for column in ("#", "template", "train", "val", "source"):
        table.add_column(column)
    rows = summary["leaderboard"][:limit] if limit else summary["leaderboard"]
    for i, row in enumerate(rows, 1):
        where = row["source"] if row["source"] == "pool" else f"r{row['restart']}.i{row['iteration']}"
        table.add_row(str(i), row["template"], pct(row["train_acc"]), pct(row.get("val_acc")), where)
    out.print(table)
    usage = summary["usage"] or {}
    tokens = f"{usage.get('input_tokens', 0)}+{usage.get('output_tokens', 0)}"
    out.print(
        f"iterations {summary['iterations_done']}, restarts {summary['restarts_done']}, "
        f"templates scored {summary['candidates_scored']}, rejected {len(summary['rejections'])}, "
        f"LLM calls {summary['llm_calls']}, tokens {tokens}, cost ${usage.get('cost_usd', 0.0):.4f}"
    )
    if summary["reason"]:
        out.print(f"{summary['status']}: {summary['reason']}")
    final = summary["final"]
    if final:
        out.print(f"selected: {final['template']!r}  test {pct(final['test_acc'])}")
        out.print(f"top-{len(final['ensemble_templates'])} ensemble: test {pct(final['ensemble_test_acc'])}")
        for name, acc in final["baselines"].items():
            out.print(f"baseline {name}: test {pct(acc)}")


def cmd_show(args: argparse.Namespace) -> int:
    run_dir = find_run(args.run, Path(args.runs_dir))
    if is_t2i_run(run_dir):
        return show_t2i(run_dir, args.json)
    summary = summarize(run_dir)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print_summary(summary)
    if summary["rejections"]:
        out.print(f"rejected proposals ({len(summary['rejections'])}):")
        for r in summary["rejections"][-10:]:
            out.print(f"  r{r['restart']}.i{r['iteration']} {r['text']!r}: {r['reason']}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    table = Table(title=f"runs in {args.runs_dir}")
    for column in ("run", "kind", "status", "iterations", "best", "test"):
        table.add_column(column)
    for run_dir in list_runs(Path(args.runs_dir)):
        if is_t2i_run(run_dir):
            status, iterations, best_score, kind = list_row(run_dir)
            table.add_row(run_dir.name, kind, status, iterations, best_score, "-")
            continue
        s = summarize(run_dir)
        best = s["leaderboard"][0]["train_acc"] if s["leaderboard"] else None
        test = s["final"]["test_acc"] if s["final"] else None
        table.add_row(run_dir.name, "classify", s["status"], str(s["iterations_done"]), pct(best), pct(test))
    out.print(table)
    return 0


def add_score_command(sub: argparse._SubParsersAction) -> None:
    score = sub.add_parser("score", help="score prompt templates directly (same caches as runs)")
    score.add_argument("templates", nargs="*", metavar="TEMPLATE", help='e.g. "a photo of a {}."')
    score.add_argument("--templates", dest="templates_file", help="a file with one template per line")
    score.add_argument("--data", required=True)
    score.add_argument("--layout", default="auto")
    score.add_argument("--coop-name")
    score.add_argument("--clip", default=DEFAULT_CLIP)
    score.add_argument("--scorer", help="scorer spec (hf:, text:, plugin; default hf:--clip)")
    score.add_argument("--text-column")
    score.add_argument("--label-column")
    score.add_argument("--precision", default="auto")
    score.add_argument("--device")
    score.add_argument("--shots", type=int, default=1)
    score.add_argument("--seed", type=int, default=1)
    score.add_argument("--split", default="train", choices=["train", "val", "test"])
    score.add_argument("--cache-dir")
    score.add_argument(
        "--baselines", action="store_true", help='add "a photo of a {}." and the hand-made ensemble'
    )
    score.add_argument("--json", action="store_true")


def score_rows(scorer: ClipScorer, templates: list[str], split: str, baselines: bool) -> list[dict[str, Any]]:
    results = scorer.score(templates, split)
    if baselines:
        photo = scorer.score([PHOTO_BASELINE], split)[0]
        photo.template = f"baseline: {PHOTO_BASELINE}"
        handmade = scorer.score_ensemble(handmade_templates(scorer.dataset.name), split)
        handmade.template = "baseline: hand-made ensemble"
        results += [photo, handmade]
    keys = ("template", "split", "accuracy", "n_images", "seconds")
    return [{k: getattr(r, k) for k in keys} for r in results]


def cmd_score(args: argparse.Namespace) -> int:
    templates = [validate(t) for t in args.templates]
    if args.templates_file:
        templates += load_pool(args.templates_file)
    if not templates and not args.baselines:
        raise TemplateError("no templates: give TEMPLATE arguments, --templates FILE or --baselines")
    config = RunConfig.model_validate({k: v for k, v in vars(args).items() if k in RunConfig.model_fields})
    dataset = load_data(config)
    if not dataset.has_split(args.split):
        raise DataError(f"dataset '{dataset.name}' has no {args.split} split")
    backbone = open_scorer_model(config, dataset)
    warn_random_weights(config, backbone)
    scorer = ClipScorer(backbone, dataset, args.cache_dir or default_cache_dir())
    rows = score_rows(scorer, templates, args.split, args.baselines)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title=f"{dataset.name}, {args.split} split, {rows[0]['n_images']} images")
    for column in ("template", "accuracy", "seconds"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["template"], pct(row["accuracy"]), f"{row['seconds']:.2f}")
    out.print(table)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    table = Table(title="embedded LLMs (--llm local:NAME; default local:qwen2.5-coder-1.5b)")
    for column in ("name", "installed", "sha256", "size", "licence"):
        table.add_column(column)
    missing = []
    for m in list_models(verify=args.verify):
        sha = {True: "ok", False: "MISMATCH", None: "-"}[m["sha256_ok"]]
        table.add_row(
            m["name"], "yes" if m["installed"] else "no", sha, f"{m['size_bytes'] / 1e6:.0f} MB", m["licence"]
        )
        if not m["installed"]:
            missing.append(f"{m['name']}: {m['install']}")
    out.print(table)
    for line in missing:
        out.print(line, highlight=False, soft_wrap=True)
    return 0


COMMANDS = {
    "run": cmd_run,
    "resume": cmd_resume,
    "show": cmd_show,
    "list": cmd_list,
    "score": cmd_score,
    "models": cmd_models,
}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except USER_ERRORS as error:
        err.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        return 2
    except ValidationError as error:
        first = error.errors()[0]
        err.print(
            f"[bold red]error:[/] {'.'.join(map(str, first['loc']))}: {first['msg']}",
            highlight=False,
            soft_wrap=True,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
