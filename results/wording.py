"""How the results commands name a run's scorer, its inputs and its method, for image and text runs alike.

A text run (a CSV dataset read by a sentence encoder) must never be described as CLIP on images: every
word that depends on the kind of run comes from here.
"""

from __future__ import annotations

from promptclimb.evaluators.classify.texts import is_text_dataset
from promptclimb.graph.config import RunConfig

TEXT_SCORER_PREFIX = "text:"


def is_text_run(config: RunConfig) -> bool:
    """Whether the run classifies texts: CSV data, or a sentence-encoder scorer (the data may have moved)."""
    scorer = config.scorer or ""
    return config.layout == "csv" or scorer.startswith(TEXT_SCORER_PREFIX) or is_text_dataset(config.data)


def inputs_noun(config: RunConfig) -> str:
    """What one example of the run is, in the plural: "texts" or "images"."""
    return "texts" if is_text_run(config) else "images"


def scorer_name(config: RunConfig) -> str:
    """The scorer as the user named it: the --scorer spec, else the --clip model."""
    return config.scorer or config.clip


def scorer_label(config: RunConfig) -> str:
    """ "CLIP: <model>" for a plain CLIP run, "Scorer: <spec>" for any --scorer (text encoders included)."""
    return f"Scorer: {config.scorer}" if config.scorer else f"CLIP: {config.clip}"


def handmade_text(config: RunConfig) -> str:
    """What the hand-made ensemble baseline is: CLIP's photo templates, on a text run too."""
    if is_text_run(config):
        return "hand-made photo templates (ImageNet's list)"
    return "CLIP's hand-made templates"


def method_text(config: RunConfig) -> str:
    """The search the run made, with its real --space, --meta and --feedback."""
    if config.space == "classes":
        fed = "per-class accuracy and confusions" if config.feedback != "none" else "none (classes in turn)"
        shown = config.examples if is_text_run(config) else 0
        inputs = f"{shown} training inputs shown" if shown else "no input shown"
        return (
            f"class-specific prompts (--space classes, --meta {config.meta}) on a shared template ensemble, "
            f"feedback {fed}, {inputs}"
        )
    return f"one shared template (--space templates, --meta {config.meta}), feedback {config.feedback}"


def selection_text(on: str) -> str:
    """The ranking score's name with what it pools: every leaderboard is ordered by it."""
    return "selection (train+val pooled)" if on == "train+val" else "selection (train)"
