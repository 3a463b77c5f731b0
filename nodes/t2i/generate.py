"""Generate (text-to-image): one pending prompt per step -> an image on disk -> its scores.

One image per step, so a kill loses at most the image in flight; and an image found finished on disk (same
prompt, seed and generator in its PNG metadata) is reused on resume instead of being paid for twice.
"""

from __future__ import annotations

import time

from langgraph.runtime import Runtime

from promptclimb.evaluators.t2i.generators import REVISED_PROMPT, PromptRejected, read_png_metadata, save_png
from promptclimb.graph.t2i.context import IMAGES_DIR, T2IContext
from promptclimb.graph.t2i.state import T2ICandidate, T2IConfig, T2IRejection, T2IState
from promptclimb.nodes.t2i.budget import check_image_budget, check_llm_budget
from promptclimb.nodes.t2i.rank import in_phase
from promptclimb.prompts.template import normalize


def image_seed(config: T2IConfig, phase: str, iteration: int, index: int) -> int:
    """Distinct per image, identical on resume; the same across phases' first images for comparability."""
    return (config.seed * 1_000_003 + (7_919 if phase == "edit" else 0) + iteration * 101 + index) % 2**31


def image_name(phase: str, iteration: int, index: int) -> str:
    return f"{IMAGES_DIR}/{phase}-i{iteration:03d}-{index:02d}.png"


def generate(state: T2IState, runtime: Runtime[T2IContext]) -> dict:
    pending = state["pending"]
    if not pending:
        return {}
    context = runtime.context
    config, phase, iteration = context.config, state["phase"], state["iteration"]
    prompt, rest = pending[0], pending[1:]
    mine = in_phase(state["candidates"], phase)
    if normalize(prompt) in {normalize(c.prompt) for c in mine}:
        return {"pending": rest}  # already scored in this phase: never paid for twice
    check_image_budget(state, config)
    if config.score != "clip":
        check_llm_budget(state, config)  # scoring asks the vision model
    index = sum(1 for c in mine if c.iteration == iteration)
    seed = image_seed(config, phase, iteration, index)
    relative = image_name(phase, iteration, index)
    path = context.path(relative)
    metadata = {"prompt": prompt, "seed": str(seed), "generator": context.generator.name}
    started = time.monotonic()
    existing = read_png_metadata(path)
    reused = existing is not None and all(existing.get(k) == v for k, v in metadata.items())
    if reused:
        revised = existing.get(REVISED_PROMPT)
        context.log.append(f"reused {relative}, finished before the process was stopped")
    else:
        try:
            image = context.generator.generate(prompt, seed)
        except PromptRejected as error:
            rejection = T2IRejection(text=prompt, reason=str(error), phase=phase, iteration=iteration)
            return {"pending": rest, "rejections": [*state["rejections"], rejection]}
        revised = image.info.get(REVISED_PROMPT)
        save_png(image, path, {**metadata, **({REVISED_PROMPT: revised} if revised else {})})
    image_usage = state["image_usage"].add(
        context.generator.price_per_image, time.monotonic() - started, reused
    )
    result = context.judge.measure(relative, phase, state["questions"])
    usage = state["usage"]
    for call in result.calls:
        usage = usage.add(call)
    candidate = T2ICandidate(
        prompt=prompt,
        image=relative,
        phase=phase,
        iteration=iteration,
        index=index,
        seed=seed,
        score=result.score,
        scores=result.measured.scores,
        critique=result.measured.critique,
        answers=result.measured.answers,
        revised_prompt=revised,
        source=state.get("pending_source", "initial"),
    )
    return {
        "pending": rest,
        "candidates": [*state["candidates"], candidate],
        "usage": usage,
        "image_usage": image_usage,
    }
