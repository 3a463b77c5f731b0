"""The text-to-image critic's meta-prompt, rendered: the system prompt of each phase, the phase's first
turn, and the feedback turn (the last images, the best and the worst so far, each with its prompt, score and
critique, the images attached).

The builders take plain values (candidates as a protocol, the query, counts), never the graph's state:
prompts/ is the lowest layer. A turn comes back as its text and the image paths it attaches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from promptclimb.prompts import t2i_meta as meta
from promptclimb.prompts.slots import fill_slots


class Shown(Protocol):
    """One generated image as the critic sees it (a T2ICandidate)."""

    @property
    def prompt(self) -> str: ...

    @property
    def image(self) -> str: ...

    @property
    def phase(self) -> str: ...

    @property
    def iteration(self) -> int: ...

    @property
    def index(self) -> int: ...

    @property
    def score(self) -> float: ...

    @property
    def scores(self) -> Mapping[str, float]: ...

    @property
    def critique(self) -> str: ...


def system_prompt(phase: str, query: str | None, recovered: str | None) -> str:
    """The critic's system prompt for ``phase`` ("t2i", "invert" or "edit")."""
    text = {"t2i": meta.SYSTEM_T2I, "invert": meta.SYSTEM_INVERT, "edit": meta.SYSTEM_EDIT}[phase]
    return fill_slots(text, QUERY=query or "", EDIT=query or "", RECOVERED=recovered or "")


def reference_turn(phase: str, n: int) -> str:
    """The first turn of invert and edit, sent with the reference image: describe it, or start the edit."""
    ask = meta.DESCRIBE_REFERENCE if phase == "invert" else meta.START_EDIT
    return meta.REFERENCE_TURN + "\n\n" + fill_slots(ask, N=str(n))


def format_score(candidate: Shown, score_kind: str) -> str:
    if candidate.phase == "edit":
        parts = ", ".join(f"{k} {v:.2f}" for k, v in candidate.scores.items() if k in ("subject", "edit"))
        return f"{100 * candidate.score:.0f}% ({parts})"
    if score_kind == "clip":
        return f"{candidate.score:.3f} (CLIP cosine similarity)"
    return f"{100 * candidate.score:.0f}%"


class Attachments:
    """Numbers the images of one message; an image listed twice is attached once."""

    def __init__(self) -> None:
        self.images: list[str] = []

    def note(self, image: str) -> str:
        if image in self.images:
            return f"(its image is image {self.images.index(image) + 1} of this message, listed above)"
        self.images.append(image)
        return fill_slots(meta.IMAGE_NOTE, K=str(len(self.images)))

    def blocks(self, candidates: Sequence[Shown], score_kind: str) -> str:
        return "\n\n".join(
            fill_slots(
                meta.CANDIDATE,
                PROMPT=c.prompt,
                SCORE=format_score(c, score_kind),
                CRITIQUE=c.critique or meta.NO_CRITIQUE,
            )
            + "\n"
            + self.note(c.image)
            for c in candidates
        )


def feedback_turn(
    ranking: Sequence[Shown], iteration: int, *, score_kind: str, top_k: int, bottom_k: int, proposals: int
) -> tuple[str, list[str]]:
    """The turn after ``iteration``: its text and the images it attaches. ``ranking``: the phase's images,
    best first."""
    attach = Attachments()
    last = sorted((c for c in ranking if c.iteration == iteration), key=lambda c: c.index)
    if iteration == 0:
        results = attach.blocks(last, score_kind) or meta.NOTHING_USABLE
        parts = [fill_slots(meta.FIRST_RESULTS, RESULTS=results)]
    else:
        results = attach.blocks(last, score_kind) or meta.NOTHING_USABLE
        parts = [fill_slots(meta.LAST_RESULTS, RESULTS=results)]
        good = list(ranking[:top_k])
        bad = [c for c in ranking[::-1][:bottom_k] if c not in good][::-1]
        parts.append(fill_slots(meta.BEST_RESULTS, RESULTS=attach.blocks(good, score_kind)))
        if bad:
            parts.append(fill_slots(meta.WORST_RESULTS, RESULTS=attach.blocks(bad, score_kind)))
    parts.append(fill_slots(meta.ASK_BETTER, N=str(proposals)))
    return "\n\n".join(parts), attach.images
