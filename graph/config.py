"""Everything a run needs, saved in the run directory so that ``resume`` rebuilds the same run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

DEFAULT_CLIP = "openai/clip-vit-base-patch32"
# Classes a class step asks for. Where the inputs are class texts the LLM's texts added 0.0-0.3 points for
# 3x a narrow step's time (bench/RESULTS.md), so the default asks for a third of them there.
CLASS_BATCH, INPUT_TEXTS_CLASS_BATCH = 6, 2
ADOPT_NEAREST = 32  # classes an LLM text is offered to besides its own (bench/RESULTS.md, 2026-12-09)
FeedbackMode = Literal["pos+neg", "pos", "neg", "none"]
MetaStyle = Literal["compact", "chat", "liu2024"]
SearchSpace = Literal["templates", "classes"]

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

# What the LLM writes (``--space``).
SEARCH_SPACES: dict[str, str] = {
    "templates": "one template shared by all classes (the paper's search space)",
    "classes": "class-specific prompts: per class, short texts or descriptions in the inputs' own voice, "
    "written for the most confused classes and kept class by class where they raise selection accuracy "
    "(CuPL/ProAPO-style), on top of a template ensemble selected without the LLM",
}

# Which paper setting each feedback mode reproduces (Liu et al., CVPR 2024, ablation of feedback).
FEEDBACK_MODES: dict[str, str] = {
    "pos+neg": "best and worst templates with scores (the paper's feedback; --meta chat shows scores)",
    "pos": "best templates only (positive-feedback ablation)",
    "neg": "worst templates only (negative-feedback ablation)",
    "none": "no scores shown: the LLM resamples templates (no-feedback ablation)",
}


class RunConfig(BaseModel):
    """Each field's description is its command-line option's help (cli/options.py makes the options)."""

    # data
    data: str = Field(description="dataset directory (image folders, CoOp layout, ...)")
    layout: str = Field("auto", description="auto | folders | flat | named | coop | csv")
    coop_name: str | None = Field(None, description="CoOp dataset name when --layout coop cannot guess it")
    class_names: Literal["coop", "clip"] = Field(
        "coop",
        description="CoOp datasets: the split files' names (coop) or OpenAI CLIP's published ones (clip, the "
        "paper)",
    )
    sampler: Literal["promptclimb", "coop"] = Field(
        "promptclimb",
        description="few-shot draw: promptclimb's (row-order independent) or CoOp's exact one (coop, the "
        "paper)",
    )
    shots: int = Field(1, ge=1, description="images per class for training")
    seed: int = Field(1, description="few-shot sampling seed (paper: 1, 2, 3)")
    text_column: str | None = Field(
        None, description="CSV text datasets: the text column (default: found by name)"
    )
    label_column: str | None = Field(
        None, description="CSV text datasets: the label column (default: found by name)"
    )
    task: str | None = Field(
        None, description="one line describing the data for the LLM (default: from the dataset)"
    )
    # the scorer: a spec (evaluators/classify/registry.py) or, when None, CLIP ``clip`` through transformers
    scorer: str | None = Field(
        None,
        description="the scorer model: hf:<CLIP id or dir> (default: hf:--clip), siglip:<SigLIP id or dir>, "
        "openai:<RN50|RN101|ViT-B/16|...|file.pt> (OpenAI's checkpoints, torch only), "
        "open_clip:<arch>/<pretrained> (needs open_clip), "
        "text:<sentence encoder id or dir> (CSV text datasets), or <plugin>:<arg> from the "
        "promptclimb.scorers entry points",
    )
    clip: str = Field(DEFAULT_CLIP, description="Hugging Face id or local directory")
    precision: str = Field("auto", description="auto | fp32 | bf16 | fp16")
    device: str | None = Field(None, description="cuda | mps | cpu (default: best available)")
    cache_dir: str | None = Field(
        None, description="feature cache (default $PROMPTCLIMB_CACHE or ~/.cache/promptclimb)"
    )
    # optimizer LLM
    llm: str | None = Field(
        None, description="provider:model, e.g. openai:gpt-4o-mini (default: embedded local model)"
    )
    llm_base_url: str | None = Field(
        None, description="base URL of an OpenAI-compatible server (vLLM, Ollama, ...)"
    )
    llm_api_key_env: str | None = Field(None, description="environment variable holding the API key")
    temperature: float = Field(1.0, ge=0, allow_inf_nan=False, description="LLM sampling")
    # the provider's rate limits, shared by the concurrent runs of a process (llm/ratelimit.py)
    llm_rpm: float | None = Field(
        None,
        gt=0,
        description="at most this many LLM requests per minute to the provider, shared by concurrent runs "
        "(default $PROMPTCLIMB_LLM_RPM for remote providers, else none)",
    )
    llm_tpm: float | None = Field(
        None, gt=0, description="at most this many LLM tokens per minute (default $PROMPTCLIMB_LLM_TPM)"
    )
    # algorithm
    pool: str = Field("caption", description="initial pool: a name or a file of templates")
    pool_size: int | None = Field(None, ge=1, description="random sample of this many pool templates")
    iterations: int = Field(10, ge=0, description="LLM iterations per restart")
    restarts: int = Field(3, ge=1, description="fresh conversations")
    # Concurrent restarts do not see each other's templates until they merge (LangGraph Send fan-out).
    parallel_restarts: int = Field(
        1,
        ge=1,
        description="restarts climbed at once, each its own conversation (1: one after another); they split "
        "--max-llm-calls and --max-cost equally",
    )
    proposals: int | None = Field(
        None, ge=1, description="templates asked per call (default 8 compact, 3 chat)"
    )
    top_k: int = Field(5, ge=1, description="best templates shown to the LLM")
    bottom_k: int = Field(5, ge=0, description="worst templates shown")
    feedback: FeedbackMode = Field("pos+neg", description="feedback mode")
    meta: MetaStyle = Field(
        "compact",
        description="compact: promptclimb's loop; chat: the conversational variant; liu2024: Liu et al.'s "
        "released loop (its defaults: 1 restart, 3 best + 3 worst, 1 template per call, 80 pool captions)",
    )
    shown: int = Field(15, ge=1, description="compact: templates shown per iteration (best, ascending)")
    examples: int = Field(
        8, ge=0, description="compact: example inputs shown (texts only; never val or test)"
    )
    max_unusable_steps: int = Field(
        3, ge=1, description="pause after N LLM steps in a row with nothing usable (resumable)"
    )
    # more examples behind each accuracy when train and val are pooled
    select_on: Literal["train", "train+val"] | None = Field(
        None, description="selection data (default: train+val compact, train chat)"
    )
    tie_break: Literal["order", "margin"] = Field(
        "order", description="ties: discovery order, or the cosine margin (not accuracy-only)"
    )
    # Older exchanges drop out (the good/bad lists carry their lesson): bounds the prompt for small context
    # windows and keeps checkpoints small.
    history_turns: int = Field(6, ge=1, description="earlier exchanges of the restart the LLM sees")
    patience: int | None = Field(
        None, ge=1, description="end a restart after N iterations without improvement"
    )
    ensemble_size: int = Field(5, ge=1, description="top templates")
    space: SearchSpace = Field(
        "classes",
        description="what the LLM writes: one template for all classes (templates) or class-specific texts "
        "(classes; docs/classes.md); default: classes, templates for --meta chat and liu2024",
    )
    class_batch: int | None = Field(
        None,
        ge=1,
        description=f"classes: classes the LLM writes for per call (default: {CLASS_BATCH}; "
        f"{INPUT_TEXTS_CLASS_BATCH} where the inputs are class texts, which leave its texts little to add)",
    )
    per_class: int = Field(2, ge=1, description="classes: texts asked per class per call")
    class_words: int = Field(
        20,
        ge=3,
        le=25,
        description="classes: class texts are asked for in fewer than N words (the grammar "
        "allows 8 characters a word): the reply's length, and so a local call's time",
    )
    input_texts: bool | None = Field(
        None,
        description="classes, text data: each class starts from its selection inputs as class texts (an "
        "input is never scored against itself); default: on for text data, off for images",
    )
    adopt: int = Field(
        ADOPT_NEAREST,
        ge=0,
        description="classes: after the last step each text the LLM wrote is offered to the N other classes "
        "nearest to it, kept where it raises selection accuracy (no LLM call); 0: off",
    )
    seed_baselines: bool | None = Field(
        None,
        description="the bare class name and the hand-made template join the initial pool, so a run never "
        "selects less than what a user would type (default: on for compact and classes, off for chat)",
    )
    # budgets
    max_llm_calls: int | None = Field(None, ge=0, description="stop (resumable) after this many LLM calls")
    max_cost: float | None = Field(
        None, ge=0, description="stop (resumable) after this estimated cost in USD"
    )
    # tracking (session/tracking.py)
    track: str | None = Field(
        None,
        description="mlflow or mlflow:URI: log the config, one metric step per iteration, the call log and "
        "the report to MLflow (pip install 'promptclimb[mlflow]'; default store ./mlruns or "
        "$MLFLOW_TRACKING_URI)",
    )

    @field_validator("track")
    @classmethod
    def _tracker_named(cls, value: str | None) -> str | None:
        """Only MLflow is known; "none" turns tracking off (a resume's --track none)."""
        if value is None or value.strip().lower() in ("", "none"):
            return None
        if value.partition(":")[0] != "mlflow":
            raise ValueError(f"--track takes mlflow or mlflow:URI, not {value!r}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _liu2024_defaults(cls, data: object) -> object:
        """--meta liu2024 brings the released code's settings for every option the user left out."""
        if isinstance(data, dict) and data.get("meta") == "liu2024":
            data = {**LIU2024_DEFAULTS, **{k: v for k, v in data.items() if v is not None}}
        if isinstance(data, dict) and data.get("space") is None:
            # The template styles (chat, liu2024) search one shared template; compact defaults to classes.
            data = {**data, "space": "templates" if data.get("meta") in ("chat", "liu2024") else "classes"}
        return data

    def asked(self) -> int:
        """Templates asked of the LLM per call."""
        return self.proposals or {"compact": 8, "chat": 3, "liu2024": 1}[self.meta]

    def pool_draw(self) -> Literal["promptclimb", "liu2024"]:
        """How --pool-size templates are drawn from the pool: the released code's draw for liu2024."""
        return "liu2024" if self.meta == "liu2024" else "promptclimb"

    def classes_per_call(self, inputs_are_class_texts: bool) -> int:
        """Classes a class step asks the LLM to write for: --class-batch, else the default for the setting."""
        if self.class_batch is not None:
            return self.class_batch
        return INPUT_TEXTS_CLASS_BATCH if inputs_are_class_texts else CLASS_BATCH

    def with_baselines(self) -> bool:
        """Whether the bare class name and the hand-made template(s) join the initial pool."""
        if self.seed_baselines is not None:
            return self.seed_baselines
        return self.meta == "compact" or self.space == "classes"

    def selection(self) -> str:
        """What selection (and the LLM's view) scores templates on: "train" or "train+val"."""
        pooled = self.meta == "compact" or self.space == "classes"
        return self.select_on or ("train+val" if pooled else "train")

    def concurrent(self) -> bool:
        """Whether restarts climb concurrently (the fan-out graph) rather than one after another."""
        # (class-specific prompts climb one restart after another: their classes follow earlier steps)
        templates = self.space == "templates"
        return templates and self.parallel_restarts > 1 and self.restarts > 1 and self.iterations > 0

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
        from promptclimb.graph.runs import write_file  # (runs imports this module)

        write_file(path, self.model_dump_json(indent=2) + "\n")  # atomic; a link planted at path stays put

    @classmethod
    def load(cls, path: Path) -> RunConfig:
        return cls.from_saved(json.loads(path.read_text()))

    @classmethod
    def from_saved(cls, data: object) -> RunConfig:
        """A config.json as saved: one written before these options existed resumes as it started, one
        shared template, no baselines added to its pool and no text adopted by another class."""
        if isinstance(data, dict):
            data = {"space": "templates", "seed_baselines": False, "adopt": 0, **data}
        return cls.model_validate(data)
