"""A classification run: its inputs (data, pool), models (scorer, LLM), context, and its row of the kinds
table. Read top to bottom, ``open_run`` is what a start or a resume builds before the driver takes over."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from promptclimb.evaluators.base import DualEncoder
from promptclimb.evaluators.cache import FeatureStore
from promptclimb.evaluators.classify.data import FewShotDataset
from promptclimb.evaluators.classify.errors import DataError
from promptclimb.evaluators.classify.registry import (
    check_modality,
    check_spec_modality,
    load_any_dataset,
    load_backbone,
    untrusted_reason,
)
from promptclimb.evaluators.classify.scorer import ClipScorer, default_cache_dir
from promptclimb.evaluators.classify.texts import TextDataset
from promptclimb.graph.checkpoint import open_checkpointer
from promptclimb.graph.config import RunConfig
from promptclimb.graph.context import Context
from promptclimb.graph.history import classify_boundary
from promptclimb.graph.runs import (
    append_call,
    append_log,
    check_same_data,
    create_run,
    data_record,
    load_config,
    read_calls,
)
from promptclimb.graph.session import current_state
from promptclimb.graph.state import Candidate, initial_state
from promptclimb.graph.wiring import build_graph
from promptclimb.llm.backends import ChatBackend, open_backend
from promptclimb.llm.credentials import endpoint_needs_consent, llm_file_reason
from promptclimb.llm.errors import LLMUnavailable
from promptclimb.llm.proposer import Proposer
from promptclimb.llm.records import Usage
from promptclimb.nodes.propose import BudgetReached
from promptclimb.nodes.rank import ranked
from promptclimb.prompts import meta
from promptclimb.prompts.pools import load_pool
from promptclimb.results.summary import summarize
from promptclimb.session import driver, tracking
from promptclimb.session.kinds import CLASSIFY, Kind
from promptclimb.session.lifecycle import Opened

Dataset = FewShotDataset | TextDataset
RESUME_OVERRIDES = (
    "data",  # a moved dataset: data.json's check still refuses any other data
    "max_llm_calls",
    "max_cost",
    "llm",
    "llm_base_url",
    "llm_api_key_env",
    "llm_rpm",
    "llm_tpm",
    "track",
)


def load_data(config: RunConfig) -> Dataset:
    return load_any_dataset(
        config.data,
        **config.draw(),  # type: ignore[arg-type]
        text_column=config.text_column,
        label_column=config.label_column,
    )


def load_inputs(config: RunConfig) -> tuple[Dataset, list[str]]:
    """Check the data and the initial pool before anything is created or spent."""
    pool = load_pool(config.pool, size=config.pool_size, seed=config.seed, draw=config.pool_draw())
    dataset = load_data(config)
    if config.input_texts and not isinstance(dataset, TextDataset):
        raise DataError("--input-texts needs a CSV text set: an image cannot be a class text")
    if isinstance(dataset, TextDataset):
        dataset.check_test()  # a test.csv finalize could not read would fail the run after every LLM step
    return dataset, pool


def task_description(config: RunConfig, dataset: Dataset) -> str:
    """The one concrete line that tells the LLM what the data is (--task, or from the dataset)."""
    if config.task:
        return " ".join(config.task.split())
    modality = dataset.modality
    line = meta.TASK_DEFAULT.get(modality, meta.TASK_DEFAULT["image"])
    line = line.replace("<<N_CLASSES>>", str(len(dataset.classnames)))
    return line.replace("<<NAME>>", meta.quoted(dataset.name))  # a folder name: quoted data


def open_scorer_model(config: RunConfig, dataset: Dataset | None = None) -> DualEncoder:
    """The run's scorer model (CLIP, a sentence encoder, a plugin), checked against the data."""
    if dataset is not None:  # before loading: a CSV text set with the default CLIP is told at once
        check_spec_modality(dataset, config.scorer_spec())
    backbone = load_backbone(config.scorer_spec(), device=config.device, precision=config.precision)
    if dataset is not None:
        check_modality(dataset, backbone, config.scorer_spec())
    return backbone


@contextmanager
def open_models(
    config: RunConfig, dataset: Dataset | None = None
) -> Iterator[tuple[DualEncoder, ChatBackend]]:
    """Load the scorer's model and open the LLM backend (an embedded server is stopped on exit)."""
    backbone = open_scorer_model(config, dataset)
    with open_backend(config.llm, **config.backend_options()) as backend:  # type: ignore[arg-type]
        yield backbone, backend


def check_endpoint(backend: Any) -> None:
    """An unreachable LLM server is bad input: found before a run directory exists or the pool is scored."""
    from promptclimb.llm.reach import check_reachable

    if backend.base_url:
        check_reachable(backend.base_url)


def make_context(
    config: RunConfig,
    run_dir: Path,
    dataset: Dataset,
    backbone: DualEncoder,
    backend: ChatBackend | None,
) -> Context:
    if backbone.random_weights:
        append_log(run_dir, [f"WARNING: {config.scorer_spec()} has no weights: it runs with RANDOM weights"])
    scorer = ClipScorer(backbone, dataset, config.cache_dir or default_cache_dir())
    proposer = None
    if backend is not None:
        # The log so far: a step asked again after a kill reuses the replies it already paid for.
        recorder = lambda call: append_call(run_dir, call)  # noqa: E731
        proposer = Proposer(backend, recorder=recorder, logged=read_calls(run_dir))
    examples = dataset.examples(config.examples) if isinstance(dataset, TextDataset) else []
    return Context(
        config=config,
        scorer=scorer,
        proposer=proposer,
        dataset_name=dataset.name,
        task=task_description(config, dataset),
        modality=backbone.modality,
        examples=examples,
    )


@contextmanager
def open_run(
    config: RunConfig, runs_dir: Path | None = None, run_dir: Path | None = None
) -> Iterator[Opened]:
    """A new run under ``runs_dir`` (created once the data, the models and the endpoint are checked), or the
    existing ``run_dir`` (its data checked against data.json); models stay open while the caller drives."""
    # The pool matters on a resume only when the run was killed before its first checkpoint.
    dataset, pool = load_inputs(config)
    if run_dir is not None:
        check_same_data(run_dir, dataset)
    with open_models(config, dataset) as (backbone, backend):
        check_endpoint(backend)
        done = {"iterations_done": 0, "restarts_done": 0}
        if run_dir is None:
            assert runs_dir is not None
            # A feature cache that cannot be opened (a full or read-only disk) is bad input: it fails here,
            # before a run directory exists (exit 2, nothing created).
            FeatureStore(config.cache_dir or default_cache_dir()).close()
            run_dir = create_run(runs_dir, config, data_record(dataset))
        else:
            done = progress_so_far(run_dir)
        yield Opened(run_dir, make_context(config, run_dir, dataset, backbone, backend), pool, done)


def progress_so_far(run_dir: Path) -> dict[str, Any]:
    """Where a resumed run stands, for its progress view's first line: counts, LLM usage, its place."""
    state = current_state(run_dir) or {}
    usage = state.get("usage")
    return {
        "iterations_done": state.get("iterations_done", 0),
        "restarts_done": state.get("restarts_done", 0),
        "restart": state.get("restart", 0),
        "iteration": state.get("iteration", 0),
        "candidates_scored": len(state.get("candidates", [])),
        "usage": usage.model_dump() if usage else None,
    }


class LaneProgress:
    """Turns the updates of concurrent lanes into run-wide ones for the progress display: iterations and
    LLM usage summed over lanes, the leaderboard merged. Display only; the state is merged by gather."""

    def __init__(self, on_update: Callable[[str, dict[str, Any]], None], config: RunConfig) -> None:
        self.on_update, self.config = on_update, config
        self.done: dict[str, int] = {}
        self.usage: dict[str, Usage] = {}
        self.best: dict[str, list[Candidate]] = {}
        self.step: dict[str, dict[str, int]] = {}  # lane -> its restart and iteration

    def __call__(self, lane: str, node: str, update: dict[str, Any]) -> None:
        step = self.step.setdefault(lane, {})
        step.update({key: update[key] for key in ("restart", "iteration") if key in update})
        if "iterations_done" in update:
            self.done[lane] = update["iterations_done"]
        if "usage" in update:
            self.usage[lane] = update["usage"]
        if update.get("candidates"):
            self.best[lane] = update["candidates"][:5]
        merged = {**update, **step}
        if "iterations_done" in update:
            merged["iterations_done"] = sum(self.done.values())
        if "usage" in update:
            merged["usage"] = functools.reduce(Usage.plus, self.usage.values(), Usage())
        if update.get("candidates"):
            tops = {c.template: c for top in self.best.values() for c in top}
            merged["candidates"] = ranked(list(tops.values()), self.config)
        self.on_update(node, merged)


def skipped_images(context: Context) -> list[str]:
    skipped = getattr(context.scorer, "skipped_images", {})
    return [f"skipped {n} unreadable images in split {k}" for k, n in skipped.items() if n]


def endpoint_reasons(config: RunConfig, given: dict[str, Any]) -> list[str]:
    """Credentials go only where the user sent them: a run's own endpoint needs --trust-run-llm."""
    from_user = {k for k, f in (("base_url", "llm_base_url"), ("key_env", "llm_api_key_env")) if f in given}
    reason = endpoint_needs_consent(
        "LLM", config.llm_base_url, config.llm_api_key_env, "OPENAI_API_KEY", from_user
    )
    reasons = (reason, llm_file_reason(config.llm, "llm" in given), tracking.consent_reason(config, given))
    return [r for r in reasons if r]


def code_reasons(config: RunConfig) -> list[str]:
    """A plugin scorer (code to import) or a checkpoint file (TorchScript may carry code) named by a run's
    config.json."""
    reason = untrusted_reason(config.scorer_spec())  # --clip too: every command loads the same spec
    return [reason] if reason else []


def execute(
    run_dir: Path,
    context: Context,
    pool: list[str],
    on_update: Callable[[str, dict[str, Any]], None],
    prepare: Callable[[], None] | None = None,
) -> tuple[str, str | None]:
    """Start or resume a classification run; returns (status, reason)."""
    return driver.execute(run_dir, KIND, context, pool, on_update, prepare)


KIND = Kind(
    name=CLASSIFY,
    load_config=load_config,
    overrides=RESUME_OVERRIDES,
    resumable=(BudgetReached, LLMUnavailable),
    checkpointer=open_checkpointer,
    graph=lambda saver, config: build_graph(saver, config.concurrent()),
    boundary=classify_boundary,
    initial=lambda config, pool: initial_state(pool),
    lanes=lambda config: config.parallel_restarts if config.concurrent() else 1,
    lane_progress=LaneProgress,
    closing_log=skipped_images,
    open=open_run,
    summarize=summarize,
    endpoint_reasons=endpoint_reasons,
    code_reasons=code_reasons,
    endpoint_hint="give --llm-base-url and --llm-api-key-env (--llm for a model file, --track for the store)",
    code_hint="check the plugin or file first",
    finished=lambda run_dir: [],
)
