"""Subcommands about results: report, export, transfer, replay, bench (wired into cli/main.py; bench's
handler is cli/bench.py).

Printing goes through cli/console.py (outside text is never markup); heavy modules load inside handlers.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from pathlib import Path

from promptclimb.cli.bench import cmd_bench
from promptclimb.cli.console import error, out, say, table, warn
from promptclimb.cli.unwritable import unwritable

Handler = Callable[[argparse.Namespace], int]
RUN_HELP = "run id (under --runs-dir) or run directory"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def writes_in_run(handler: Handler) -> Handler:
    """A command that writes into the run directory: an unwritable one (a read-only disk, another user's
    files) is one line naming the file and the way out, not a traceback."""

    @functools.wraps(handler)
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except OSError as exc:
            way_out = "give --out DIR" if "out" in args else "copy the run to a directory you can write"
            message = unwritable(exc, way_out)
            if message is None:
                raise
            error(message)
            return 2

    return wrapped


def _run_dir(args: argparse.Namespace) -> Path:
    """The classification run to rebuild from its files, past the same consent gate as ``resume``."""
    from promptclimb.session.consent import Trust
    from promptclimb.session.readback import open_for_reading

    trust = Trust(plugin=args.trust_run_plugin)
    return open_for_reading(args.run, Path(args.runs_dir), args.command, trust)


# ---------------------------------------------------------------------------------------- report


def cmd_report(args: argparse.Namespace) -> int:
    from promptclimb.results.report import write_report

    report = write_report(_run_dir(args))
    numbers = report.numbers
    if "reported" in numbers:
        reported = numbers["reported"]
        say(f"reported classifier ({reported['name']}): test {_pct(reported['test_acc'])} "
            f"(n = {numbers['n'].get('test', '?')} {numbers['inputs']})")  # fmt: skip
    say(f"wrote {report.markdown}")
    say(f"wrote {report.html} (self-contained)")
    for plot in report.plots:
        say(f"wrote {plot}")
    return 0


# ---------------------------------------------------------------------------------------- export


def cmd_export(args: argparse.Namespace) -> int:
    from promptclimb.results.export import CLASS_PROMPTS_FILE, export

    result = export(
        _run_dir(args),
        clip=args.clip,
        out_dir=Path(args.out) if args.out else None,
        device=args.device,
        precision=args.precision,
    )
    # A scorer without weights was already announced by the loader's warning (printed once by the CLI).
    what = result.classifier or f"{len(result.templates)} templates"
    say(f"{len(result.classnames)} classes x {result.dim} dims, {what}, scorer {result.clip}")
    say(f"wrote {result.templates_path}")
    if result.classifier:  # the per-class texts that `score --class-prompts` and `transfer` read
        say(f"wrote {result.templates_path.parent / CLASS_PROMPTS_FILE}")
    say(f"wrote {result.head_path}")
    say("load it: see docs/export.md")
    return 0


# -------------------------------------------------------------------------------------- transfer


def cmd_transfer(args: argparse.Namespace) -> int:
    from promptclimb.results.transfer import TRANSFER_FILE, transfer

    run_dir = _run_dir(args)
    # CLIPs without weights are announced by the loader's warning, once each (cli/console.py).
    record = transfer(run_dir, args.clip, top=args.top, device=args.device, precision=args.precision)
    splits = record["splits"]
    n = ", ".join(f"{s} n = {record['n'][s]}" for s in splits)
    columns = ["", "template", *(f"{role} {split}" for role in ("source", "target") for split in splits)]
    cells = []
    for row in record["rows"]:
        what = row["templates"][0] if len(row["templates"]) == 1 else f"{len(row['templates'])} templates"
        accs = [_pct(row[role][split]["acc"]) for role in ("source", "target") for split in splits]
        cells.append([row["name"], what, *accs])
    title = f"transfer {record['source_clip']} -> {record['target_clip']} ({n})"
    out.print(table(title, columns, cells, right_from=2))
    say(f"wrote {run_dir / TRANSFER_FILE}; test-split access logged in {run_dir / 'run.log'}")
    return 0


# ---------------------------------------------------------------------------------------- replay


def cmd_replay(args: argparse.Namespace) -> int:
    from promptclimb.session.consent import Trust
    from promptclimb.session.replay import replay

    run_dir = _run_dir(args)
    say(f"replaying {run_dir.name} (no LLM call: stored replies, cached features)", to_err=True)
    result = replay(run_dir, trust=Trust(plugin=args.trust_run_plugin))
    for line in result.warnings:
        warn(line)
    say(f"replay in {result.replay}: {result.status}, {result.replies} stored replies")
    if result.identical:
        say("leaderboard reproduced exactly: same templates, same accuracies, same order")
    else:
        say("leaderboard differs from the original:", style="bold red")
        for line in result.differences:
            say(f"  {line}")
    if not result.log_matched:
        warn("the call log did not match the run's call count (a killed attempt?): orphans were guessed")
    if result.final_identical is not None:
        say(f"final results {'identical' if result.final_identical else 'DIFFER'}")
    return 0 if result.identical and result.final_identical is not False else 1


# ----------------------------------------------------------------------------------------- bench


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


# ------------------------------------------------------------------------------------------ wiring


def add_trust_plugin(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--trust-run-plugin",
        action="store_true",
        help="load the scorer plugin or checkpoint file the run's config.json names",
    )


def add_commands(sub: argparse._SubParsersAction) -> dict[str, Handler]:
    report = sub.add_parser("report", help="report.md, report.html and plots of a run (in its directory)")
    report.add_argument("run", help=RUN_HELP)
    add_trust_plugin(report)

    export = sub.add_parser("export", help="the selected templates and a zero-shot classifier head")
    export.add_argument("run", help=RUN_HELP)
    add_trust_plugin(export)
    export.add_argument("--clip", help="CLIP to build the head for (default: the run's)")
    export.add_argument("--out", help="output directory (default RUN/export)")
    export.add_argument("--device", help="cuda | mps | cpu (default: the run's, else best available)")
    export.add_argument("--precision", help="auto | fp32 | bf16 | fp16 (default: the run's)")

    transfer = sub.add_parser("transfer", help="score the run's top templates with another CLIP (reads test)")
    transfer.add_argument("run", help=RUN_HELP)
    add_trust_plugin(transfer)
    transfer.add_argument("--clip", required=True, help="the other CLIP: Hugging Face id or local directory")
    transfer.add_argument("--top", type=int, help="how many top templates (default: the run's ensemble)")
    transfer.add_argument("--device", help="cuda | mps | cpu (default: the run's, else best available)")
    transfer.add_argument("--precision", help="auto | fp32 | bf16 | fp16 (default: the run's)")

    replay = sub.add_parser(
        "replay", help="re-run a run from its stored LLM replies (no LLM call) and compare"
    )
    replay.add_argument("run", help=RUN_HELP)
    add_trust_plugin(replay)

    bench = sub.add_parser("bench", help="run a benchmark suite (datasets x shots x seeds x CLIPs x methods)")
    bench.add_argument("suite", help="suite file (TOML), e.g. suites/tiny.toml")
    bench.add_argument("--table-only", action="store_true", help="only rebuild the table from finished cells")
    bench.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        metavar="N",
        help="run N cells at once, sharing the loaded models (default 1: one after the other)",
    )
    bench.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="run the cells as Ray tasks: on a new local Ray cluster, or on the cluster at ADDRESS "
        "(HOST:PORT, ray://HOST:PORT or auto); the runs directory must be shared storage (README)",
    )
    bench.add_argument(
        "--ray-gpus",
        type=float,
        default=0.25,
        metavar="N",
        help="GPUs each CUDA cell reserves on Ray (default 0.25: four cells share a GPU)",
    )
    bench.add_argument(
        "--ray-retries", type=int, default=3, metavar="N", help="times a cell is retried when its worker dies"
    )
    bench.add_argument("--latex", action="store_true", help="also write suite.tex (booktabs, best bold)")
    bench.add_argument(
        "--baseline",
        metavar="METHOD",
        help="a method of the suite (e.g. zero-shot): add paired per-seed differences of every other method "
        "against it (suite.md, suite-paired.csv); default none",
    )

    return {
        "report": writes_in_run(cmd_report),
        "export": writes_in_run(cmd_export),
        "transfer": cmd_transfer,
        "replay": cmd_replay,
        "bench": cmd_bench,
    }
