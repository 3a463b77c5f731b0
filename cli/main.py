"""The promptclimb command line: the only place that prints."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
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
from promptclimb.evaluators.cache import CacheUnavailable
from promptclimb.evaluators.classify.clip import ClipBackbone, ModelLoadError, load_clip
from promptclimb.evaluators.classify.data import DataError, load_dataset
from promptclimb.evaluators.classify.scorer import ClipScorer, default_cache_dir
from promptclimb.graph.checkpoint import CheckpointError, RunLocked, is_locked
from promptclimb.graph.config import DEFAULT_CLIP, FEEDBACK_MODES, RunConfig
from promptclimb.graph.context import Context
from promptclimb.graph.runs import (
    DataChanged,
    RunNotFound,
    check_progress_kept,
    check_same_data,
    create_run,
    data_record,
    find_run,
    list_runs,
    load_config,
    read_status,
    save_config,
)
from promptclimb.graph.session import execute, load_inputs, make_context, open_models
from promptclimb.llm.backends import BackendError
from promptclimb.llm.credentials import ConsentNeeded, endpoint_needs_consent, require_consent
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
    ConsentNeeded,
    RunNotFound,
    CheckpointError,
    RunLocked,
    CacheUnavailable,
    DataChanged,
)
EXIT = {"finished": 0, "paused": 3, "failed": 1}


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def add_run_options(p: argparse.ArgumentParser) -> None:
    d = RunConfig.model_fields
    p.add_argument("--data", required=True, help="dataset directory (image folders, CoOp layout, ...)")
    p.add_argument("--layout", default="auto", help="auto | folders | flat | named | coop")
    p.add_argument("--coop-name", help="CoOp dataset name when --layout coop cannot guess it")
    p.add_argument("--shots", type=int, default=d["shots"].default, help="images per class for training")
    p.add_argument(
        "--seed", type=int, default=d["seed"].default, help="few-shot sampling seed (paper: 1, 2, 3)"
    )
    p.add_argument("--clip", default=DEFAULT_CLIP, help="Hugging Face id or local directory")
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
    add_resume_endpoint_options(resume)
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


def add_resume_endpoint_options(resume: argparse.ArgumentParser) -> None:
    """Point a resumed run at a moved server, and consent to what its config.json chose."""
    resume.add_argument("--llm", help="another provider:model for the rest of the run")
    resume.add_argument("--llm-base-url", help="the OpenAI-compatible server to use from now on")
    resume.add_argument("--llm-api-key-env", help="environment variable holding that server's API key")
    resume.add_argument(
        "--trust-run-llm",
        action="store_true",
        help="send keys to the servers and key variables the run's config.json names",
    )
    resume.add_argument(
        "--trust-run-plugin", action="store_true", help="import the plugin the run's config.json names"
    )


def resume_overrides(args: argparse.Namespace, names: tuple[str, ...]) -> dict[str, Any]:
    return {k: getattr(args, k) for k in names if getattr(args, k, None) is not None}


def check_llm_consent(config: RunConfig, given: dict[str, Any], trusted: bool) -> None:
    """Credentials go only where the user sent them: a resumed run's own endpoint needs --trust-run-llm."""
    from_user = {k for k, f in (("base_url", "llm_base_url"), ("key_env", "llm_api_key_env")) if f in given}
    reason = endpoint_needs_consent(
        "LLM", config.llm_base_url, config.llm_api_key_env, "OPENAI_API_KEY", from_user
    )
    if not trusted:
        require_consent(
            [reason] if reason else [], "--trust-run-llm", "give --llm-base-url and --llm-api-key-env"
        )


def config_from_args(args: argparse.Namespace) -> RunConfig:
    fields = {k: v for k, v in vars(args).items() if k in RunConfig.model_fields and v is not None}
    return RunConfig(**fields)


def plan(config: RunConfig, pool: list[str], n_classes: int) -> dict[str, int]:
    steps = config.iterations * config.restarts
    templates = len(pool) + steps * config.proposals
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


def run_to_end(
    run_dir: Path,
    context: Context,
    pool: list[str],
    resumed: bool = False,
    prepare: Callable[[], None] | None = None,
) -> int:
    done = summarize(run_dir)["iterations_done"] if resumed else 0
    board = LiveBoard(context.config, done)
    with Live(board, console=err, refresh_per_second=4, transient=True):
        status, reason = execute(run_dir, context, pool, board, prepare=prepare)
    print_summary(summarize(run_dir), limit=10)
    if status == "finished":
        return 0
    err.print(f"[bold]{status}[/]: {reason}", highlight=False)
    err.print(f"resume with: promptclimb resume {run_dir}", highlight=False)
    return 130 if reason == "interrupted by the user" else EXIT[status]


def warn_random_weights(config: RunConfig | argparse.Namespace, backbone: ClipBackbone) -> None:
    if backbone.random_weights:
        err.print(
            f"[bold yellow]WARNING: {config.clip} holds no weights: CLIP runs with RANDOM weights. "
            "Accuracies are meaningless (for speed and plumbing tests only).[/]",
            highlight=False,
        )


def cmd_run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    dataset, pool = load_inputs(config)
    if args.dry_run:
        out.print_json(data=plan(config, pool, len(dataset.classnames)))
        return 0
    with open_models(config) as (backbone, backend):
        warn_random_weights(config, backbone)
        run_dir = create_run(Path(args.runs_dir), config, data_record(dataset))
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
    check_progress_kept(run_dir)
    config = load_config(run_dir)
    given = resume_overrides(args, ("max_llm_calls", "max_cost", "llm", "llm_base_url", "llm_api_key_env"))
    config = config.model_copy(update=given)
    check_llm_consent(config, given, args.trust_run_llm)
    # The pool matters only when the run was killed before its first checkpoint.
    dataset, pool = load_inputs(config)
    check_same_data(run_dir, dataset)
    with open_models(config) as (backbone, backend):
        warn_random_weights(config, backbone)
        context = make_context(config, run_dir, dataset, backbone, backend)
        # Saved under the run's lock: a refused concurrent resume leaves config.json as it was.
        save = (lambda: save_config(run_dir, config)) if given else None
        return run_to_end(run_dir, context, pool, resumed=True, prepare=save)


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
        try:
            add_list_row(table, run_dir)
        except CheckpointError as error:  # one damaged or crafted run must not hide the others
            table.add_row(run_dir.name, "-", "unreadable", "-", "-", "-")
            err.print(f"warning: {error}", highlight=False, soft_wrap=True)
    out.print(table)
    return 0


def add_list_row(table: Table, run_dir: Path) -> None:
    if is_t2i_run(run_dir):
        status, iterations, best_score, kind = list_row(run_dir)
        table.add_row(run_dir.name, kind, status, iterations, best_score, "-")
        return
    s = summarize(run_dir)
    best = s["leaderboard"][0]["train_acc"] if s["leaderboard"] else None
    test = s["final"]["test_acc"] if s["final"] else None
    table.add_row(run_dir.name, "classify", s["status"], str(s["iterations_done"]), pct(best), pct(test))


def add_score_command(sub: argparse._SubParsersAction) -> None:
    score = sub.add_parser("score", help="score prompt templates directly (same caches as runs)")
    score.add_argument("templates", nargs="*", metavar="TEMPLATE", help='e.g. "a photo of a {}."')
    score.add_argument("--templates", dest="templates_file", help="a file with one template per line")
    score.add_argument("--data", required=True)
    score.add_argument("--layout", default="auto")
    score.add_argument("--coop-name")
    score.add_argument("--clip", default=DEFAULT_CLIP)
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
    dataset = load_dataset(
        args.data, shots=args.shots, seed=args.seed, layout=args.layout, coop_name=args.coop_name
    )
    if not dataset.has_split(args.split):
        raise DataError(f"dataset '{dataset.name}' has no {args.split} split")
    backbone = load_clip(args.clip, device=args.device, precision=args.precision)
    warn_random_weights(args, backbone)
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
