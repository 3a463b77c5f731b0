"""Class evaluate (``--space classes``): offer the new texts to the classifier class by class, keep what
raises selection accuracy (ties: the mean margin), and drop kept texts whose removal raises it."""

from __future__ import annotations

from langgraph.runtime import Runtime

from promptclimb.graph.context import Context
from promptclimb.graph.state import OptimState
from promptclimb.nodes.class_feedback import classifier_score, kept_by_class
from promptclimb.nodes.rank import selection_splits


def class_evaluate(state: OptimState, runtime: Runtime[Context]) -> dict:
    context = runtime.context
    config = context.config
    prompts = list(state.get("class_prompts", []))
    fresh = list(state.get("pending_classes", []))
    new: dict[int, list[str]] = {}
    for prompt in fresh:
        new.setdefault(prompt.cls, []).append(prompt.text)
    before = state.get("classifier")
    report = context.scorer.climb_classes(
        state["shared"], kept_by_class(prompts), new, selection_splits(config.selection(), context.scorer)
    )
    accepted = {(cls, text) for cls, texts in report.accepted.items() for text in texts}
    dropped = {(cls, text) for cls, texts in report.dropped.items() for text in texts}
    updated = []
    for prompt in [*prompts, *fresh]:
        key = (prompt.cls, prompt.text)
        kept = (prompt.kept or key in accepted) and key not in dropped
        updated.append(prompt if kept == prompt.kept else prompt.model_copy(update={"kept": kept}))
    score = classifier_score(report)
    improved = before is None or score.correct > before.correct
    return {
        "class_prompts": updated,
        "pending_classes": [],
        "classifier": score,
        "stale": 0 if improved else state.get("stale", 0) + 1,
        "iterations_done": state["iterations_done"] + 1,
        "best_in_restart": score.correct / score.total if score.total else 0.0,
    }
