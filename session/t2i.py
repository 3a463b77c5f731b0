"""A text-to-image run (t2i, invert, personalize): its inputs, models (generator, critic, CLIP), context,
and its row of the kinds table. The run directory's files are described in graph/t2i/session.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from promptclimb.errors import UserError
from promptclimb.evaluators.images import UnreadableImage, open_rgb
from promptclimb.evaluators.t2i.critics import Critic, VisionChat
from promptclimb.evaluators.t2i.generators import (
    GeneratorError,
    GeneratorOptions,
    ImageGenerator,
    open_generator,
)
from promptclimb.evaluators.t2i.scores import Judge
from promptclimb.graph.history import t2i_boundary
from promptclimb.graph.runs import append_call, append_log
from promptclimb.graph.t2i.context import REFERENCE_FILE, T2IContext
from promptclimb.graph.t2i.session import create_t2i_run, load_t2i_config, open_t2i_checkpointer
from promptclimb.graph.t2i.state import KINDS, T2IConfig
from promptclimb.graph.t2i.wiring import build_t2i_graph, initial_t2i_state
from promptclimb.llm.credentials import endpoint_needs_consent, llm_file_reason
from promptclimb.llm.errors import LLMUnavailable
from promptclimb.nodes.propose import BudgetReached
from promptclimb.results.t2i_report import summarize_t2i, write_report
from promptclimb.session import tracking
from promptclimb.session.kinds import T2I, T2I_KINDS, Kind
from promptclimb.session.lifecycle import Opened

RESUME_OVERRIDES = (
    "max_llm_calls", "max_cost", "max_images",
    "llm_base_url", "llm_api_key_env", "generator_base_url", "generator_api_key_env", "track",
)  # fmt: skip


class T2IInputError(UserError, ValueError):
    """Bad input to a text-to-image command (missing reference, empty query); one-line message."""


def check_inputs(config: T2IConfig) -> None:
    """Refuse bad input before anything is created or spent."""
    if config.kind in ("t2i", "personalize") and not (config.query or "").strip():
        raise T2IInputError(f"{config.kind} needs a non-empty text")
    if config.kind in ("invert", "personalize"):
        if not config.reference:
            raise T2IInputError(f"{config.kind} needs a reference image")
        try:
            open_rgb(config.reference)
        except UnreadableImage as error:
            raise T2IInputError(f"reference image {error}") from error


def generator_options(config: T2IConfig) -> GeneratorOptions:
    return GeneratorOptions(
        base_url=config.generator_base_url,
        api_key_env=config.generator_api_key_env,
        size=config.image_size,
        quality=config.image_quality,
        price_per_image=config.image_price,
        steps=config.steps,
        guidance=config.guidance,
        device=config.device,
    )


@contextmanager
def open_t2i_models(config: T2IConfig) -> Iterator[tuple[ImageGenerator, Any, Any]]:
    """The generator, the critic's chat backend (stopped on exit) and CLIP when a score needs it."""
    from promptclimb.llm.backends import open_backend

    generator = open_generator(config.generator, generator_options(config))
    clip = None
    if config.clip_model():
        from promptclimb.evaluators.classify.clip import load_clip
        from promptclimb.evaluators.quiet import no_progress_bars

        with no_progress_bars():
            clip = load_clip(config.clip_model(), device=config.device)
    with ExitStack() as stack:
        backend = stack.enter_context(
            open_backend(
                config.critic,
                base_url=config.llm_base_url,
                api_key_env=config.llm_api_key_env,
                temperature=config.temperature,
            )
        )
        yield generator, backend, clip


def make_t2i_context(
    config: T2IConfig, run_dir: Path, generator: ImageGenerator, backend: Any, clip: Any
) -> T2IContext:
    if clip is not None and getattr(clip, "random_weights", False):
        append_log(run_dir, [f"WARNING: {config.clip_model()} has no weights: CLIP runs with RANDOM weights"])
    chat = VisionChat(backend, run_dir, recorder=lambda call: append_call(run_dir, call))
    reference = REFERENCE_FILE if config.kind in ("invert", "personalize") else None
    judge = Judge(config, run_dir, chat, clip, reference=reference)
    return T2IContext(
        config=config,
        run_dir=run_dir,
        generator=generator,
        critic=Critic(chat, config.max_words),
        judge=judge,
    )


@contextmanager
def open_run(
    config: T2IConfig, runs_dir: Path | None = None, run_dir: Path | None = None
) -> Iterator[Opened]:
    """Open the models first (bad input fails before a run exists), then create ``runs_dir``'s new run or
    continue ``run_dir``."""
    if run_dir is None:
        check_inputs(config)
    with open_t2i_models(config) as (generator, backend, clip):
        warnings = []
        if clip is not None and getattr(clip, "random_weights", False):
            warnings.append(f"{config.clip_model()} holds no weights: CLIP scores mean nothing")
        done = 0
        if run_dir is None:
            assert runs_dir is not None
            run_dir = create_t2i_run(runs_dir, config)
            config = load_t2i_config(run_dir)
        else:
            done = summarize_t2i(run_dir)["iterations_done"]
        context = make_t2i_context(config, run_dir, generator, backend, clip)
        yield Opened(run_dir, context, [], {"iterations_done": done}, warnings)


def endpoint_reasons(config: T2IConfig, given: dict[str, Any]) -> list[str]:
    """Keys go only where the user sent them: the critic's and the generator's endpoints."""

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
        llm_file_reason(config.critic, given_anew=False),  # not a resume option: only consent lifts it
        tracking.consent_reason(config, given),
    ]  # fmt: skip
    return [r for r in reasons if r]


def code_reasons(config: T2IConfig) -> list[str]:
    """Only the user picks code to import: a plugin generator named by a run's config.json."""
    return (
        [f"generator {config.generator} would be imported and run"]
        if config.generator.startswith("plugin:")
        else []
    )


def report_files(run_dir: Path) -> list[Path]:
    return list(write_report(run_dir))


KIND = Kind(
    name=T2I,
    load_config=load_t2i_config,
    overrides=RESUME_OVERRIDES,
    resumable=(BudgetReached, LLMUnavailable, GeneratorError),
    checkpointer=open_t2i_checkpointer,
    graph=lambda saver, config: build_t2i_graph(saver),
    boundary=t2i_boundary,
    initial=lambda config, pool: initial_t2i_state(config),
    lanes=lambda config: 1,
    lane_progress=None,
    closing_log=lambda context: [],
    open=open_run,
    summarize=summarize_t2i,
    endpoint_reasons=endpoint_reasons,
    code_reasons=code_reasons,
    endpoint_hint="give the base URLs and key variables",
    code_hint="check the plugin first",
    finished=report_files,
)

assert set(T2I_KINDS) == set(KINDS), "session/kinds.py reads the text-to-image kinds without importing them"
