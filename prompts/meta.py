"""Meta-prompts: the text the optimizer LLM reads. Constants only; filled by plain ``str.replace``.

Templates are shown to the LLM with PLACEHOLDER_WORD where the class name goes: small local models copy a
word more reliably than ``{}``, and the parser maps the word (and ``{}``) back to the placeholder.
Modelled on the conversation of Liu et al. (CVPR 2024): the LLM is a "pattern learner" that sees good and
bad templates with their accuracies and writes better ones.
"""

import json

PLACEHOLDER_WORD = "CLASSNAME"

SYSTEM = """You are an expert at writing text prompts for CLIP, a vision-language model that classifies \
an image by comparing it with one sentence per class. A prompt template is a short sentence in which the \
word CLASSNAME stands for the class name, for example "a photo of a CLASSNAME.". Each template is scored by \
the zero-shot classification accuracy it gives on a small training set of images of <<TASK>>.
Some of the classes: <<EXAMPLES>>.
Your job is to find the template with the highest accuracy. Learn the latent patterns that make a \
template good or bad from the scores you are shown, and use them.
Rules for every template you write:
- it contains the word CLASSNAME exactly where the class name goes;
- it is one sentence of fewer than 20 words, with no other placeholders and no curly braces;
- it is new: never repeat a template you have already seen.
Reply with a JSON object and nothing else: {"templates": ["...", "..."]}."""

# First user turn of a restart and every later turn: what the LLM is shown depends on the feedback mode.
GOOD_LIST = """Here are the best templates so far, with their accuracy:
<<GOOD>>"""

BAD_LIST = """Here are the worst templates so far, with their accuracy:
<<BAD>>"""

LAST_SCORES = """Your last templates scored:
<<LAST>>"""

ASK_BETTER = """Write <<N>> new templates that score higher than the best ones, following the patterns \
of the good templates and avoiding those of the bad ones."""

ASK_BETTER_POSITIVE = """Write <<N>> new templates that score higher than the best ones, following the \
patterns of the good templates."""

ASK_BETTER_NEGATIVE = """Write <<N>> new templates that score higher, avoiding the patterns of the bad \
templates."""

ASK_RESAMPLE = """Write <<N>> new, varied templates for this task."""

NOTHING_USABLE = "(none of your last templates could be scored)"

REASK = """Your last reply could not be used: <<ERROR>>. Reply again with only a JSON object \
{"templates": [...]} holding <<N>> new templates, each containing the word CLASSNAME."""


def quoted(value: str, limit: int = 80) -> str:
    """Data (a class or dataset name) for a meta-prompt: one line, bounded, in JSON quotes.

    Class names come from folder names anyone can choose: quoted, "Ignore all previous instructions" reads
    as a name, and a newline cannot start a line of instructions of its own.
    """
    return json.dumps(" ".join(value.split())[:limit], ensure_ascii=False)
