"""Scores of a generated image: question-based faithfulness (DSG), a 1-5 rating, and CLIP similarities.

DSG (Davidsonian Scene Graph, Cho et al., ICLR 2024): an LLM decomposes the text into atomic yes/no
questions (entities, attributes, counts, relations) with dependencies; a vision model answers each on the
image; the score is the fraction of questions satisfied, where a question whose parent fails counts as
failed (no "is the cube red?" credit for an image without a cube). The answers of one image are asked in
one request (one call per image instead of one per question); the questions are independent in the prompt.

The parsing and the dependency logic are plain functions; ``Judge`` asks the models (through
``critics.VisionChat``) and computes the score that ranks an image (``Judged.score``):

    t2i     dsg: fraction of the query's questions satisfied;  rating: (r - 1) / 4;  clip: cos(image, query)
    invert  dsg: questions decomposed from the reference;  rating: image vs reference;  clip: cos(image, ref)
    edit    subject_weight * cos(image, reference) + (1 - subject_weight) * the score of the edit text
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from promptclimb.evaluators.images import inside
from promptclimb.evaluators.t2i.critics import ChatTurn, UnusableReply, VisionChat
from promptclimb.graph.t2i.state import Question  # checkpointed: a declared exception (tests/test_layers.py)
from promptclimb.llm.records import LLMCall
from promptclimb.prompts import t2i_meta as meta
from promptclimb.prompts.slots import fill_slots

if TYPE_CHECKING:
    from promptclimb.evaluators.classify.clip import ClipBackbone
    from promptclimb.graph.t2i.state import T2IConfig

CATEGORIES = ("entity", "attribute", "count", "relation", "global")
YES = {"yes", "y", "true", "1"}
NO = {"no", "n", "false", "0"}


# --- DSG questions ----------------------------------------------------------------------------------------


def parse_questions(data: Any, max_questions: int = 40) -> list[Question]:
    """Questions from ``{"questions": [...]}``: ids renumbered 1..n, parents kept only if listed earlier."""
    items = data.get("questions") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise UnusableReply('expected {"questions": [...]} with at least one question')
    raw_ids: dict[Any, int] = {}
    questions: list[Question] = []
    for position, item in enumerate(items[:max_questions], 1):
        if isinstance(item, str):
            item = {"question": item}
        if not isinstance(item, dict) or not str(item.get("question", "")).strip():
            raise UnusableReply(f"question {position} has no text")
        raw_ids.setdefault(str(item.get("id", position)), position)
        # DSG's graph is acyclic by construction: a parent is a question listed before its child.
        parents = [
            raw_ids[str(p)] for p in as_list(item.get("parents")) if raw_ids.get(str(p), position) < position
        ]
        category = str(item.get("category", "entity")).strip().lower()
        questions.append(
            Question(
                id=position,
                question=" ".join(str(item["question"]).split()),
                category=category if category in CATEGORIES else "entity",
                parents=sorted(set(parents)),
            )
        )
    return questions


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def parse_answers(data: Any, questions: Sequence[Question]) -> dict[int, bool]:
    """Yes/no per question id from ``{"answers": {"1": "yes", ...}}`` (or a list in question order)."""
    answers = data.get("answers") if isinstance(data, dict) else data
    if isinstance(answers, list):
        answers = {str(q.id): a for q, a in zip(questions, answers, strict=False)}
    if not isinstance(answers, dict):
        raise UnusableReply('expected {"answers": {"1": "yes", "2": "no", ...}}')
    by_id = {str(k).strip(): v for k, v in answers.items()}
    out: dict[int, bool] = {}
    for q in questions:
        value = by_id.get(str(q.id))
        if value is None:
            raise UnusableReply(f"no answer for question {q.id}")
        out[q.id] = yes_no(value, q.id)
    return out


def yes_no(value: Any, qid: int) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower().rstrip(".!")
    first = text.split()[0].strip(",;:") if text.split() else ""
    if first in YES:
        return True
    if first in NO:
        return False
    raise UnusableReply(f"answer to question {qid} is {value!r}, not yes or no")


def satisfied(questions: Sequence[Question], answers: dict[int, bool]) -> dict[int, bool]:
    """A question holds when answered yes and every parent holds (transitively); unanswered = failed."""
    holds: dict[int, bool] = {}
    for q in sorted(questions, key=lambda q: q.id):  # parents have smaller ids (see parse_questions)
        holds[q.id] = answers.get(q.id, False) and all(holds.get(p, False) for p in q.parents)
    return holds


def dsg_score(questions: Sequence[Question], answers: dict[int, bool]) -> float:
    if not questions:
        return 0.0
    holds = satisfied(questions, answers)
    return sum(holds.values()) / len(questions)


def dsg_critique(questions: Sequence[Question], answers: dict[int, bool]) -> str:
    """The failed questions, in words the critic can act on."""
    holds = satisfied(questions, answers)
    failed = []
    for q in questions:
        if holds[q.id]:
            continue
        if not answers.get(q.id, False):
            failed.append(f"{q.question} -> no")
        else:
            failed.append(
                f"{q.question} -> yes, but not counted: depends on {', '.join(map(str, q.parents))}"
            )
    passed = len(questions) - len(failed)
    head = f"{passed}/{len(questions)} questions pass"
    return head + (": failed " + "; ".join(failed) if failed else "")


# --- 1-5 rating ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rating:
    rating: int  # 1..5
    reason: str

    @property
    def normalized(self) -> float:
        """In [0, 1], so ratings rank and combine like the other scores."""
        return (self.rating - 1) / 4


def parse_rating(data: Any) -> Rating:
    """``{"rating": 4, "reason": "..."}``; also "4", 4.0, "4/5" or "Rating: 4" for the number."""
    if isinstance(data, dict):
        value, reason = data.get("rating", data.get("score")), str(data.get("reason", "")).strip()
    else:
        value, reason = data, ""
    match = re.search(r"(?<![\d.])([1-5])(?:\.0+)?(?:\s*/\s*5)?(?![\d.])", str(value))
    if value is None or isinstance(value, bool) or not match:
        raise UnusableReply(f"rating {value!r} is not a whole number from 1 to 5")
    if isinstance(value, int | float) and not float(value).is_integer():
        raise UnusableReply(f"rating {value!r} is not a whole number from 1 to 5")
    return Rating(int(match.group(1)), " ".join(reason.split()))


def rating_critique(rating: Rating) -> str:
    return f"rated {rating.rating}/5" + (f": {rating.reason}" if rating.reason else "")


# --- CLIP similarities ------------------------------------------------------------------------------------


def clip_text_similarity(image_features: np.ndarray, text_features: np.ndarray) -> np.ndarray:
    """Cosine of each image with each text: (images, texts). Features are L2-normalized rows."""
    return np.asarray(image_features, dtype=np.float64) @ np.asarray(text_features, dtype=np.float64).T


def clip_image_similarity(image_features: np.ndarray, reference_features: np.ndarray) -> np.ndarray:
    """Cosine of each image with one reference image: (images,)."""
    reference = np.asarray(reference_features, dtype=np.float64).reshape(-1)
    return np.asarray(image_features, dtype=np.float64) @ reference


# --- what ranks an image ------------------------------------------------------------------------------


@dataclass
class Measured:
    """Every measure of one image, and the critique text the critic will read."""

    scores: dict[str, float] = field(default_factory=dict)
    critique: str = ""
    answers: dict[int, bool] = field(default_factory=dict)


def edit_score(subject: float, edit: float, subject_weight: float) -> float:
    """Personalization: keep the subject (CLIP image-image, clipped to [0, 1]) and show the new scene."""
    subject = min(1.0, max(0.0, subject))
    return subject_weight * subject + (1 - subject_weight) * edit


# --- the judge: asks the models ------------------------------------------------------------------------


class ScoringError(RuntimeError):
    """A score that cannot be computed (no usable reply after the re-asks); the run stops, resumable."""


@dataclass
class Decomposition:
    questions: list[Question]
    calls: list[LLMCall]


@dataclass
class Judged:
    score: float
    measured: Measured
    calls: list[LLMCall] = field(default_factory=list)


def numbered(questions: Sequence[Question]) -> str:
    return "\n".join(f"{q.id}. {q.question}" for q in questions)


class Judge:
    """Scores one image of a phase; holds the vision chat (dsg, rating) and CLIP (clip, subject fidelity)."""

    def __init__(
        self,
        config: T2IConfig,
        run_dir: Path,
        chat: VisionChat | None,
        clip: ClipBackbone | None,
        reference: str | None = None,
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.chat = chat
        self.clip = clip
        self.reference = reference  # run-relative path of the reference image
        self._reference_features: np.ndarray | None = None
        self._text_features: dict[str, np.ndarray] = {}

    # DSG --------------------------------------------------------------------------------------------------

    def decompose_text(self, text: str) -> Decomposition:
        turn = ChatTurn(role="user", content=fill_slots(meta.DSG_DECOMPOSE_TEXT, TEXT=text))
        return self._decompose(turn)

    def decompose_image(self, path: Path) -> Decomposition:
        relative = str(path.relative_to(self.run_dir)) if path.is_absolute() else str(path)
        return self._decompose(ChatTurn(role="user", content=meta.DSG_DECOMPOSE_IMAGE, images=[relative]))

    def _decompose(self, turn: ChatTurn) -> Decomposition:
        asked = self._chat().ask(meta.DSG_DECOMPOSE_SYSTEM, [turn], parse_questions, meta.DSG_REASK, seed=0)
        if asked.value is None:
            raise ScoringError(
                f"no usable DSG questions after {len(asked.calls)} replies: {asked.errors[-1]}"
            )
        return Decomposition(asked.value, asked.calls)

    def answer(self, image: str, questions: Sequence[Question]) -> tuple[dict[int, bool], list[LLMCall]]:
        turn = ChatTurn(
            role="user",
            content=fill_slots(meta.DSG_ANSWER_USER, QUESTIONS=numbered(questions)),
            images=[image],
        )
        asked = self._chat().ask(
            meta.DSG_ANSWER_SYSTEM,
            [turn],
            lambda data: parse_answers(data, questions),
            meta.DSG_REASK,
            seed=0,
        )
        if asked.value is None:
            raise ScoringError(
                f"no usable answers for {image} after {len(asked.calls)} replies: {asked.errors[-1]}"
            )
        return asked.value, asked.calls

    # rating -----------------------------------------------------------------------------------------------

    def rate(self, image: str, text: str | None) -> tuple[Rating, list[LLMCall]]:
        """Faithfulness to ``text``, or similarity to the reference image when ``text`` is None."""
        if text is None:
            system = meta.RATING_IMAGE_SYSTEM
            turn = ChatTurn(role="user", content=meta.RATING_IMAGE_USER, images=[self.reference or "", image])
        else:
            system = meta.RATING_TEXT_SYSTEM
            turn = ChatTurn(role="user", content=fill_slots(meta.RATING_TEXT_USER, TEXT=text), images=[image])
        asked = self._chat().ask(system, [turn], parse_rating, meta.DSG_REASK, seed=0)
        if asked.value is None:
            raise ScoringError(
                f"no usable rating for {image} after {len(asked.calls)} replies: {asked.errors[-1]}"
            )
        return asked.value, asked.calls

    # CLIP -------------------------------------------------------------------------------------------------

    def clip_scores(self, image: str, text: str | None) -> dict[str, float]:
        if self.clip is None:
            return {}
        features = self._image_features(image)
        scores: dict[str, float] = {}
        if text is not None:
            if text not in self._text_features:
                self._text_features[text] = self.clip.encode_texts([text])[0]
            scores["clip_text"] = float(clip_text_similarity(features, self._text_features[text])[0, 0])
        if self.reference is not None:
            if self._reference_features is None:
                self._reference_features = self._image_features(self.reference)
            scores["clip_image"] = float(clip_image_similarity(features, self._reference_features)[0])
        return scores

    def _image_features(self, image: str) -> np.ndarray:
        assert self.clip is not None
        features, ok = self.clip.encode_images([str(inside(self.run_dir, image))])
        if not ok:
            raise ScoringError(f"CLIP cannot read {image}")
        return features

    # one image --------------------------------------------------------------------------------------------

    def measure(self, image: str, phase: str, questions: Sequence[Question]) -> Judged:
        text = None if phase == "invert" else self.config.query
        measured = Measured(scores=self.clip_scores(image, text))
        calls: list[LLMCall] = []
        kind = self.config.score
        if kind == "dsg":
            answers, calls = self.answer(image, questions)
            measured.answers = answers
            measured.scores["dsg"] = dsg_score(questions, answers)
            measured.critique = dsg_critique(questions, answers)
            main = measured.scores["dsg"]
        elif kind == "rating":
            rating, calls = self.rate(image, text)
            measured.scores["rating"] = float(rating.rating)
            measured.critique = rating_critique(rating)
            main = rating.normalized
        else:
            main = measured.scores["clip_text" if text is not None else "clip_image"]
        if phase != "edit":
            return Judged(main, measured, calls)
        subject = measured.scores["clip_image"]
        measured.scores["subject"], measured.scores["edit"] = subject, main
        measured.critique = f"subject similarity to the reference {subject:.2f}; " + (
            measured.critique or f"edit text similarity {main:.3f}"
        )
        return Judged(edit_score(subject, main, self.config.subject_weight), measured, calls)

    def _chat(self) -> VisionChat:
        if self.chat is None:
            raise ScoringError(f"the {self.config.score} score needs a vision chat model (--critic)")
        return self.chat
