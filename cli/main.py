"""The promptclimb command line: the only place that prints."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

import promptclimb
from promptclimb.cli.console import (
    err,
    error,
    one_line,
    out,
    ready_to_resume,
    safe,
    say,
    setup_logging,
    table,
    warn,
)
from promptclimb.cli.results import add_commands as add_results_commands
from promptclimb.cli.t2i import add_commands as add_t2i_commands
from promptclimb.graph.config import DEFAULT_CLIP, FEEDBACK_MODES, META_STYLES, RunConfig

# Only light modules are imported above, so `--help` and `--version` answer at once: torch, transformers,
# LangChain and LangGraph load inside the commands that need them (tests/test_cli_console.py checks it).
if TYPE_CHECKING:
    from promptclimb.evaluators.classify.scorer import ClipScorer
    from promptclimb.graph.context import Context

EXIT = {"finished": 0, "paused": 3, "failed": 1}


def user_errors() -> tuple[type[BaseException], ...]:
    """Bad input: a one-line message and exit status 2, nothing created or lost."""
    from pydantic import ValidationError

    from promptclimb.evaluators.cache import CacheUnavailable
    from promptclimb.evaluators.classify.clip import ModelLoadError
    from promptclimb.evaluators.classify.data import DataError
    from promptclimb.graph.checkpoint import CheckpointError, RunLocked
    from promptclimb.graph.runs import DataChanged, RunNotFound
    from promptclimb.llm.credentials import ConsentNeeded
    from promptclimb.llm.errors import BackendError
    from promptclimb.prompts.template import TemplateError

    return (
        DataError, TemplateError, ModelLoadError, BackendError, RunNotFound, CheckpointError, RunLocked,
        ValidationError, ConsentNeeded, CacheUnavailable, DataChanged,
    )  # fmt: skip


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def add_draw_options(p: argparse.ArgumentParser) -> None:
    """Which class names and which few-shot images a run uses (README: "Class names and samplers")."""
    d = RunConfig.model_fields
    p.add_argument(
        "--class-names",
        default=d["class_names"].default,
        choices=["coop", "clip"],
        help="CoOp datasets: the split files' names (coop) or OpenAI CLIP's published ones (clip, the paper)",
    )
    p.add_argument(
        "--sampler",
        default=d["sampler"].default,
        choices=["promptclimb", "coop"],
        help="few-shot draw: promptclimb's (row-order independent) or CoOp's exact one (coop, the paper)",
    )


def add_run_options(p: argparse.ArgumentParser) -> None:
    d = RunConfig.model_fields
    p.add_argument("--data", required=True, help="dataset directory (image folders, CoOp layout, ...)")
    p.add_argument("--layout", default="auto", help="auto | folders | flat | named | coop | csv")
    p.add_argument("--coop-name", help="CoOp dataset name when --layout coop cannot guess it")
    add_draw_options(p)
    p.add_argument("--shots", type=int, default=d["shots"].default, help="images per class for training")
    p.add_argument(
        "--seed", type=int, default=d["seed"].default, help="few-shot sampling seed (paper: 1, 2, 3)"
    )
    p.add_argument("--clip", default=DEFAULT_CLIP, help="Hugging Face id or local directory")
    p.add_argument(
        "--scorer",
        help="the scorer model: hf:<CLIP id or dir> (default: hf:--clip), siglip:<SigLIP id or dir>, "
        "openai:<RN50|RN101|ViT-B/16|...|file.pt> (OpenAI's checkpoints, torch only), "
        "open_clip:<arch>/<pretrained> (needs open_clip), "
        "text:<sentence encoder id or dir> (CSV text datasets), or <plugin>:<arg> from the "
        "promptclimb.scorers entry points",
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
    p.add_argument("--temperature", type=float, default=d["temperature"].default, help="LLM sampling")
    add_rate_options(p)
    p.add_argument("--pool", default=d["pool"].default, help="initial pool: a name or a file of templates")
    p.add_argument("--pool-size", type=int, help="random sample of this many pool templates")
    p.add_argument(
        "--iterations", type=int, default=d["iterations"].default, help="LLM iterations per restart"
    )
    p.add_argument("--restarts", type=int, default=d["restarts"].default, help="fresh conversations")
    p.add_argument(
        "--parallel-restarts",
        type=int,
        default=d["parallel_restarts"].default,
        help="restarts climbed at once, each its own conversation (1: one after another); they split "
        "--max-llm-calls and --max-cost equally",
    )
    p.add_argument(
        "--proposals",
        type=int,
        default=d["proposals"].default,
        help="templates asked per call (default 8 compact, 3 chat)",
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
    p.add_argument("--ensemble-size", type=int, default=d["ensemble_size"].default, help="top templates")
    p.add_argument("--max-llm-calls", type=int, help="stop (resumable) after this many LLM calls")
    p.add_argument("--max-cost", type=float, help="stop (resumable) after this estimated cost in USD")


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless it has none or its help already names it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if not action.option_strings or default in (None, False, argparse.SUPPRESS) or "default" in text:
            return text
        return f"{text} (default: %(default)s)"


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="promptclimb", description=__doc__, formatter_class=HelpFormatter)
    root.add_argument("--version", action="version", version=f"promptclimb {promptclimb.__version__}")
    root.add_argument("--runs-dir", default="runs", help="where runs live (default ./runs)")
    root.add_argument(
        "--debug", action="store_true", help="also print failures' tracebacks (run.log has them)"
    )
    root.add_argument(
        "--checkpoints",
        help="where new runs keep their checkpoints: sqlite (in the run directory) or a postgresql:// URL "
        "shared by workers; also how a run on PostgreSQL is reached "
        "(default: $PROMPTCLIMB_CHECKPOINTS, else sqlite)",
    )
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="start an optimization run")
    add_run_options(run)
    run.add_argument(
        "--dry-run", action="store_true", help="print the planned LLM calls, evaluations and cost"
    )
    resume = sub.add_parser("resume", help="continue a paused, killed or failed run")
    resume.add_argument("run", help="run id (under --runs-dir) or run directory")
    resume.add_argument("--max-llm-calls", type=int, help="raise the LLM call budget")
    resume.add_argument("--max-cost", type=float, help="raise the cost budget")
    resume.add_argument("--max-images", type=int, help="raise the image budget (text-to-image runs)")
    add_resume_endpoint_options(resume)
    show = sub.add_parser("show", help="status, leaderboard, history and counts of a run")
    show.add_argument("run", help="run id (under --runs-dir) or run directory")
    show.add_argument("--json", action="store_true", help="the documented JSON (README: the contract)")
    runs = sub.add_parser("list", help="all runs with status and best score")
    runs.add_argument("--json", action="store_true", help="one JSON object per run, in a list")
    rewind = sub.add_parser("rewind", help="go back to the start of a restart (then resume)")
    rewind.add_argument("run", help="run id (under --runs-dir) or run directory")
    rewind.add_argument(
        "--restart", type=int, required=True, help="restart to start again, numbered from 1 as shown"
    )
    add_score_command(sub)
    models = sub.add_parser(
        "models",
        help="the embedded LLMs and OpenAI CLIP checkpoints (--scorer openai:NAME), and which are here",
    )
    models.add_argument("--verify", action="store_true", help="check the sha256 of installed model files")
    COMMANDS.update(add_t2i_commands(sub))  # t2i, invert, personalize, t2i-report (cli/t2i.py)
    COMMANDS.update(add_results_commands(sub))  # report, export, transfer, replay, bench (cli/results.py)
    for command in sub.choices.values():  # `promptclimb run --runs-dir X` works as well as before `run`
        command.formatter_class = HelpFormatter
        command.add_argument("--runs-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        command.add_argument("--checkpoints", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
    return root


def add_rate_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--llm-rpm",
        type=float,
        help="at most this many LLM requests per minute to the provider, shared by concurrent runs "
        "(default $PROMPTCLIMB_LLM_RPM for remote providers, else none)",
    )
    p.add_argument(
        "--llm-tpm", type=float, help="at most this many LLM tokens per minute (default $PROMPTCLIMB_LLM_TPM)"
    )


def add_resume_endpoint_options(resume: argparse.ArgumentParser) -> None:
    """Point a resumed run at a moved server, and consent to what its config.json chose."""
    resume.add_argument("--llm", help="another provider:model for the rest of the run")
    resume.add_argument("--llm-base-url", help="the OpenAI-compatible server to use from now on")
    resume.add_argument("--llm-api-key-env", help="environment variable holding that server's API key")
    add_rate_options(resume)
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
    from promptclimb.llm.credentials import endpoint_needs_consent, require_consent

    reason = endpoint_needs_consent(
        "LLM", config.llm_base_url, config.llm_api_key_env, "OPENAI_API_KEY", from_user
    )
    if not trusted:
        require_consent(
            [reason] if reason else [], "--trust-run-llm", "give --llm-base-url and --llm-api-key-env"
        )


def check_scorer_consent(config: RunConfig, trusted: bool) -> None:
    """A plugin scorer (code to import) or a checkpoint file (TorchScript may carry code) named by a run's
    config.json: only with --trust-run-plugin."""
    from promptclimb.evaluators.classify.registry import untrusted_reason
    from promptclimb.llm.credentials import require_consent

    reason = untrusted_reason(config.scorer) if config.scorer else None
    if reason and not trusted:
        require_consent([reason], "--trust-run-plugin", "check the plugin or file first")


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


# Rough token sizes of one LLM request's parts (about 4 characters per token of our meta-prompts): for a
# dollar estimate before anything is spent, not a bill.
SYSTEM_TOKENS, RANKED_TOKENS, PROPOSAL_TOKENS, DEFAULT_HISTORY_TURNS = 400, 25, 25, 6


def cost_estimate(config: RunConfig, llm_calls: int) -> dict[str, Any]:
    """The dollar estimate of ``llm_calls`` requests where the model's price is known (else null)."""
    from promptclimb.llm.errors import BackendError
    from promptclimb.llm.pricing import PriceFileError, price_for

    spec = config.llm or "local:"
    provider, _, model = spec.partition(":")
    try:
        price = price_for(provider.strip().lower(), model.strip())
    except PriceFileError as exc:
        raise BackendError(str(exc)) from None
    turn = (config.top_k + config.bottom_k) * RANKED_TOKENS + config.asked() * PROPOSAL_TOKENS
    turns = 1 + (config.history_turns if config.history_turns is not None else DEFAULT_HISTORY_TURNS)
    tokens_in, tokens_out = llm_calls * (SYSTEM_TOKENS + turn * turns), llm_calls * (turn + 30)
    if price is None:
        return {"llm": spec, "estimated_cost_usd": None, "price": "unknown (add it with PROMPTCLIMB_PRICES)"}
    return {
        "llm": spec,
        "estimated_input_tokens": tokens_in,
        "estimated_output_tokens": tokens_out,
        "estimated_cost_usd": round(price.cost(tokens_in, tokens_out), 4),
        "price_usd_per_mtok": price.model_dump(),
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
        self.concurrent = config.concurrent()
        at_once = f"{config.restarts} restarts, {config.parallel_restarts} at once"
        self.restarts = config.restarts
        first = (
            at_once
            if self.concurrent
            else f"restart {min(done // max(config.iterations, 1), config.restarts - 1) + 1}"
        )
        self.task = self.progress.add_task(first, total=total, completed=done)
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


class PlainProgress:
    """Not a terminal (nohup, SLURM, CI logs): one plain line per LLM iteration, nothing redrawn."""

    def __init__(self, config: RunConfig, restart: int) -> None:
        self.config, self.restart, self.iteration = config, restart, 0
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


def run_to_end(
    run_dir: Path,
    context: Context,
    pool: list[str],
    resumed: bool = False,
    prepare: Callable[[], None] | None = None,
) -> int:
    from promptclimb.graph.session import execute
    from promptclimb.results.summary import summarize

    before = summarize(run_dir) if resumed else {"iterations_done": 0, "restarts_done": 0}
    if err.is_terminal:
        board = LiveBoard(context.config, before["iterations_done"])
        with Live(board, console=err, refresh_per_second=4, transient=True):
            status, reason = execute(run_dir, context, pool, board, prepare=prepare)
    else:
        progress = PlainProgress(context.config, before["restarts_done"])
        status, reason = execute(run_dir, context, pool, progress, prepare=prepare)
    print_summary(summarize(run_dir), limit=10)
    return stopped(run_dir, status, reason)


def stopped(run_dir: Path, status: str, reason: str | None) -> int:
    """The exit status of a run that ended; says why and how to go on when it did not finish."""
    if status == "finished":
        return 0
    err.print(Text.assemble((status, "bold"), ": ", safe(reason)), soft_wrap=True)
    if status == "failed":
        say(f"traceback in {run_dir / 'run.log'}", to_err=True)
        if logging.getLogger("promptclimb").isEnabledFor(logging.DEBUG):
            say(failure_traceback(run_dir), to_err=True)
    say(f"resume with: promptclimb resume {run_dir}", to_err=True)
    return 130 if reason == "interrupted by the user" else EXIT[status]


def failure_traceback(run_dir: Path) -> str:
    """The last traceback graph/session.py wrote to run.log (for --debug)."""
    text = (run_dir / "run.log").read_text(errors="replace") if (run_dir / "run.log").exists() else ""
    start = text.rfind("Traceback (most recent call last)")
    return text[start:].rstrip() if start >= 0 else "(no traceback in run.log)"


def check_endpoint(backend: Any) -> None:
    """An unreachable LLM server is bad input: found before a run directory exists or the pool is scored."""
    from promptclimb.llm.reach import check_reachable

    if backend.base_url:
        check_reachable(backend.base_url)


def cmd_run(args: argparse.Namespace) -> int:
    from promptclimb.graph.runs import create_run, data_record
    from promptclimb.graph.session import load_inputs, make_context, open_models

    config = config_from_args(args)
    dataset, pool = load_inputs(config)
    if args.dry_run:
        numbers = plan(config, pool, len(dataset.classnames))
        print(json.dumps({**numbers, **cost_estimate(config, numbers["llm_calls"])}, indent=2))
        return 0
    with open_models(config, dataset) as (backbone, backend):
        check_endpoint(backend)
        run_dir = create_run(Path(args.runs_dir), config, data_record(dataset))
        say(f"run {run_dir.name} in {run_dir}", to_err=True)
        context = make_context(config, run_dir, dataset, backbone, backend)
        return run_to_end(run_dir, context, pool)


def cmd_resume(args: argparse.Namespace) -> int:
    from promptclimb.cli.t2i import resume_t2i
    from promptclimb.graph.runs import (
        check_same_data,
        find_run,
        load_config,
        save_config,
    )
    from promptclimb.graph.session import load_inputs, make_context, open_models
    from promptclimb.graph.t2i.session import is_t2i_run

    run_dir = find_run(args.run, Path(args.runs_dir))
    if is_t2i_run(run_dir):
        return resume_t2i(run_dir, args)
    if not ready_to_resume(run_dir):  # refuses before loading any model
        return 0
    config = load_config(run_dir)
    given = resume_overrides(
        args, ("max_llm_calls", "max_cost", "llm", "llm_base_url", "llm_api_key_env", "llm_rpm", "llm_tpm")
    )
    config = config.model_copy(update=given)
    check_llm_consent(config, given, args.trust_run_llm)
    check_scorer_consent(config, args.trust_run_plugin)
    # The pool matters only when the run was killed before its first checkpoint.
    dataset, pool = load_inputs(config)
    check_same_data(run_dir, dataset)
    with open_models(config, dataset) as (backbone, backend):
        check_endpoint(backend)
        context = make_context(config, run_dir, dataset, backbone, backend)
        # Saved under the run's lock: a refused concurrent resume leaves config.json as it was.
        save = (lambda: save_config(run_dir, config)) if given else None
        return run_to_end(run_dir, context, pool, resumed=True, prepare=save)


def cmd_rewind(args: argparse.Namespace) -> int:
    from promptclimb.graph.runs import CALLS_FILE, REWOUND_CALLS_FILE, find_run, load_config
    from promptclimb.graph.session import rewind
    from promptclimb.graph.t2i.session import is_t2i_run

    run_dir = find_run(args.run, Path(args.runs_dir))
    if is_t2i_run(run_dir):
        error("rewind works on classification runs only")
        return 2
    config = load_config(run_dir)
    if not 1 <= args.restart <= config.restarts:
        error(f"--restart takes 1 to {config.restarts}: run {run_dir.name} has {config.restarts} restarts")
        return 2
    if config.concurrent() and args.restart != 1:  # its restarts have no start of their own in the run
        error(f"the restarts of run {run_dir.name} climb concurrently: rewind takes --restart 1 (all again)")
        return 2
    moved = rewind(run_dir, args.restart)
    say(f"run {run_dir.name} rewound to the start of restart {args.restart}", to_err=True)
    if moved:
        say(
            f"{moved} LLM calls made after that point moved from {CALLS_FILE} to {REWOUND_CALLS_FILE}",
            to_err=True,
        )
    say(f"resume with: promptclimb resume {run_dir}", to_err=True)
    return 0


def step(restart: int, iteration: int) -> str:
    """Where a template came from, numbered as the progress shows it: restart 1 is the first."""
    return f"r{restart + 1}.i{iteration}"


def print_summary(summary: dict[str, Any], limit: int | None = None) -> None:
    rows = summary["leaderboard"][:limit] if limit else summary["leaderboard"]
    cells = [
        [i, row["template"], pct(row["train_acc"]), pct(row.get("val_acc")),
         row["source"] if row["source"] == "pool" else step(row["restart"], row["iteration"])]
        for i, row in enumerate(rows, 1)
    ]  # fmt: skip
    title = f"{summary['run_id']}  [{summary['status']}]"
    out.print(table(title, ["#", "template", "train", "val", "source"], cells))
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
        for name, acc in final["baselines"].items():
            say(f"baseline {name}: test {pct(acc)}")


def cmd_show(args: argparse.Namespace) -> int:
    from promptclimb.cli.t2i import show_t2i
    from promptclimb.graph.runs import find_run
    from promptclimb.graph.t2i.session import is_t2i_run
    from promptclimb.results.summary import summarize

    run_dir = find_run(args.run, Path(args.runs_dir))
    if is_t2i_run(run_dir):
        return show_t2i(run_dir, args.json)
    summary = summarize(run_dir)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print_summary(summary)
    if summary["rejections"]:
        say(f"rejected proposals ({len(summary['rejections'])}):")
        for r in summary["rejections"][-10:]:
            say(f"  {step(r['restart'], r['iteration'])} {r['text']!r}: {r['reason']}")
    return 0


def list_rows(runs_dir: Path) -> list[dict[str, Any]]:
    """One record per run: what `list` prints, and `list --json` gives as is."""
    from promptclimb.cli.t2i import list_row
    from promptclimb.graph.checkpoint import CheckpointError
    from promptclimb.graph.runs import list_runs
    from promptclimb.graph.t2i.session import is_t2i_run
    from promptclimb.results.summary import summarize

    rows = []
    for run_dir in list_runs(runs_dir):
        try:
            if is_t2i_run(run_dir):
                rows.append(list_row(run_dir))
                continue
            s = summarize(run_dir)
        except CheckpointError as failure:  # one damaged or crafted run must not hide the others
            warn(str(failure))
            rows.append({"run_id": run_dir.name, "run_dir": str(run_dir), "kind": "-", "status": "unreadable",
                         "iterations_done": None, "best": None, "test": None})  # fmt: skip
            continue
        rows.append(
            {
                "run_id": run_dir.name,
                "run_dir": str(run_dir),
                "kind": "classify",
                "status": s["status"],
                "iterations_done": s["iterations_done"],
                "best": s["leaderboard"][0]["train_acc"] if s["leaderboard"] else None,
                "test": s["final"]["test_acc"] if s["final"] else None,
            }
        )
    return rows


def cmd_list(args: argparse.Namespace) -> int:
    rows = list_rows(Path(args.runs_dir))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0

    def score(row: dict[str, Any], key: str) -> str:  # accuracies as percentages, t2i scores as 0..1
        return pct(row[key]) if row["kind"] == "classify" or row[key] is None else f"{row[key]:.3f}"

    cells = [
        [r["run_id"], r["kind"], r["status"], r["iterations_done"], score(r, "best"), score(r, "test")]
        for r in rows
    ]
    out.print(
        table(f"runs in {args.runs_dir}", ["run", "kind", "status", "iterations", "best", "test"], cells)
    )
    return 0


def add_score_command(sub: argparse._SubParsersAction) -> None:
    score = sub.add_parser("score", help="score prompt templates directly (same caches as runs)")
    score.add_argument("templates", nargs="*", metavar="TEMPLATE", help='e.g. "a photo of a {}."')
    score.add_argument("--templates", dest="templates_file", help="a file with one template per line")
    score.add_argument("--data", required=True, help="dataset directory (image folders, CoOp layout, ...)")
    score.add_argument("--layout", default="auto", help="auto | folders | flat | named | coop | csv")
    score.add_argument("--coop-name", help="CoOp dataset name when --layout coop cannot guess it")
    add_draw_options(score)
    score.add_argument("--clip", default=DEFAULT_CLIP, help="Hugging Face id or local directory")
    score.add_argument(
        "--scorer",
        help="scorer spec: hf:, siglip:, openai:, open_clip:, text: or a plugin (default: hf:--clip)",
    )
    score.add_argument("--text-column", help="CSV text datasets: the text column (default: found by name)")
    score.add_argument("--label-column", help="CSV text datasets: the label column (default: found by name)")
    score.add_argument("--precision", default="auto", help="auto | fp32 | bf16 | fp16")
    score.add_argument("--device", help="cuda | mps | cpu (default: best available)")
    score.add_argument("--shots", type=int, default=1, help="images per class in the training split")
    score.add_argument("--seed", type=int, default=1, help="few-shot sampling seed")
    score.add_argument("--split", default="train", choices=["train", "val", "test"], help="split to score on")
    score.add_argument(
        "--cache-dir", help="feature cache (default $PROMPTCLIMB_CACHE or ~/.cache/promptclimb)"
    )
    score.add_argument(
        "--baselines", action="store_true", help='add "a photo of a {}." and the hand-made ensemble'
    )
    score.add_argument("--json", action="store_true", help="print the rows as JSON")


def score_rows(scorer: ClipScorer, templates: list[str], split: str, baselines: bool) -> list[dict[str, Any]]:
    from promptclimb.nodes.finalize import PHOTO_BASELINE
    from promptclimb.prompts.pools import handmade_templates

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
    from promptclimb.evaluators.classify.data import DataError
    from promptclimb.evaluators.classify.scorer import ClipScorer, default_cache_dir
    from promptclimb.graph.session import load_data, open_scorer_model
    from promptclimb.prompts.pools import load_pool
    from promptclimb.prompts.template import TemplateError, validate

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
    scorer = ClipScorer(backbone, dataset, args.cache_dir or default_cache_dir())
    rows = score_rows(scorer, templates, args.split, args.baselines)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    title = f"{dataset.name}, {args.split} split, {rows[0]['n_images']} images"
    cells = [[row["template"], pct(row["accuracy"]), f"{row['seconds']:.2f}"] for row in rows]
    out.print(table(title, ["template", "accuracy", "seconds"], cells))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from promptclimb.llm.models import list_models

    cells, missing = [], []
    for m in list_models(verify=args.verify):
        sha = {True: "ok", False: "MISMATCH", None: "-"}[m["sha256_ok"]]
        installed = "yes" if m["installed"] else "no"
        cells.append([m["name"], installed, sha, f"{m['size_bytes'] / 1e6:.0f} MB", m["licence"]])
        if not m["installed"]:
            missing.append(f"{m['name']}: {m['install']}")
    title = "embedded LLMs (--llm local:NAME; default local:qwen2.5-coder-1.5b)"
    out.print(table(title, ["name", "installed", "sha256", "size", "licence"], cells))
    for line in missing:
        say(line)
    print_openai_checkpoints(args.verify)
    return 0


def print_openai_checkpoints(verify: bool) -> None:
    """OpenAI's CLIP checkpoints: the spec that loads each, and whether its file is here (downloaded on first
    use otherwise)."""
    from promptclimb.evaluators.classify.openai_clip import available, expected_sha256, file_sha256

    cells = []
    for row in available():
        sha = "-"
        if verify and row["cached"]:
            sha = "ok" if file_sha256(Path(row["path"])) == expected_sha256(row["name"]) else "MISMATCH"
        cells.append(
            [row["spec"], "yes" if row["cached"] else "no", sha, row["path"] or "(downloads on first use)"]
        )
    title = "OpenAI CLIP checkpoints, torch only (--scorer SPEC; bench suites: clips = [SPEC])"
    out.print(table(title, ["spec", "here", "sha256", "file"], cells))


COMMANDS = {
    "run": cmd_run,
    "resume": cmd_resume,
    "show": cmd_show,
    "list": cmd_list,
    "rewind": cmd_rewind,
    "score": cmd_score,
    "models": cmd_models,
}


def choose_store(url: str | None) -> None:
    """--checkpoints for this command (each call of main starts from the environment's choice again)."""
    if url is None and "promptclimb.graph.checkpoint" not in sys.modules:
        return  # nothing chosen before, nothing to undo: LangGraph stays unloaded for light commands
    from promptclimb.graph.checkpoint import use_store

    use_store(url)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    setup_logging(debug=args.debug)
    try:
        choose_store(getattr(args, "checkpoints", None))
        return COMMANDS[args.command](args)
    except user_errors() as exc:
        if args.debug:
            say(traceback.format_exc().rstrip(), to_err=True)
        error(one_line(exc))
        return 2


if __name__ == "__main__":
    sys.exit(main())
