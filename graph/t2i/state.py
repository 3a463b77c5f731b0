"""Configuration and graph state of the text-to-image tasks (t2i, invert, personalize).

Like graph/state.py: plain declared values only. Images live as PNG files in the run directory; the state
holds their paths (relative to the run directory) and scores, never pixels. The models here are allow-listed
for LangGraph's msgpack serializer by ``t2i_serializer`` so they come back from a checkpoint as themselves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypedDict

from pydantic import BaseModel, Field

from promptclimb.graph.config import DEFAULT_CLIP
from promptclimb.graph.state import STATE_MODELS
from promptclimb.llm.records import Usage

if TYPE_CHECKING:  # LangGraph loads when a run needs it, not for `promptclimb --help`
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

Kind = Literal["t2i", "invert", "personalize"]
Phase = Literal["t2i", "invert", "edit"]
ScoreKind = Literal["dsg", "rating", "clip"]
KINDS: tuple[str, ...] = ("t2i", "invert", "personalize")
DEFAULT_GENERATOR = "openai:dall-e-3"
DEFAULT_CRITIC = "openai:gpt-4o"


class T2IConfig(BaseModel):
    """Everything a text-to-image run needs, saved as the run's config.json (``kind`` tells runs apart)."""

    kind: Kind
    query: str | None = None  # t2i: the text to depict; personalize: the new situation of the subject
    reference: str | None = None  # invert, personalize: the reference image as given (copied into the run)
    # generator
    generator: str = DEFAULT_GENERATOR
    generator_base_url: str | None = None
    generator_api_key_env: str | None = None
    image_size: str | None = None
    image_quality: str | None = None
    image_price: float | None = Field(None, ge=0)
    steps: int | None = Field(None, ge=1)  # diffusers
    guidance: float | None = None  # diffusers
    device: str | None = None
    # critic and question answerer (a vision chat model)
    critic: str = DEFAULT_CRITIC
    llm_base_url: str | None = None
    llm_api_key_env: str | None = None
    temperature: float = Field(1.0, ge=0, allow_inf_nan=False)
    # scores
    score: ScoreKind = "dsg"
    clip: str | None = None  # None: DEFAULT_CLIP where CLIP is needed, no CLIP otherwise
    subject_weight: float = Field(0.5, ge=0, le=1)  # personalize: weight of subject fidelity vs the edit
    # algorithm
    iterations: int = Field(4, ge=0)
    invert_iterations: int | None = Field(None, ge=0)  # personalize: inversion phase (default: iterations)
    proposals: int = Field(2, ge=1)
    initial: int = Field(2, ge=1)  # invert: prompts the critic first writes from the reference
    top_k: int = Field(2, ge=1)  # best images shown to the critic
    bottom_k: int = Field(1, ge=0)  # worst images shown
    max_words: int = Field(60, ge=5)
    stop_when_perfect: bool = True  # dsg, rating: end a phase once an image scores 100%
    seed: int = 0
    # budgets
    max_images: int | None = Field(None, ge=0)
    max_llm_calls: int | None = Field(None, ge=0)
    max_cost: float | None = Field(None, ge=0)  # LLM and images together, USD
    track: str | None = None  # mlflow or mlflow:URI (session/tracking.py), resolved when the run starts

    def save(self, path: Path) -> None:
        from promptclimb.graph.runs import write_file  # atomic; a link planted at path stays put

        write_file(path, self.model_dump_json(indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> T2IConfig:
        return cls.model_validate(json.loads(path.read_text()))

    def clip_model(self) -> str | None:
        """The CLIP model to load: always for the clip score and for personalize (subject fidelity)."""
        if self.clip or self.score == "clip" or self.kind == "personalize":
            return self.clip or DEFAULT_CLIP
        return None

    def phase_iterations(self, phase: str) -> int:
        if phase == "invert" and self.kind == "personalize" and self.invert_iterations is not None:
            return self.invert_iterations
        return self.iterations


class Question(BaseModel):
    """One atomic yes/no question of a DSG decomposition."""

    id: int
    question: str
    category: str = "entity"  # entity | attribute | count | relation | global
    parents: list[int] = []  # questions that must hold for this one to count (entity before its colour)


class T2ICandidate(BaseModel):
    """One prompt, the image it gave and its scores."""

    prompt: str
    image: str  # PNG path relative to the run directory
    phase: Phase
    iteration: int  # 0 = the initial prompts of the phase; i >= 1 = written by the critic at iteration i
    index: int  # position within its iteration
    seed: int
    score: float  # what ranks it, in [0, 1] for dsg and rating (see t2i_scores.primary_score)
    scores: dict[str, float] = {}  # every measure computed: dsg, rating, clip_text, clip_image, subject, edit
    critique: str = ""  # the scorer's words: failed questions, the rating's reason
    answers: dict[int, bool] = {}  # DSG: the raw answer per question id
    revised_prompt: str | None = None  # what the API says it drew (DALL-E 3 rewrites prompts)
    source: str = "initial"  # "initial" | "llm"


class T2IMessage(BaseModel):
    """A conversation turn; ``images`` are run-relative paths attached to it (sent as data URLs)."""

    role: str  # "user" | "assistant"
    content: str
    images: list[str] = []


class T2IRejection(BaseModel):
    text: str
    reason: str
    phase: Phase
    iteration: int


class ImageUsage(BaseModel):
    images: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    reused: int = 0  # images found finished on disk after a kill: paid once (then), counted once (now)

    def add(self, price: float, seconds: float, reused: bool = False) -> ImageUsage:
        return ImageUsage(
            images=self.images + 1,
            cost_usd=self.cost_usd + price,
            seconds=self.seconds + seconds,
            reused=self.reused + int(reused),
        )


class T2IFinal(BaseModel):
    prompt: str
    image: str
    score: float
    scores: dict[str, float]
    phase: Phase
    baseline: float | None = None  # score of the phase's first prompt (the query itself for t2i)
    recovered: str | None = None  # personalize: the inverted prompt the edit started from


class T2IState(TypedDict, total=False):
    phase: Phase
    questions: list[Question]  # DSG questions of the phase's target (empty for other scores)
    pending: list[str]  # prompts waiting for an image
    pending_source: str
    candidates: list[T2ICandidate]  # every scored image; ranked best first within each phase
    conversation: list[T2IMessage]  # this phase's exchange (the system prompt is rebuilt from config)
    iteration: int  # critic iterations done in the current phase
    iterations_done: int  # critic iterations done in the whole run
    recovered: str | None  # personalize: best inverted prompt
    rejections: list[T2IRejection]
    usage: Usage  # LLM calls (critic, decomposition, answers, ratings)
    image_usage: ImageUsage
    final: T2IFinal | None


T2I_STATE_MODELS = (Question, T2ICandidate, T2IMessage, T2IRejection, ImageUsage, T2IFinal, Usage)


def t2i_serializer() -> JsonPlusSerializer:
    """Strict allow-list as graph/checkpoint.py, with the text-to-image models added."""
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    models = list(dict.fromkeys([*STATE_MODELS, *T2I_STATE_MODELS]))
    return JsonPlusSerializer(allowed_msgpack_modules=models)
