"""The graph: propose -> evaluate -> rank -> feedback -> (propose | finalize). Routing lives here only.

The first step scores the initial pool (the input's ``pending``), so a run starts at ``evaluate``.
"""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from promptclimb.graph.context import Context
from promptclimb.graph.state import OptimState
from promptclimb.llm.records import Usage
from promptclimb.nodes.evaluate import evaluate
from promptclimb.nodes.feedback import feedback
from promptclimb.nodes.finalize import finalize
from promptclimb.nodes.propose import propose
from promptclimb.nodes.rank import rank


def after_feedback(state: OptimState, runtime: Runtime[Context]) -> str:
    config = runtime.context.config
    # No LLM iterations asked (--iterations 0): the pool alone is the run, as --dry-run plans it.
    if state["restarts_done"] >= config.restarts or config.iterations == 0:
        return "finalize"
    return "propose"


def build_graph(checkpointer: BaseCheckpointSaver | None = None) -> CompiledStateGraph:
    builder = StateGraph(OptimState, context_schema=Context)
    builder.add_node("propose", propose)
    builder.add_node("evaluate", evaluate)
    builder.add_node("rank", rank)
    builder.add_node("feedback", feedback)
    builder.add_node("finalize", finalize)
    builder.add_edge(START, "evaluate")
    builder.add_edge("propose", "evaluate")
    builder.add_edge("evaluate", "rank")
    builder.add_edge("rank", "feedback")
    builder.add_conditional_edges("feedback", after_feedback, ["propose", "finalize"])
    builder.add_edge("finalize", END)
    return builder.compile(checkpointer=checkpointer)


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
    )
