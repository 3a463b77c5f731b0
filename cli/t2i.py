"""The text-to-image commands: ``t2i``, ``invert``, ``personalize`` and ``t2i-report``.

cli/main.py hooks them in with ``COMMANDS.update(add_commands(sub))``, and its ``resume``/``show`` hand a run
whose config.json has a text-to-image ``kind`` to ``resume_t2i`` / ``show_t2i``. Like cli/main.py, this is a
place that prints.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

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
from promptclimb.graph.t2i.state import DEFAULT_CRITIC, DEFAULT_GENERATOR, T2IConfig

# Heavy modules (diffusers, transformers, LangChain) load inside the commands, not for `--help`.
EXIT = {"finished": 0, "paused": 3, "failed": 1}
RESUME_OVERRIDES = (
    "max_llm_calls", "max_cost", "max_images",
    "llm_base_url", "llm_api_key_env", "generator_base_url", "generator_api_key_env",
)  # fmt: skip
Handler = Callable[..., int]


def user_errors() -> tuple[type[BaseException], ...]:
    from pydantic import ValidationError

    from promptclimb.evaluators.t2i.generators import GeneratorError
    from promptclimb.graph.checkpoint import CheckpointError, RunLocked
    from promptclimb.graph.runs import RunNotFound
    from promptclimb.graph.t2i.session import T2IInputError
    from promptclimb.llm.credentials import ConsentNeeded
    from promptclimb.llm.errors import BackendError

    errors: list[type[BaseException]] = [
        T2IInputError, GeneratorError, BackendError, RunNotFound, CheckpointError, RunLocked, ValidationError,
        ConsentNeeded,
    ]  # fmt: skip
    try:
        from promptclimb.evaluators.classify.clip import ModelLoadError

        errors.append(ModelLoadError)
    except ImportError:
        pass
    return tuple(errors)


def guarded(handler: Handler) -> Handler:
    """Bad input: a one-line message and exit status 2, as cli/main.py does."""

    @functools.wraps(handler)
    def run(*args: Any, **kwargs: Any) -> int:
        try:
            return handler(*args, **kwargs)
        except user_errors() as exc:
            error(one_line(exc))
            return 2

    return run


def add_common(p: argparse.ArgumentParser) -> None:
    d = T2IConfig.model_fields
    p.add_argument(
        "--generator",
        default=DEFAULT_GENERATOR,
        help="openai:dall-e-3 | openai:gpt-image-1 | diffusers:<hf id or dir> | plugin:<module>:<fn>",
    )
    p.add_argument("--generator-base-url", help="base URL of an OpenAI-compatible images server")
    p.add_argument(
        "--generator-api-key-env", help="environment variable with its key (default OPENAI_API_KEY)"
    )
    p.add_argument("--image-size", help="e.g. 1024x1024 (OpenAI) or 512x512 (diffusers)")
    p.add_argument("--image-quality", help="standard | hd (dall-e-3), low | medium | high (gpt-image-1)")
    p.add_argument("--image-price", type=float, help="USD per image, overriding the price table")
    p.add_argument("--steps", type=int, help="diffusers inference steps (default 30)")
    p.add_argument("--guidance", type=float, help="diffusers guidance scale")
    p.add_argument("--device", help="cuda | mps | cpu for diffusers and CLIP")
    p.add_argument(
        "--critic", default=DEFAULT_CRITIC, help="vision chat model provider:model (e.g. openai:gpt-4o)"
    )
    p.add_argument("--llm-base-url", help="base URL of an OpenAI-compatible chat server for the critic")
    p.add_argument("--llm-api-key-env", help="environment variable holding the critic's API key")
    p.add_argument("--temperature", type=float, default=d["temperature"].default, help="critic sampling")
    p.add_argument("--score", default="dsg", choices=["dsg", "rating", "clip"], help="what ranks the images")
    p.add_argument(
        "--clip", help="CLIP model for clip scores and subject fidelity (HF id or local directory)"
    )
    p.add_argument("--iterations", type=int, default=d["iterations"].default, help="critic iterations")
    p.add_argument("--proposals", type=int, default=d["proposals"].default, help="prompts per iteration")
    p.add_argument(
        "--initial", type=int, default=d["initial"].default, help="first prompts from the reference"
    )
    p.add_argument("--top-k", type=int, default=d["top_k"].default, help="best images shown to the critic")
    p.add_argument("--bottom-k", type=int, default=d["bottom_k"].default, help="worst images shown")
    p.add_argument("--max-words", type=int, default=d["max_words"].default, help="longest prompt accepted")
    p.add_argument("--seed", type=int, default=d["seed"].default, help="generator and LLM seed")
    p.add_argument(
        "--keep-going",
        dest="stop_when_perfect",
        action="store_false",
        default=None,
        help="go on after an image scores 100%% (dsg, rating); by default the phase ends there",
    )
    p.add_argument("--max-images", type=int, help="stop (resumable) after this many generated images")
    p.add_argument("--max-llm-calls", type=int, help="stop (resumable) after this many LLM calls")
    p.add_argument("--max-cost", type=float, help="stop (resumable) after this cost in USD (LLM + images)")
    p.add_argument("--dry-run", action="store_true", help="print the planned images, calls and image cost")


def add_commands(sub: argparse._SubParsersAction) -> dict[str, Handler]:
    t2i = sub.add_parser("t2i", help="optimize a text-to-image prompt for faithfulness to a query")
    t2i.add_argument("query", help='what the image must show, e.g. "a red cube on top of a blue sphere"')
    add_common(t2i)
    invert = sub.add_parser("invert", help="find a prompt that reproduces a reference image")
    invert.add_argument("reference", help="the reference image file")
    add_common(invert)
    personalize = sub.add_parser(
        "personalize", help="invert a reference, then put its subject in a new scene"
    )
    personalize.add_argument("reference", help="the reference image file")
    personalize.add_argument("query", help='the new scene, e.g. "the same dog, swimming in a lake"')
    add_common(personalize)
    personalize.add_argument("--invert-iterations", type=int, help="iterations of the inversion phase")
    personalize.add_argument("--subject-weight", type=float, default=0.5, help="subject fidelity vs the edit")
    report = sub.add_parser("t2i-report", help="write report.md and report.html with the images of a run")
    report.add_argument("run", help="run id (under --runs-dir) or run directory")
    return handlers()


def handlers() -> dict[str, Handler]:
    return {
        "t2i": guarded(functools.partial(cmd_start, "t2i")),
        "invert": guarded(functools.partial(cmd_start, "invert")),
        "personalize": guarded(functools.partial(cmd_start, "personalize")),
        "t2i-report": guarded(cmd_report),
    }


def config_from_args(kind: str, args: argparse.Namespace) -> T2IConfig:
    fields = {k: v for k, v in vars(args).items() if k in T2IConfig.model_fields and v is not None}
    return T2IConfig(**{**fields, "kind": kind})


def plan(config: T2IConfig) -> dict[str, Any]:
    """Upper bounds of what a run will do, and its image cost from the price table."""
    phases = ["invert", "edit"] if config.kind == "personalize" else [config.kind]
    images = calls = 0
    for phase in phases:
        first = 1 if phase == "t2i" else config.initial
        n = first + config.phase_iterations(phase) * config.proposals
        images += n
        critic = (0 if phase == "t2i" else 1) + config.phase_iterations(phase)
        scoring = n if config.score in ("dsg", "rating") else 0
        calls += critic + scoring + (1 if config.score == "dsg" else 0)
    from promptclimb.evaluators.t2i.generators import DEFAULT_QUALITY, image_price

    price = None
    kind, _, model = config.generator.partition(":")
    if config.image_price is not None:
        price = config.image_price
    elif kind == "openai":
        price = image_price(model, config.image_quality or DEFAULT_QUALITY.get(model), config.image_size)
    elif kind == "diffusers":
        price = 0.0
    return {
        "images_at_most": images,
        "llm_calls_at_least": calls,
        "price_per_image_usd": price,
        "image_cost_usd_at_most": None if price is None else round(images * price, 4),
    }


class Live:
    """Progress of the critic iterations and the best image so far, fed by the graph's node updates."""

    def __init__(self, config: T2IConfig, done: int) -> None:
        total = config.iterations + (config.phase_iterations("invert") if config.kind == "personalize" else 0)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[best]}"),
            TimeElapsedColumn(),
            console=err,
        )
        self.task = self.progress.add_task("iterations", total=total, completed=done, best="")

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


class PlainProgress:
    """Not a terminal (nohup, SLURM, CI logs): one plain line per critic iteration."""

    def __init__(self, config: T2IConfig) -> None:
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


def run_to_end(
    run_dir: Path | None, config: T2IConfig, runs_dir: Path, prepare: Callable[[], None] | None = None
) -> int:
    """Open the models first (bad input fails before a run exists), then create or continue the run."""
    from promptclimb.graph.t2i.session import (
        create_t2i_run,
        execute_t2i,
        load_t2i_config,
        make_t2i_context,
        open_t2i_models,
    )  # fmt: skip
    from promptclimb.results.t2i_report import summarize_t2i, write_report

    with open_t2i_models(config) as (generator, backend, clip):
        if clip is not None and getattr(clip, "random_weights", False):
            warn(f"{config.clip_model()} holds no weights: CLIP scores mean nothing")
        done = 0
        if run_dir is None:
            run_dir = create_t2i_run(runs_dir, config)
            say(f"run {run_dir.name} in {run_dir}", to_err=True)
            config = load_t2i_config(run_dir)
        else:
            done = summarize_t2i(run_dir)["iterations_done"]
        context = make_t2i_context(config, run_dir, generator, backend, clip)
        if err.is_terminal:
            live = Live(config, done)
            with live.progress:
                status, reason = execute_t2i(run_dir, context, live, prepare)
        else:
            status, reason = execute_t2i(run_dir, context, PlainProgress(config), prepare)
    print_summary(summarize_t2i(run_dir), limit=8)
    if status == "finished":
        md, _ = write_report(run_dir)
        say(f"report: {md}")
        return 0
    err.print(Text.assemble((status, "bold"), ": ", safe(reason)), soft_wrap=True)
    if status == "failed":
        say(f"traceback in {run_dir / 'run.log'}", to_err=True)
    say(f"resume with: promptclimb resume {run_dir}", to_err=True)
    return 130 if reason == "interrupted by the user" else EXIT[status]


def cmd_start(kind: str, args: argparse.Namespace) -> int:
    from promptclimb.graph.t2i.session import check_inputs

    config = config_from_args(kind, args)
    check_inputs(config)
    if args.dry_run:
        print(json.dumps(plan(config), indent=2))
        return 0
    return run_to_end(None, config, Path(args.runs_dir))


@guarded
def resume_t2i(run_dir: Path, args: argparse.Namespace) -> int:
    """Continue a text-to-image run (cli/main.py's ``resume`` calls this for runs with a t2i ``kind``)."""
    from promptclimb.graph.runs import save_config
    from promptclimb.graph.t2i.session import load_t2i_config

    if not ready_to_resume(run_dir):  # refuses before loading any model
        return 0
    config = load_t2i_config(run_dir)
    given = {k: getattr(args, k, None) for k in RESUME_OVERRIDES}
    given = {k: v for k, v in given.items() if v is not None}
    config = config.model_copy(update=given)
    trust = (getattr(args, "trust_run_llm", False), getattr(args, "trust_run_plugin", False))
    check_consent(config, given, *trust)
    # Saved under the run's lock: a refused concurrent resume leaves config.json as it was.
    save = (lambda: save_config(run_dir, config)) if given else None
    return run_to_end(run_dir, config, run_dir.parent, save)


def check_consent(config: T2IConfig, given: dict[str, Any], trust_llm: bool, trust_plugin: bool) -> None:
    """Keys go only where the user sent them, and only the user picks code to import (ConsentNeeded)."""
    from promptclimb.llm.credentials import endpoint_needs_consent, require_consent

    def named(base: str, key: str) -> set[str]:
        return {k for k, f in (("base_url", base), ("key_env", key)) if f in given}

    reasons = [
        endpoint_needs_consent(
            "critic", config.llm_base_url, config.llm_api_key_env, "OPENAI_API_KEY",
            named("llm_base_url", "llm_api_key_env"),
        ),
        endpoint_needs_consent(
            "generator", config.generator_base_url, config.generator_api_key_env, "OPENAI_API_KEY",
            named("generator_base_url", "generator_api_key_env"),
        ),
    ]  # fmt: skip
    if not trust_llm:
        require_consent([r for r in reasons if r], "--trust-run-llm", "give the base URLs and key variables")
    if config.generator.startswith("plugin:") and not trust_plugin:
        require_consent(
            [f"generator {config.generator} would be imported and run"],
            "--trust-run-plugin",
            "check the plugin first",
        )


def add_resume_options(resume: argparse.ArgumentParser) -> None:
    """Endpoints given anew on ``resume`` and the consent flags (cli/main.py's resume has them too)."""
    for option in ("--llm-base-url", "--llm-api-key-env", "--generator-base-url", "--generator-api-key-env"):
        resume.add_argument(option, help="use this from now on instead of the run's own")
    resume.add_argument(
        "--trust-run-llm", action="store_true", help="send keys where the run's config.json says"
    )
    resume.add_argument(
        "--trust-run-plugin", action="store_true", help="import the plugin the run's config.json names"
    )


def find_t2i_run(ref: str, runs_dir: Path) -> Path:
    from promptclimb.graph.runs import CONFIG_FILE, RunNotFound
    from promptclimb.graph.t2i.session import is_t2i_run

    for candidate in (Path(ref), runs_dir / ref):
        if (candidate / CONFIG_FILE).is_file():
            if not is_t2i_run(candidate):
                raise RunNotFound(f"{candidate} is not a text-to-image run")
            return candidate
    raise RunNotFound(f"no run {ref!r} (looked for {ref}/{CONFIG_FILE} and {runs_dir / ref}/{CONFIG_FILE})")


def cmd_report(args: argparse.Namespace) -> int:
    from promptclimb.cli.unwritable import unwritable
    from promptclimb.results.t2i_report import write_report

    try:
        md, page = write_report(find_t2i_run(args.run, Path(args.runs_dir)))
    except OSError as exc:  # the run directory on a read-only disk, or another user's
        message = unwritable(exc, "copy the run to a directory you can write")
        if message is None:
            raise
        error(message)
        return 2
    say(f"{md}\n{page}")
    return 0


def print_summary(summary: dict[str, Any], limit: int | None = None) -> None:
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


@guarded
def show_t2i(run_dir: Path, as_json: bool = False) -> int:
    """cli/main.py's ``show`` calls this for runs with a t2i ``kind``."""
    from promptclimb.results.t2i_report import summarize_t2i

    summary = summarize_t2i(run_dir)
    if as_json:
        print(json.dumps(summary, indent=2))
        return 0
    print_summary(summary)
    return 0


def list_row(run_dir: Path) -> dict[str, Any]:
    """The record of a text-to-image run for cli/main.py's ``list`` (best: the final score, 0..1)."""
    from promptclimb.results.t2i_report import summarize_t2i

    summary = summarize_t2i(run_dir)
    return {
        "run_id": run_dir.name,
        "run_dir": str(run_dir),
        "kind": summary["kind"],
        "status": summary["status"],
        "iterations_done": summary["iterations_done"],
        "best": summary["final"]["score"] if summary["final"] else None,
        "test": None,
    }


def parser() -> argparse.ArgumentParser:
    """The text-to-image commands on their own (``python -m promptclimb.cli.t2i``), with resume and show."""
    root = argparse.ArgumentParser(prog="promptclimb-t2i", description=__doc__)
    root.add_argument("--runs-dir", default="runs", help="where runs live (default ./runs)")
    sub = root.add_subparsers(dest="command", required=True)
    add_commands(sub)
    resume = sub.add_parser("resume", help="continue a paused, killed or failed text-to-image run")
    resume.add_argument("run")
    for option in ("--max-llm-calls", "--max-images"):
        resume.add_argument(option, type=int, help="raise this budget")
    resume.add_argument("--max-cost", type=float, help="raise the cost budget")
    add_resume_options(resume)
    show = sub.add_parser("show", help="status, leaderboard and counts of a text-to-image run")
    show.add_argument("run")
    show.add_argument("--json", action="store_true")
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    setup_logging(debug=False)
    if args.command == "resume":
        return guarded(lambda: resume_t2i(find_t2i_run(args.run, Path(args.runs_dir)), args))()
    if args.command == "show":
        return guarded(lambda: show_t2i(find_t2i_run(args.run, Path(args.runs_dir)), args.json))()
    return handlers()[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
