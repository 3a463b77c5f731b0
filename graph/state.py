"""The graph state: plain, declared values only (no tensors, images or clients).

Pydantic models here are allow-listed for LangGraph's msgpack serializer (see graph/checkpoint.py), so
they come back from a checkpoint as the same classes. The leaderboard is the one list that grows with a
run; the conversation is reset at each restart and the full LLM request/reply log lives outside the state
(``llm_calls.jsonl`` in the run directory), which keeps checkpoints small.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

from pydantic import BaseModel

from promptclimb.llm.records import Usage


class Candidate(BaseModel):
    """One scored template."""

    template: str
    train_acc: float
    val_acc: float | None = None
    margin: float = 0.0
    restart: int = 0
    iteration: int = 0  # 0 = the initial pool; i >= 1 = proposed by the LLM at iteration i
    source: str = "pool"  # "pool" | "llm"
    truncated: bool = False
    # Counts behind the accuracies: the LLM is shown "correct/N", selection may pool train and val.
    train_correct: int = 0
    train_n: int = 0
    val_correct: int = 0
    val_n: int = 0


class ClassPrompt(BaseModel):
    """One class-specific prompt (``--space classes``): one the LLM wrote, or a selection input of the class
    (``--input-texts``); and whether the classifier keeps it."""

    cls: int  # class index, in the dataset's class order
    text: str
    restart: int = 0
    iteration: int = 0
    kept: bool = False  # part of the current classifier (accepted on the selection data)
    source: Literal["llm", "input"] = "llm"
    written_for: int | None = None  # an LLM text another class adopted (--adopt): the class it was asked for


class ClassifierScore(BaseModel):
    """The class-specific classifier on the selection data after a step: what the LLM is shown."""

    correct: int = 0
    total: int = 0
    per_class: list[list[int]] = []  # per class: [correct, total] on the selection data
    confusions: list[list[int]] = []  # [true class, predicted class, count], most frequent first
    misclassified: list[list[int]] = []  # [train example index, predicted class] (training inputs only)


class Rejection(BaseModel):
    """A proposal the LLM made that was never scored, and why."""

    text: str
    reason: str
    restart: int
    iteration: int


class Message(BaseModel):
    role: str  # "user" | "assistant"
    content: str


class Final(BaseModel):
    """Test-split results, computed once at the end, for the template selected on training data."""

    template: str
    train_acc: float
    test_acc: float | None
    ensemble_templates: list[str]
    ensemble_test_acc: float | None
    test_split: str  # which split served as test ("test", or "none" when the dataset has none)
    baselines: dict[str, float | None] = {}  # baseline name -> test accuracy
    # What is reported as the run's classifier: the selected template, or the top-k ensemble when it
    # beats the template on the selection data (train, or train+val); test accuracy of that choice.
    selected: str = "template"  # "template" | "ensemble" | "classes"
    selected_test_acc: float | None = None
    llm_templates_scored: int = 0  # templates the LLM contributed (0: it contributed nothing)
    # --space classes: the class-specific classifier (shared templates + kept texts per class name)
    class_templates: list[str] = []
    class_prompts: dict[str, list[str]] = {}
    class_input_texts: int = 0  # of those texts, the selection inputs themselves (--input-texts)
    classes_test_acc: float | None = None
    classes_selection_acc: float | None = None
    # --input-texts: the classifier before any LLM call (the inputs alone): what the LLM's texts add
    classes_without_llm_test_acc: float | None = None
    n_train: int = 0  # images behind each accuracy, for confidence intervals
    n_val: int = 0
    n_test: int = 0
    # Per split (train, test): where the reported classifier goes wrong, from its predictions only
    # (per-class accuracy, confused pairs, misread training inputs: evaluators/classify/confusion.py)
    diagnosis: dict[str, dict[str, Any]] = {}


class LaneOutcome(BaseModel):
    """What one restart climbed concurrently with the others hands back to the run's leaderboard."""

    restart: int
    candidates: list[Candidate]  # the templates the LLM proposed in this restart, scored
    rejections: list[Rejection]
    usage: Usage
    iterations_done: int


class OptimState(TypedDict, total=False):
    pending: list[str]  # validated templates waiting to be scored
    pending_source: str  # "pool" | "llm"
    candidates: list[Candidate]  # every scored template, best first after each rank step
    rejections: list[Rejection]
    conversation: list[Message]  # this restart's exchange (the system prompt is rebuilt from config)
    restart: int  # current restart, 0-based
    iteration: int  # LLM iterations done in the current restart
    iterations_done: int  # LLM iterations done in the whole run
    restarts_done: int
    stale: int  # iterations without a better training accuracy in the current restart
    unusable_streak: int  # LLM steps in a row that gave no usable template (pauses the run at a limit)
    last_repeats: int  # templates of the last reply that repeated one already tried
    best_in_restart: float
    usage: Usage
    final: Final | None
    # Concurrent restarts (parallel_restarts > 1): each finished restart adds its outcome here; the gather
    # node merges them into the leaderboard. Appended (a reducer): restarts finish in the same step.
    lanes: Annotated[list[LaneOutcome], operator.add]
    # --space classes: the shared template ensemble (chosen on the selection data, no LLM), the texts the LLM
    # wrote per class, the classes asked for in the current step, and the classifier's last score
    shared: list[str]
    class_prompts: list[ClassPrompt]
    pending_classes: list[ClassPrompt]  # written by the LLM in this step, not yet offered to the classifier
    targets: list[int]
    asked: list[int]  # every class asked for so far, once per step (spreads the LLM over the classes)
    classifier: ClassifierScore | None


STATE_MODELS = (Candidate, Rejection, Message, Final, Usage, LaneOutcome, ClassPrompt, ClassifierScore)


def initial_state(pool: list[str]) -> OptimState:
    return OptimState(
        pending=pool,
        pending_source="pool",
        candidates=[],
        rejections=[],
        conversation=[],
        restart=0,
        iteration=0,
        iterations_done=0,
        restarts_done=0,
        stale=0,
        unusable_streak=0,
        last_repeats=0,
        best_in_restart=0.0,
        usage=Usage(),
        final=None,
        shared=[],
        class_prompts=[],
        pending_classes=[],
        targets=[],
        asked=[],
        classifier=None,
    )
