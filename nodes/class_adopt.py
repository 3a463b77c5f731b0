"""Class adopt (``--space classes``, ``--adopt N``): after the last step, each text the LLM wrote is offered
to the N other classes nearest to it, and kept by those it makes more selection inputs right (strictly: no
tie on the margin, as this search offers each text many times). No LLM call: the scorer searches the run's
texts as one library. A text asked for one class often places a neighbouring class better, and classes the
LLM was never asked about get texts too (bench/RESULTS.md, 2026-12-09)."""

from __future__ import annotations

from langgraph.runtime import Runtime

from promptclimb.graph.context import Context
from promptclimb.graph.state import OptimState
from promptclimb.nodes.class_feedback import classifier_score, kept_by_class
from promptclimb.nodes.rank import selection_splits


def class_adopt(state: OptimState, runtime: Runtime[Context]) -> dict:
    context = runtime.context
    config = context.config
    prompts = list(state.get("class_prompts", []))
    written = [p for p in prompts if p.source == "llm" and p.written_for is None]
    if config.adopt == 0 or not written or not state.get("shared"):
        return {}
    report = context.scorer.adopt_texts(
        state["shared"],
        kept_by_class(prompts),
        [(p.cls, p.text) for p in written],
        selection_splits(config.selection(), context.scorer),
        config.adopt,
    )
    adopted = [
        written[index].model_copy(update={"cls": cls, "kept": True, "written_for": written[index].cls})
        for index, cls in report.adopted
    ]
    return {"class_prompts": [*prompts, *adopted], "classifier": classifier_score(report)}
