"""The classification meta-prompt, rendered: the system prompt and each style's user turn (``--meta``).

Two styles:

- ``chat`` (the paper's method): one growing conversation per restart; each turn shows the scores of the
  last proposals, the best and the worst templates of the restart, and asks for better ones.
- ``compact`` (promptclimb's default): every turn is one self-contained message rebuilt from the
  leaderboard (task first, example inputs, the best templates with correct/N from worst to best, the
  worst ones), so the prompt stays short for small models and nothing anchors the LLM on its own earlier
  replies.

Each feedback mode shows exactly its kind of feedback: ``pos`` only the best templates, ``neg`` only the
worst, ``none`` no scores at all (the LLM resamples), ``pos+neg`` both (and, in chat, the last scores).

The builders take plain values (templates with their scores, the run's settings, the task line), never the
graph's state: prompts/ is the lowest layer, and a builder is testable in microseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from promptclimb.prompts import meta
from promptclimb.prompts.slots import fill_slots
from promptclimb.prompts.template import PLACEHOLDER

MAX_EXAMPLE_CHARS = 160  # an example input shown to the LLM is cut to this


class Scored(Protocol):
    """A template with its training accuracy (a leaderboard candidate): what the chat style shows."""

    @property
    def template(self) -> str: ...

    @property
    def train_acc(self) -> float: ...


class Settings(Protocol):
    """The run options a message depends on (RunConfig has them)."""

    @property
    def feedback(self) -> str: ...

    @property
    def top_k(self) -> int: ...

    @property
    def bottom_k(self) -> int: ...

    @property
    def shown(self) -> int: ...

    def asked(self) -> int: ...


@dataclass(frozen=True)
class Counted:
    """A template with the counts the compact style shows: ``correct`` of ``total`` on the selection data."""

    template: str
    correct: int
    total: int
    train_acc: float  # shown as a percentage where there are no counts (a candidate from an older run)

    def acc(self) -> float:
        """The selection accuracy the leaderboard ranks by."""
        return self.correct / self.total if self.total else self.train_acc


def shown(template: str) -> str:
    """How the LLM sees a template: the placeholder word instead of ``{}``."""
    return template.replace(PLACEHOLDER, meta.PLACEHOLDER_WORD)


def quoted(text: str) -> str:
    """A template or an example input in a meta-prompt (already bounded by validation or clip_text)."""
    return meta.quoted(text, limit=None)


def clip_text(text: str) -> str:
    """An example input on one line, cut to MAX_EXAMPLE_CHARS."""
    text = " ".join(text.split())
    return text if len(text) <= MAX_EXAMPLE_CHARS else text[: MAX_EXAMPLE_CHARS - 3] + "..."


def system_prompt(*, task: str, modality: str, classnames: Sequence[str], feedback: str) -> str:
    """The system message of every request: what the scorer is, the task, some class names, the rules."""
    examples = ", ".join(meta.quoted(name) for name in classnames[:8])
    learn = "" if feedback == "none" else meta.SYSTEM_LEARN
    model = meta.MODEL.get(modality, meta.MODEL["image"])
    example = meta.EXAMPLE_TEMPLATE.get(modality, meta.EXAMPLE_TEMPLATE["image"])
    return fill_slots(meta.SYSTEM, MODEL=model, TASK=task, EXAMPLES=examples, LEARN=learn, EXAMPLE=example)


# -- chat style (the paper) -----------------------------------------------------------------------------


def score_lines(candidates: Sequence[Scored]) -> str:
    return "\n".join(f"- {quoted(shown(c.template))}: {100 * c.train_acc:.1f}%" for c in candidates)


def feedback_message(ranking: Sequence[Scored], last: Sequence[Scored] | None, config: Settings) -> str:
    """One chat turn. ``ranking`` is best first; ``last`` the templates scored in the previous iteration."""
    n = str(config.asked())
    good = list(ranking[: config.top_k])
    # The worst templates, excluding any already shown as good (small leaderboards overlap).
    bad = [c for c in ranking[::-1][: config.bottom_k] if c not in good][::-1]
    parts: list[str] = []
    if config.feedback == "pos+neg" and last is not None:  # last scores mix good and bad: both kinds
        parts.append(fill_slots(meta.LAST_SCORES, LAST=score_lines(last) or meta.NOTHING_USABLE))
    if config.feedback in ("pos+neg", "pos"):
        parts.append(fill_slots(meta.GOOD_LIST, GOOD=score_lines(good)))
    if config.feedback in ("pos+neg", "neg") and bad:
        parts.append(fill_slots(meta.BAD_LIST, BAD=score_lines(bad)))
    ask = {
        "pos+neg": meta.ASK_BETTER,
        "pos": meta.ASK_BETTER_POSITIVE,
        "neg": meta.ASK_BETTER_NEGATIVE,
        "none": meta.ASK_RESAMPLE,
    }[config.feedback]
    parts.append(fill_slots(ask, N=n))
    return "\n\n".join(parts)


# -- compact style (promptclimb's default) --------------------------------------------------------------


def count_lines(candidates: Sequence[Counted]) -> str:
    lines = []
    for c in candidates:
        score = f"{c.correct}/{c.total}" if c.total else f"{100 * c.train_acc:.1f}%"
        lines.append(f"- {quoted(shown(c.template))}: {score}")
    return "\n".join(lines)


def compact_message(
    ranking: Sequence[Counted],
    config: Settings,
    *,
    task: str,
    modality: str,
    examples: Sequence[tuple[str, str]],
    repeats: int,
    error: str | None,
) -> str:
    """One self-contained turn: task, examples, scores as the feedback mode allows, the ask.

    ``ranking`` is the restart's leaderboard, best first; ``examples`` are (input text, class name) pairs.
    """
    inputs = meta.INPUTS.get(modality, "inputs")
    total = ranking[0].total if ranking else 0
    parts = [fill_slots(meta.COMPACT_TASK, TASK=task)]
    if examples:
        lines = "\n".join(f"- {quoted(clip_text(text))} (class: {quoted(name)})" for text, name in examples)
        parts.append(fill_slots(meta.COMPACT_EXAMPLES, INPUTS=inputs, LINES=lines))
    parts.append(meta.COMPACT_HOW)
    slots = {"TOTAL": str(total), "INPUTS": inputs}
    bottom = list(ranking[::-1][: config.bottom_k])
    if config.feedback == "pos+neg":
        best = list(ranking[: max(1, config.shown - len(bottom))])
        shown_set = best + [c for c in bottom if c not in best]
        ordered = sorted(shown_set, key=Counted.acc)  # worst to best, best last (OPRO)
        parts.append(fill_slots(meta.COMPACT_SCORES, LINES=count_lines(ordered), **slots))
    elif config.feedback == "pos":
        best = list(ranking[: config.shown][::-1])
        parts.append(fill_slots(meta.COMPACT_SCORES_BEST, LINES=count_lines(best), **slots))
    elif config.feedback == "neg" and bottom:
        parts.append(fill_slots(meta.COMPACT_SCORES_WORST, LINES=count_lines(bottom), **slots))
    if config.feedback != "none":
        parts.append(fill_slots(meta.COMPACT_DEPART, INPUTS=inputs))
        if error:
            parts.append(fill_slots(meta.NOTHING_USABLE_COMPACT, ERROR=error))
        elif repeats:
            parts.append(fill_slots(meta.COMPACT_REPEATS, K=str(repeats)))
    ask = meta.COMPACT_ASK_RESAMPLE if config.feedback == "none" else meta.COMPACT_ASK
    parts.append(fill_slots(ask, N=str(config.asked()), INPUTS=inputs))
    return "\n\n".join(parts)
