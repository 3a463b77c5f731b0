"""The promptclimb command line: the only place that prints. It parses and prints; the session layer
(promptclimb.session) owns each run's life."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import promptclimb
from promptclimb.cli.argparser import Parser
from promptclimb.cli.console import error, one_line, out, say, setup_logging, table, warn
from promptclimb.cli.options import field_option, field_options
from promptclimb.cli.results import add_commands as add_results_commands
from promptclimb.cli.t2i import add_commands as add_t2i_commands
from promptclimb.cli.views import drive_to_end, pct, show_summary, step
from promptclimb.errors import UserError
from promptclimb.graph.config import LIU2024_DEFAULTS, RunConfig
from promptclimb.graph.diagrams import DIAGRAMS

# Only light modules are imported above, so `--help` and `--version` answer at once: torch, transformers,
# LangChain and LangGraph load inside the commands that need them (tests/test_cli_console.py checks it).
if TYPE_CHECKING:
    from promptclimb.session.consent import Trust

DESCRIPTION = (
    "A chat LLM optimizes the prompt templates of CLIP-like models from their accuracy alone. "
    "`promptclimb COMMAND --help` lists a command's options."
)
RUN_HELP = "run id (under --runs-dir) or run directory"
# What a run and the score command take from RunConfig (cli/options.py: flag, type, default and help).
RUN_OPTIONS = tuple(RunConfig.model_fields)
DATA_OPTIONS = ("data", "layout", "coop_name", "class_names", "sampler", "shots", "seed")
SCORER_OPTIONS = ("clip", "scorer", "text_column", "label_column", "precision", "device", "cache_dir")


def user_errors() -> tuple[type[BaseException], ...]:
    """Bad input: a one-line message and exit status 2, nothing created or lost (an OSError: a file a run
    directory made a directory, a link loop, a disk that refuses; --debug shows where)."""
    from pydantic import ValidationError

    return (UserError, ValidationError, OSError)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default, unless it is a switch or its help already names it;
    descriptions and examples keep their lines."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if not action.option_strings or action.nargs == 0 or action.required or default is argparse.SUPPRESS:
            return text
        if "default:" in text or "(default" in text:
            return text
        return f"{text} (default: {'none' if default is None else '%(default)s'})"

    def _format_action(self, action: argparse.Action) -> str:
        if isinstance(action, CommandList):  # a heading's commands, at the options' indentation
            return "".join(super(HelpFormatter, self)._format_action(a) for a in action.commands)
        return super()._format_action(action)


class CommandList(argparse.Action):
    """The commands listed under one heading of the top-level help; it parses nothing."""

    def __init__(self, commands: list[argparse.Action]) -> None:
        super().__init__(option_strings=[], dest=argparse.SUPPRESS, help="")
        self.commands = commands

    def _get_subactions(self) -> list[argparse.Action]:  # argparse's hook: aligns their help columns
        return self.commands


# `run --help` in groups; a RunConfig field no group names is listed under "other options".
# fmt: off
RUN_GROUPS: dict[str, tuple[str, ...]] = {
    "data": (*DATA_OPTIONS, "text_column", "label_column", "task"),
    "scorer": ("scorer", "clip", "precision", "device", "cache_dir"),
    "LLM": ("llm", "llm_base_url", "llm_api_key_env", "temperature", "llm_rpm", "llm_tpm"),
    "search": (
        "meta", "space", "pool", "pool_size", "iterations", "restarts", "parallel_restarts", "proposals",
        "top_k", "bottom_k", "feedback", "shown", "examples", "history_turns", "class_batch", "per_class",
        "class_words", "input_texts", "adopt", "seed_baselines",
    ),
    "selection": ("select_on", "tie_break", "ensemble_size"),
    "budget and stopping": ("max_llm_calls", "max_cost", "patience", "max_unusable_steps"),
    "storage and output": ("track",),  # and --runs-dir, --checkpoints, --debug, --dry-run (add_run_options)
}
# fmt: on
STORAGE = "storage and output"
RUN_EXAMPLES = """examples:
  promptclimb run --data examples/clothing-mini --shots 4 --llm openai:gpt-4o-mini --max-cost 0.50
  promptclimb run --data DIR --meta liu2024 --llm openai:gpt-4o-mini --seed 2    # Liu et al.'s loop
  promptclimb run --data banking77 --scorer text:all-MiniLM-L6-v2 --iterations 5 --dry-run   # CSV texts
"""
# The top-level help's headings: the commands registered by cli/results.py and cli/t2i.py get their own.
RESULTS_HEADING = "results and benchmarks"
T2I_HEADING = "text-to-image (resume, show and list serve these runs too; docs/t2i.md)"


def parser() -> argparse.ArgumentParser:
    root = Parser(prog="promptclimb", description=DESCRIPTION, formatter_class=HelpFormatter)
    root.add_argument("--version", action="version", version=f"promptclimb {promptclimb.__version__}")
    add_shared_options(root, command=False)
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser(
        "run",
        help="start an optimization run",
        usage="%(prog)s --data DIR [options]",
        description="Start an optimization run.",
        epilog=RUN_EXAMPLES,
    )
    add_run_options(run)
    add_resume_command(sub)
    show = sub.add_parser("show", help="status, leaderboard, history and counts of a run")
    show.add_argument("run", help=RUN_HELP)
    show.add_argument("--json", action="store_true", help="the documented JSON (README: the contract)")
    runs = sub.add_parser("list", help="all runs with status and best score")
    runs.add_argument("--json", action="store_true", help="one JSON object per run, in a list")
    rewind = sub.add_parser("rewind", help="go back to an earlier iteration or restart (then resume)")
    rewind.add_argument("run", help=RUN_HELP)
    point = rewind.add_mutually_exclusive_group(required=True)
    point.add_argument(
        "--to", type=int, metavar="N", help="back to just after the run's N-th LLM iteration (0: the pool)"
    )
    point.add_argument("--restart", type=int, help="restart to start again, numbered from 1 as shown")
    point.add_argument("--list", action="store_true", help="the points --to takes, with their scores")
    add_trust_plugin(rewind)
    add_score_command(sub)
    models = sub.add_parser(
        "models",
        help="the embedded LLMs and OpenAI CLIP checkpoints (--scorer openai:NAME), and which are here",
    )
    models.add_argument("--verify", action="store_true", help="check the sha256 of installed model files")
    drawing = sub.add_parser(
        "graph", help="the Mermaid diagrams of the classification and text-to-image graphs"
    )
    drawing.add_argument(
        "name",
        nargs="?",
        choices=list(DIAGRAMS),
        help="print only this graph's Mermaid (default: every graph, as Markdown with its title)",
    )
    t2i_commands = add_t2i_commands(sub)  # t2i, invert, personalize, t2i-report (cli/t2i.py)
    results_commands = add_results_commands(sub)  # report, export, transfer, replay, bench (cli/results.py)
    COMMANDS.update(t2i_commands)
    COMMANDS.update(results_commands)
    for command in sub.choices.values():  # `promptclimb run --runs-dir X` works as well as before `run`
        command.formatter_class = HelpFormatter
        if "--runs-dir" not in command._option_string_actions:  # run shows them in its own group
            add_shared_options(command, command=True, hidden=True)
    headings = {RESULTS_HEADING: results_commands, T2I_HEADING: t2i_commands}
    add_headings(root, sub, headings)
    return root


def add_shared_options(p: argparse._ActionsContainer, *, command: bool, hidden: bool = False) -> None:
    """Options of every command, given before it or after it (``command``): after it, they replace the
    earlier ones only when given."""
    unless = lambda default: argparse.SUPPRESS if command else default  # noqa: E731
    help_of = lambda text: argparse.SUPPRESS if hidden else text  # noqa: E731
    p.add_argument("--runs-dir", default=unless("runs"), help=help_of("where runs live (default ./runs)"))
    p.add_argument(
        "--checkpoints",
        default=unless(None),
        help=help_of(
            "where new runs keep their checkpoints: sqlite (in the run directory) or a postgresql:// URL "
            "shared by workers; also how a run on PostgreSQL is reached "
            "(default: $PROMPTCLIMB_CHECKPOINTS, else sqlite)"
        ),
    )
    p.add_argument(
        "--debug",
        action="store_true",
        default=unless(False),
        help=help_of("also print failures' tracebacks (run.log has them)"),
    )


def add_run_options(run: argparse.ArgumentParser) -> None:
    """RunConfig's fields as run's options, in RUN_GROUPS, then where the run goes."""
    grouped = {name for names in RUN_GROUPS.values() for name in names}
    others = tuple(name for name in RUN_OPTIONS if name not in grouped)
    for title, names in {**RUN_GROUPS, "other options": others}.items():
        if not names and title != STORAGE:
            continue
        group = run.add_argument_group(title)
        for name in names:
            add_run_option(group, name)
        if title == STORAGE:
            add_shared_options(group, command=True)
            group.add_argument(
                "--dry-run", action="store_true", help="print the planned LLM calls, evaluations and cost"
            )


def add_run_option(group: argparse._ArgumentGroup, name: str) -> None:
    # Options --meta liu2024 sets when the user does not (graph/config.py): None unless given, so its
    # defaults can apply; the help still names the ordinary default.
    if name == "space":  # None unless given: its default depends on --meta (graph/config.py)
        field_option(group, RunConfig, name, default=False)
    elif name in LIU2024_DEFAULTS:
        default = RunConfig.model_fields[name].default
        described = RunConfig.model_fields[name].description
        shown = "none" if default is None else default
        help_text = f"{described} (default: {shown}; liu2024: {LIU2024_DEFAULTS[name]})"
        field_option(group, RunConfig, name, default=False, help=help_text)
    else:
        field_option(group, RunConfig, name)


def add_headings(root: argparse.ArgumentParser, sub: argparse._SubParsersAction, headings: dict) -> None:
    """The top-level help lists the commands under headings: the run commands, then each group of
    ``headings`` (heading -> the commands a cli module registered)."""
    listed = dict(zip(sub.choices, sub._choices_actions, strict=True))
    rest = [action for name, action in listed.items() if not any(name in h for h in headings.values())]
    sections = {"commands": rest, **{title: [listed[n] for n in names] for title, names in headings.items()}}
    for title, commands in sections.items():
        group = root.add_argument_group(title)
        group._group_actions.append(CommandList(commands))
    root._positionals._group_actions.remove(sub)  # listed under the headings instead of "COMMAND"


def add_trust_plugin(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--trust-run-plugin",
        action="store_true",
        help="load the scorer plugin or checkpoint file the run's config.json names",
    )


def add_resume_command(sub: argparse._SubParsersAction) -> None:
    """Raise a budget, point a resumed run at a moved server, and consent to what its config.json chose."""
    resume = sub.add_parser("resume", help="continue a paused, killed or failed run")
    resume.add_argument("run", help=RUN_HELP)
    resume.add_argument(
        "--data", help="the run's dataset at a new place (checked: the same classes, sizes and drawn items)"
    )
    resume.add_argument("--max-llm-calls", type=int, help="raise the LLM call budget")
    resume.add_argument("--max-cost", type=float, help="raise the cost budget")
    resume.add_argument("--max-images", type=int, help="raise the image budget (text-to-image runs)")
    resume.add_argument("--llm", help="another provider:model for the rest of the run")
    resume.add_argument("--llm-base-url", help="the OpenAI-compatible server to use from now on")
    resume.add_argument("--llm-api-key-env", help="environment variable holding that server's API key")
    field_options(resume, RunConfig, ("llm_rpm", "llm_tpm", "track"), default=False)
    for option in ("--generator-base-url", "--generator-api-key-env"):
        resume.add_argument(option, help="text-to-image runs: use this from now on instead of the run's own")
    resume.add_argument(
        "--trust-run-llm",
        action="store_true",
        help="send keys to the servers and key variables the run's config.json names",
    )
    resume.add_argument(
        "--trust-run-plugin", action="store_true", help="import the plugin the run's config.json names"
    )


def trust(args: argparse.Namespace) -> Trust:
    from promptclimb.session.consent import Trust

    return Trust(llm=getattr(args, "trust_run_llm", False), plugin=getattr(args, "trust_run_plugin", False))


def config_from_args(args: argparse.Namespace) -> RunConfig:
    fields = {k: v for k, v in vars(args).items() if k in RunConfig.model_fields and v is not None}
    return RunConfig(**fields)


def cmd_run(args: argparse.Namespace) -> int:
    config = config_from_args(args)  # bad values are refused before the heavy modules below load
    from promptclimb.session import lifecycle
    from promptclimb.session.kinds import CLASSIFY
    from promptclimb.session.planning import plan_classify

    if args.dry_run:
        print(json.dumps(plan_classify(config), indent=2))
        return 0
    with lifecycle.start(CLASSIFY, config, Path(args.runs_dir)) as session:
        return drive_to_end(session, announce=True)


def cmd_resume(args: argparse.Namespace) -> int:
    from promptclimb.graph.runs import find_run
    from promptclimb.session import lifecycle

    run_dir = find_run(args.run, Path(args.runs_dir))
    if not lifecycle.ready_to_resume(run_dir):  # refuses before loading any model
        say(f"run {run_dir.name} is already finished; see: promptclimb show {run_dir}")
        return 0
    with lifecycle.resume(run_dir, vars(args), trust(args)) as session:
        return drive_to_end(session)


def cmd_rewind(args: argparse.Namespace) -> int:
    from promptclimb.session.readback import CALLS_FILE, REWOUND_CALLS_FILE, rewind_points, rewind_run

    if args.list:
        run_dir, points = rewind_points(args.run, Path(args.runs_dir), trust(args))
        cells = [[p.iterations, p.label(), pct(p.best), p.llm_calls] for p in points]
        columns = ["N", "step", "best selection", "LLM calls"]
        out.print(table(f"rewind --to N: run {run_dir.name}", columns, cells))
        return 0
    run_dir, moved = rewind_run(args.run, Path(args.runs_dir), args.restart, trust(args), to=args.to)
    where = f"after iteration {args.to}" if args.to is not None else f"to the start of restart {args.restart}"
    say(f"run {run_dir.name} rewound {where}", to_err=True)
    if moved:
        say(
            f"{moved} LLM calls made after that point moved from {CALLS_FILE} to {REWOUND_CALLS_FILE}",
            to_err=True,
        )
    say(f"resume with: promptclimb resume {run_dir}", to_err=True)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from promptclimb.graph.runs import find_run
    from promptclimb.session.readback import read_run

    kind, summary = read_run(find_run(args.run, Path(args.runs_dir)))
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    show_summary(kind, summary)
    if kind == "classify" and summary["rejections"]:
        say(f"rejected proposals ({len(summary['rejections'])}):")
        for r in summary["rejections"][-10:]:
            say(f"  {step(r['restart'], r['iteration'])} {r['text']!r}: {r['reason']}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from promptclimb.session.readback import list_rows

    rows, warnings = list_rows(Path(args.runs_dir))
    for line in warnings:
        warn(line)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0

    def score(row: dict[str, Any], key: str) -> str:  # accuracies as percentages, t2i scores as 0..1
        return pct(row[key]) if row["kind"].startswith("classify") or row[key] is None else f"{row[key]:.3f}"

    cells = [
        [r["run_id"], r["kind"], r["status"], r["iterations_done"], score(r, "best"), score(r, "test")]
        for r in rows
    ]
    say(f"runs in {args.runs_dir}")  # a line of its own: a table's title is cut to the table's width
    # best: the selected template's selection score, the leaderboard's ranking score (show's first column)
    out.print(table("", ["run", "kind", "status", "iterations", "best (selection)", "test"], cells))
    return 0


def add_score_command(sub: argparse._SubParsersAction) -> None:
    score = sub.add_parser("score", help="score prompt templates directly (same caches as runs)")
    score.add_argument("templates", nargs="*", metavar="TEMPLATE", help='e.g. "a photo of a {}."')
    score.add_argument("--templates", dest="templates_file", help="a file with one template per line")
    score.add_argument(
        "--class-prompts",
        help="a class-prompt file (export's class_prompts.json): its class-specific classifier is scored too",
    )
    field_options(score, RunConfig, (*DATA_OPTIONS, *SCORER_OPTIONS))
    score.add_argument("--split", default="train", choices=["train", "val", "test"], help="split to score on")
    score.add_argument(
        "--baselines", action="store_true", help='add "a photo of a {}." and the hand-made ensemble'
    )
    score.add_argument("--json", action="store_true", help="print the rows as JSON")


def cmd_score(args: argparse.Namespace) -> int:
    from promptclimb.session.scoring import score_prompts

    config = RunConfig.model_validate({k: v for k, v in vars(args).items() if k in RunConfig.model_fields})
    name, rows = score_prompts(
        config, args.templates, args.templates_file, args.class_prompts, args.split, args.baselines
    )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    title = f"{name}, {args.split} split, {rows[0]['n_images']} images"
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


def cmd_graph(args: argparse.Namespace) -> int:
    from promptclimb.graph.diagrams import mermaid

    if args.name:
        print(mermaid(args.name), end="")
        return 0
    for name, about in DIAGRAMS.items():
        print(f"## {name}: {about}\n\n```mermaid\n{mermaid(name)}```\n")
    return 0


COMMANDS = {
    "run": cmd_run,
    "resume": cmd_resume,
    "show": cmd_show,
    "list": cmd_list,
    "rewind": cmd_rewind,
    "score": cmd_score,
    "models": cmd_models,
    "graph": cmd_graph,
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
