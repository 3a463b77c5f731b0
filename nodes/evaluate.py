"""Evaluate: score the pending templates on the training split (and validation, when there is one).

The starting pool (24 templates or more: tens of seconds on a large split) is scored a few templates at a
time, each step reported on LangGraph's custom stream (``POOL_PROGRESS``) for the progress views.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from promptclimb.evaluators.base import Scorer
from promptclimb.graph.context import Context
from promptclimb.graph.state import Candidate, OptimState
from promptclimb.prompts.handmade import baseline_templates
from promptclimb.prompts.template import normalize

POOL_PROGRESS = "pool"  # custom-stream key: (templates scored, templates to score) of the starting pool
INPUTS_PROGRESS = "inputs"  # custom-stream key: the split whose inputs are being encoded before scoring
POOL_CHUNK = 4  # templates scored per progress step (scores do not depend on it: one template at a time)


def unscored(pending: list[str], candidates: list[Candidate]) -> list[str]:
    """Pending templates not scored yet, in order, each once (normalized comparison)."""
    seen = {normalize(c.template) for c in candidates}
    fresh: list[str] = []
    for template in pending:
        key = normalize(template)
        if key not in seen:
            seen.add(key)
            fresh.append(template)
    return fresh


def scored(
    scorer: Scorer, templates: list[str], restart: int, iteration: int, source: str
) -> list[Candidate]:
    """New candidates: the templates scored on train (and val, when the dataset has one)."""
    train = scorer.score(templates, "train") if templates else []
    val = scorer.score(templates, "val") if templates and scorer.has_split("val") else [None] * len(train)
    return [
        Candidate(
            template=t.template,
            train_acc=t.accuracy,
            val_acc=v.accuracy if v is not None else None,
            margin=t.margin,
            restart=restart,
            iteration=iteration,
            source=source,
            truncated=t.truncated,
            train_correct=t.n_correct,
            train_n=t.n_images,
            val_correct=v.n_correct if v is not None else 0,
            val_n=v.n_images if v is not None else 0,
        )
        for t, v in zip(train, val, strict=True)
    ]


def evaluate(state: OptimState, runtime: Runtime[Context]) -> dict:
    context = runtime.context
    scorer = context.scorer
    pending = state["pending"]
    source = state.get("pending_source", "pool")
    if source == "pool" and not state["candidates"] and context.config.with_baselines():
        # What a user would type first is always a candidate: a run never selects less on its data.
        pending = [*baseline_templates(context.dataset_name, context.modality), *pending]
    templates = unscored(pending, state["candidates"])
    if source != "pool":
        new = scored(scorer, templates, state["restart"], state["iteration"], source)
        return {"candidates": [*state["candidates"], *new], "pending": []}
    write = runtime.stream_writer
    prepare = getattr(scorer, "prepare", None)  # encode the inputs first, so the counts below mean templates
    for split in ("train", "val") if prepare is not None and templates else ():
        if split == "train" or scorer.has_split(split):
            write({INPUTS_PROGRESS: split})
            prepare(split)
    new = []
    write({POOL_PROGRESS: (0, len(templates))})
    for start in range(0, len(templates), POOL_CHUNK):
        chunk = templates[start : start + POOL_CHUNK]
        new += scored(scorer, chunk, state["restart"], state["iteration"], source)
        write({POOL_PROGRESS: (len(new), len(templates))})
    return {"candidates": [*state["candidates"], *new], "pending": []}
