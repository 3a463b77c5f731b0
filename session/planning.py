"""The dry run: what a run will ask and evaluate, and what that costs, before anything is spent."""

from __future__ import annotations

from typing import Any

from promptclimb.graph.config import RunConfig
from promptclimb.graph.t2i.state import T2IConfig
from promptclimb.llm.errors import BackendError
from promptclimb.llm.pricing import PriceFileError, price_for
from promptclimb.nodes.class_feedback import LOCAL_VARIANTS, input_texts_on

# Rough token sizes of one LLM request's parts (about 4 characters per token of our meta-prompts): for a
# dollar estimate before anything is spent, not a bill.
SYSTEM_TOKENS, RANKED_TOKENS, PROPOSAL_TOKENS = 400, 25, 25


def classify_numbers(
    config: RunConfig, pool: list[str], n_classes: int, batch: int, inputs: int = 0
) -> dict[str, int]:
    """``batch``: classes a class step asks for; ``inputs``: the selection inputs that become class texts
    (--input-texts on text data)."""
    steps = config.iterations * config.restarts
    seeded = 2 if config.with_baselines() else 0  # "{}" and the hand-made template join the pool
    if config.space == "classes":  # the LLM writes texts per class, not templates
        templates = len(pool) + seeded + LOCAL_VARIANTS
        texts = steps * min(n_classes, batch) * config.per_class * 2  # extras up to twice the ask are kept
        return {
            "llm_calls": steps,
            "template_evaluations": templates,
            "class_texts_at_most": texts,
            **({"input_texts_at_most": inputs} if inputs else {}),
            "text_prompts_to_encode_at_most": templates * n_classes + texts + inputs,
        }
    templates = len(pool) + seeded + steps * config.asked()
    return {
        "llm_calls": steps,
        "template_evaluations": templates,
        "text_prompts_to_encode_at_most": templates * n_classes,
    }


def cost_estimate(config: RunConfig, llm_calls: int, batch: int, shows_inputs: bool = True) -> dict[str, Any]:
    """The dollar estimate of ``llm_calls`` requests where the model's price is known (else null);
    ``batch``: classes a class step asks for; ``shows_inputs``: a class message shows misread training
    inputs (the larger message)."""
    spec = config.llm or "local:"
    provider, _, model = spec.partition(":")
    try:
        price = price_for(provider.strip().lower(), model.strip())
    except PriceFileError as exc:
        raise BackendError(str(exc)) from None
    turn = (config.top_k + config.bottom_k) * RANKED_TOKENS + config.asked() * PROPOSAL_TOKENS
    turns = 1 + config.history_turns
    tokens_in, tokens_out = llm_calls * (SYSTEM_TOKENS + turn * turns), llm_calls * (turn + 30)
    if config.space == "classes":  # measured on banking77 (6 classes): ~620 tokens in with misread inputs
        # shown, ~330 without; about a token out per asked word
        tokens_in = llm_calls * (150 + (78 if shows_inputs else 30) * batch)
        tokens_out = llm_calls * (20 + config.class_words * batch * config.per_class)
    if price is None:
        return {"llm": spec, "estimated_cost_usd": None, "price": "unknown (add it with PROMPTCLIMB_PRICES)"}
    return {
        "llm": spec,
        "estimated_input_tokens": tokens_in,
        "estimated_output_tokens": tokens_out,
        "estimated_cost_usd": round(price.cost(tokens_in, tokens_out), 4),
        "price_usd_per_mtok": price.model_dump(),
    }


def plan_classify(config: RunConfig) -> dict[str, Any]:
    """A classification run's plan: its data and pool are checked (bad input fails here too)."""
    from promptclimb.session.classify import load_inputs

    dataset, pool = load_inputs(config)
    modality = getattr(dataset, "modality", "image")
    seeds = config.space == "classes" and input_texts_on(config, modality)
    splits = ["train", "val"] if config.selection() == "train+val" else ["train"]
    inputs = sum(len(dataset.items(s)) for s in splits if dataset.has_split(s)) if seeds else 0
    batch = config.classes_per_call(seeds)
    # The starting check may leave every input out, and the run then asks as one without them: the bound
    # takes the larger batch, the estimate the usual one.
    most = max(batch, config.classes_per_call(False))
    numbers = classify_numbers(config, pool, len(dataset.classnames), most, inputs)
    shows = modality == "text" and config.examples > 0 and not seeds
    return {**numbers, **cost_estimate(config, numbers["llm_calls"], batch, shows)}


def plan_t2i(config: T2IConfig) -> dict[str, Any]:
    """Upper bounds of what a text-to-image run will do, and its image cost from the price table."""
    from promptclimb.evaluators.t2i.generators import DEFAULT_QUALITY, image_price
    from promptclimb.session.t2i import check_inputs

    check_inputs(config)
    phases = ["invert", "edit"] if config.kind == "personalize" else [config.kind]
    images = calls = 0
    for phase in phases:
        first = 1 if phase == "t2i" else config.initial
        n = first + config.phase_iterations(phase) * config.proposals
        images += n
        critic = (0 if phase == "t2i" else 1) + config.phase_iterations(phase)
        scoring = n if config.score in ("dsg", "rating") else 0
        calls += critic + scoring + (1 if config.score == "dsg" else 0)
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
