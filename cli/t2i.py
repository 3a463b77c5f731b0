"""The text-to-image commands: ``t2i``, ``invert``, ``personalize`` and ``t2i-report``.

cli/main.py hooks them in with ``COMMANDS.update(add_commands(sub))``; its ``resume``, ``show`` and ``list``
serve text-to-image runs as well (session/kinds.py tells the kinds apart). Like cli/main.py, this prints.
"""

from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Callable
from pathlib import Path

from promptclimb.cli.console import error, say
from promptclimb.cli.views import drive_to_end
from promptclimb.graph.t2i.state import DEFAULT_CRITIC, DEFAULT_GENERATOR, T2IConfig

# Heavy modules (diffusers, transformers, LangChain) load inside the commands, not for `--help`.
Handler = Callable[[argparse.Namespace], int]


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
    p.add_argument(
        "--track",
        help="mlflow or mlflow:URI: log the config, one metric step per scored iteration, the call log, "
        "summary and report (pip install promptclimb[mlflow])",
    )
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
        "t2i": functools.partial(cmd_start, "t2i"),
        "invert": functools.partial(cmd_start, "invert"),
        "personalize": functools.partial(cmd_start, "personalize"),
        "t2i-report": cmd_report,
    }


def config_from_args(kind: str, args: argparse.Namespace) -> T2IConfig:
    fields = {k: v for k, v in vars(args).items() if k in T2IConfig.model_fields and v is not None}
    return T2IConfig(**{**fields, "kind": kind})


def cmd_start(kind: str, args: argparse.Namespace) -> int:
    config = config_from_args(kind, args)  # bad values are refused before the heavy modules below load
    from promptclimb.session import lifecycle
    from promptclimb.session.kinds import T2I
    from promptclimb.session.planning import plan_t2i

    if args.dry_run:
        print(json.dumps(plan_t2i(config), indent=2))
        return 0
    with lifecycle.start(T2I, config, Path(args.runs_dir)) as session:
        return drive_to_end(session, announce=True)


def cmd_report(args: argparse.Namespace) -> int:
    from promptclimb.cli.unwritable import unwritable
    from promptclimb.results.t2i_report import write_report
    from promptclimb.session.kinds import T2I
    from promptclimb.session.readback import find_of_kind

    try:
        md, page = write_report(find_of_kind(args.run, Path(args.runs_dir), T2I, "t2i-report"))
    except OSError as exc:  # the run directory on a read-only disk, or another user's
        message = unwritable(exc, "copy the run to a directory you can write")
        if message is None:
            raise
        error(message)
        return 2
    say(f"{md}\n{page}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m promptclimb.cli.t2i``: the one promptclimb command line (cli/main.py)."""
    from promptclimb.cli.main import main as promptclimb

    return promptclimb(argv)


if __name__ == "__main__":
    raise SystemExit(main())
