"""Subcommands about results: report, export, transfer, replay, bench (wired into cli/main.py).

Printing goes through cli/console.py (outside text is never markup); heavy modules load inside handlers.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    from promptclimb.results.export import export

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


def print_suite_tables(suite: Any, rows: list[Any]) -> None:
    from promptclimb.results.suite_tables import published_tables, table_keys, tables

    for (shots, clip), (title, header, body) in zip(table_keys(suite), tables(suite, rows), strict=True):
        out.print(table(title, header, body, right_from=1))
        for published_title, published_header, published_body in published_tables(suite, shots, clip):
            out.print(table(published_title, published_header, published_body, right_from=1))


def cmd_bench(args: argparse.Namespace) -> int:
    from promptclimb.results.suite import SuiteError, cells, load_suite
    from promptclimb.results.suite_tables import write_results
    from promptclimb.session.cells import run_suite

    suite = load_suite(Path(args.suite))
    runs_dir = Path(args.runs_dir)
    if args.table_only:
        results = write_results(suite, runs_dir)
        print_suite_tables(suite, results.rows)
        say(f"wrote {results.markdown} and {results.csv}")
        return 0
    grid = cells(suite, runs_dir / suite.name)
    jobs = min(args.jobs, len(grid))
    at_once = f", {jobs} at a time" if jobs > 1 else ""
    say(f"suite {suite.name}: {len(grid)} cells in {runs_dir / suite.name}{at_once}", to_err=True)
    if args.ray is not None:
        if args.jobs > 1:
            raise SuiteError("--jobs and --ray do not go together: Ray schedules the cells itself")
        return bench_on_ray(args, suite, runs_dir, len(grid))

    def announce(cell: Any, k: int, total: int) -> None:
        say(f"[{k + 1}/{total}] {cell.id}", to_err=True)

    interrupted = False
    problems = 0
    try:
        for outcome in run_suite(suite, runs_dir, on_cell=announce, jobs=jobs):
            # With several cells in flight the outcome line names its cell; alone, it follows the announce.
            label = f"  {outcome.cell.id}: " if jobs > 1 else "  "
            if outcome.skipped:
                say(f"{label}finished earlier: skipped", to_err=True)
            elif outcome.status != "finished":
                problems += 1
                say(f"{label}{outcome.status}: {outcome.reason}", to_err=True)
            elif jobs > 1:
                say(f"{label}finished", to_err=True)
    except KeyboardInterrupt:
        interrupted = True
    return bench_ended(suite, runs_dir, interrupted, problems, f"promptclimb bench {args.suite}")


def bench_ended(suite: Any, runs_dir: Path, interrupted: bool, problems: int, again: str) -> int:
    """The tables of whatever finished, and the exit status of a bench invocation."""
    from promptclimb.results.suite_tables import write_results

    results = write_results(suite, runs_dir)
    print_suite_tables(suite, results.rows)
    say(f"wrote {results.markdown} and {results.csv}")
    if interrupted:
        say(f"interrupted: run `{again}` again to resume", to_err=True)
        return 130
    return 3 if problems else 0


def bench_on_ray(args: argparse.Namespace, suite: Any, runs_dir: Path, total: int) -> int:
    """The cells as Ray tasks (session/distributed.py): one progress line per cell as it finishes."""
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
    interrupted, problems, done = False, 0, 0
    try:
        for outcome in run_suite_on_ray(suite, runs_dir, options):
            done += 1
            problems += outcome.status != "finished"
            what = "finished earlier: skipped" if outcome.skipped else outcome.status
            reason = f" ({outcome.reason})" if outcome.reason and outcome.status != "finished" else ""
            say(f"[{done}/{total}] {outcome.cell.id}: {what}{reason}", to_err=True)
    except KeyboardInterrupt:
        interrupted = True
    return bench_ended(suite, runs_dir, interrupted, problems, f"promptclimb bench {args.suite} --ray")


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

    return {
        "report": writes_in_run(cmd_report),
        "export": writes_in_run(cmd_export),
        "transfer": cmd_transfer,
        "replay": cmd_replay,
        "bench": cmd_bench,
    }
