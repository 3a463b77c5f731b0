"""Everything a run needs, saved in the run directory so that ``resume`` rebuilds the same run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator

DEFAULT_CLIP = "openai/clip-vit-base-patch32"
FeedbackMode = Literal["pos+neg", "pos", "neg", "none"]
MetaStyle = Literal["compact", "chat", "liu2024"]

# How the LLM is asked, per iteration.
META_STYLES: dict[str, str] = {
    "compact": "promptclimb's default: one self-contained message per iteration (task, example inputs, "
    "the best templates with correct/N, ascending), more templates per call, restarts that differ",
    "chat": "the conversational variant (the loop the paper's abstract describes): one growing conversation "
    "per restart, best and worst templates with scores",
    "liu2024": "Liu et al. (released code): one self-contained user message, no system prompt, the 3 best "
    "and 3 worst templates without scores, 1 template asked, 10 iterations, no restarts",
}

# What --meta liu2024 sets when the user does not: the released code's defaults (prompts/liu2024.py).
LIU2024_DEFAULTS: dict[str, object] = {
    "restarts": 1,
    "top_k": 3,
    "bottom_k": 3,
    "iterations": 10,
    "temperature": 1.0,
    "pool": "caption-standin",
    "pool_size": 80,
}

# Which paper setting each feedback mode reproduces (Liu et al., CVPR 2024, ablation of feedback).
FEEDBACK_MODES: dict[str, str] = {
    "pos+neg": "best and worst templates with scores (the paper's feedback; --meta chat shows scores)",
    "pos": "best templates only (positive-feedback ablation)",
    "neg": "worst templates only (negative-feedback ablation)",
    "none": "no scores shown: the LLM resamples templates (no-feedback ablation)",
}


class RunConfig(BaseModel):
    # data
    data: str
    layout: str = "auto"
    coop_name: str | None = None
    # CoOp datasets: the split files' class names, or OpenAI CLIP's published ones (the paper's)
    class_names: Literal["coop", "clip"] = "coop"
    # few-shot draw: promptclimb's (independent of row order) or CoOp's exact one (the paper's protocol)
    sampler: Literal["promptclimb", "coop"] = "promptclimb"
    shots: int = Field(1, ge=1)
    seed: int = 1
    text_column: str | None = None  # CSV text datasets: column names (default: found by name)
    label_column: str | None = None
    task: str | None = None  # one line describing the data for the LLM (default: from the dataset)
    # the scorer: a spec (hf:, openai:, open_clip:, text:, plugin; evaluators/classify/registry.py) or, when
    # None, CLIP ``clip`` through transformers
    scorer: str | None = None
    clip: str = DEFAULT_CLIP
    precision: str = "auto"
    device: str | None = None
    cache_dir: str | None = None
    # optimizer LLM
    llm: str | None = None  # "provider:model"; None = the embedded local model
    llm_base_url: str | None = None
    llm_api_key_env: str | None = None
    temperature: float = 1.0
    # the provider's rate limits, shared by the concurrent runs of a process (llm/ratelimit.py); None:
    # $PROMPTCLIMB_LLM_RPM / $PROMPTCLIMB_LLM_TPM for remote providers, no limit for local servers
    llm_rpm: float | None = Field(None, gt=0)
    llm_tpm: float | None = Field(None, gt=0)
    # algorithm
    pool: str = "caption"
    pool_size: int | None = Field(None, ge=1)
    iterations: int = Field(10, ge=0)
    restarts: int = Field(3, ge=1)
    # Restarts climbed at once (each its own conversation, LangGraph Send fan-out); 1 = one after another.
    # Concurrent restarts do not see each other's templates until they merge, and split the LLM budgets.
    parallel_restarts: int = Field(1, ge=1)
    proposals: int | None = Field(None, ge=1)  # templates asked per call (default: 8 compact, 3 chat)
    top_k: int = Field(5, ge=1)
    bottom_k: int = Field(5, ge=0)
    feedback: FeedbackMode = "pos+neg"
    meta: MetaStyle = "compact"
    shown: int = Field(15, ge=1)  # compact: templates shown to the LLM per iteration (best, ascending)
    examples: int = Field(8, ge=0)  # compact: example inputs shown (texts only; never val or test)
    # LLM steps in a row that give no usable template before the run pauses (resumable)
    max_unusable_steps: int = Field(3, ge=1)
    # Selection: training accuracy, or train and val pooled (more examples behind each accuracy)
    select_on: Literal["train", "train+val"] | None = None  # default: train+val compact, train chat
    tie_break: Literal["order", "margin"] = "order"  # "margin" uses the cosine margin (not accuracy-only)
    # Exchanges of the current restart the LLM sees (older ones drop out; the good/bad lists carry their
    # lesson). Bounds the prompt for small context windows and keeps checkpoints small.
    history_turns: int = Field(6, ge=1)
    patience: int | None = Field(None, ge=1)  # early stop after this many iterations without improvement
    ensemble_size: int = Field(5, ge=1)
    # budgets
    max_llm_calls: int | None = Field(None, ge=0)
    max_cost: float | None = Field(None, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _liu2024_defaults(cls, data: object) -> object:
        """--meta liu2024 brings the released code's settings for every option the user left out."""
        if isinstance(data, dict) and data.get("meta") == "liu2024":
            return {**LIU2024_DEFAULTS, **{k: v for k, v in data.items() if v is not None}}
        return data

    def asked(self) -> int:
        """Templates asked of the LLM per call."""
        return self.proposals or {"compact": 8, "chat": 3, "liu2024": 1}[self.meta]

    def pool_draw(self) -> Literal["promptclimb", "liu2024"]:
        """How --pool-size templates are drawn from the pool: the released code's draw for liu2024."""
        return "liu2024" if self.meta == "liu2024" else "promptclimb"

    def selection(self) -> str:
        """What selection (and the LLM's view) scores templates on: "train" or "train+val"."""
        return self.select_on or ("train+val" if self.meta == "compact" else "train")

    def concurrent(self) -> bool:
        """Whether restarts climb concurrently (the fan-out graph) rather than one after another."""
        return self.parallel_restarts > 1 and self.restarts > 1 and self.iterations > 0

    def draw(self) -> dict[str, object]:
        """How the run's images (or texts) and class names are drawn from ``data``: the data loaders' keyword
        arguments, so every command that reloads a run's data (resume, report, export, transfer) gets the
        same draw."""
        return {
            "shots": self.shots,
            "seed": self.seed,
            "layout": self.layout,
            "coop_name": self.coop_name,
            "class_names": self.class_names,
            "sampler": self.sampler,
        }

    def backend_options(self) -> dict[str, object]:
        """``open_backend``'s keyword arguments for the run's LLM (everything but the "provider:model")."""
        return {
            "base_url": self.llm_base_url,
            "api_key_env": self.llm_api_key_env,
            "temperature": self.temperature,
            "rpm": self.llm_rpm,
            "tpm": self.llm_tpm,
        }

    def scorer_spec(self) -> str:
        return self.scorer or f"hf:{self.clip}"

    def save(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> RunConfig:
        return cls.model_validate(json.loads(path.read_text()))
