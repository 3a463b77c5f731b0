"""Feedback (text-to-image): the next user turn: the last images, the best and the worst so far, each with
its prompt, score and critique, the images attached."""

from __future__ import annotations

from langgraph.runtime import Runtime

from promptclimb.graph.t2i.context import T2IContext
from promptclimb.graph.t2i.state import T2ICandidate, T2IConfig, T2IMessage, T2IState
from promptclimb.nodes.t2i.propose import fill
from promptclimb.nodes.t2i.rank import in_phase
from promptclimb.prompts import t2i_meta as meta


def format_score(candidate: T2ICandidate, config: T2IConfig) -> str:
    if candidate.phase == "edit":
        parts = ", ".join(f"{k} {v:.2f}" for k, v in candidate.scores.items() if k in ("subject", "edit"))
        return f"{100 * candidate.score:.0f}% ({parts})"
    if config.score == "clip":
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
        return fill(meta.IMAGE_NOTE, K=str(len(self.images)))

    def blocks(self, candidates: list[T2ICandidate], config: T2IConfig) -> str:
        return "\n\n".join(
            fill(
                meta.CANDIDATE,
                PROMPT=c.prompt,
                SCORE=format_score(c, config),
                CRITIQUE=c.critique or meta.NO_CRITIQUE,
            )
            + "\n"
            + self.note(c.image)
            for c in candidates
        )


def feedback_turn(ranking: list[T2ICandidate], iteration: int, config: T2IConfig) -> T2IMessage:
    """``ranking``: this phase's images, best first."""
    attach = Attachments()
    last = sorted((c for c in ranking if c.iteration == iteration), key=lambda c: c.index)
    if iteration == 0:
        parts = [fill(meta.FIRST_RESULTS, RESULTS=attach.blocks(last, config) or meta.NOTHING_USABLE)]
    else:
        parts = [fill(meta.LAST_RESULTS, RESULTS=attach.blocks(last, config) or meta.NOTHING_USABLE)]
        good = ranking[: config.top_k]
        bad = [c for c in ranking[::-1][: config.bottom_k] if c not in good][::-1]
        parts.append(fill(meta.BEST_RESULTS, RESULTS=attach.blocks(good, config)))
        if bad:
            parts.append(fill(meta.WORST_RESULTS, RESULTS=attach.blocks(bad, config)))
    parts.append(fill(meta.ASK_BETTER, N=str(config.proposals)))
    return T2IMessage(role="user", content="\n\n".join(parts), images=attach.images)


def feedback(state: T2IState, runtime: Runtime[T2IContext]) -> dict:
    config = runtime.context.config
    ranking = in_phase(state["candidates"], state["phase"])
    turn = feedback_turn(ranking, state["iteration"], config)
    return {"conversation": [*state["conversation"], turn]}
