"""The graph: propose -> evaluate -> rank -> feedback -> (propose | finalize). Routing lives here only.

With class-specific prompts (``--space classes``) the scored pool goes to class_feedback instead, and the
loop is class_feedback -> class_propose -> class_evaluate -> class_feedback -> (... | class_adopt), then
finalize.

The first step scores the initial pool (the input's ``pending``), so a run starts at ``evaluate``.

With concurrent restarts (``parallel_restarts`` > 1) the scored pool fans out instead: one ``climb`` task per
restart (LangGraph ``Send``), each running the lane subgraph feedback -> propose -> evaluate -> rank ->
feedback on its restart alone, then ``gather`` merges the lanes into the leaderboard and ``finalize`` runs.
"""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send

from promptclimb.graph.context import Context
from promptclimb.graph.state import OptimState
from promptclimb.nodes.class_adopt import class_adopt
from promptclimb.nodes.class_evaluate import class_evaluate
from promptclimb.nodes.class_feedback import class_feedback
from promptclimb.nodes.class_propose import class_propose
from promptclimb.nodes.evaluate import evaluate
from promptclimb.nodes.feedback import feedback
from promptclimb.nodes.finalize import finalize
from promptclimb.nodes.lanes import climber, gather, lane_feedback
from promptclimb.nodes.propose import propose
from promptclimb.nodes.rank import rank


def after_feedback(state: OptimState, runtime: Runtime[Context]) -> str:
    config = runtime.context.config
    # No LLM iterations asked (--iterations 0): the pool alone is the run, as --dry-run plans it.
    if state["restarts_done"] >= config.restarts or config.iterations == 0:
        return "finalize"
    return "propose"


def after_class_feedback(state: OptimState, runtime: Runtime[Context]) -> str:
    return "class_adopt" if after_feedback(state, runtime) == "finalize" else "class_propose"


def after_rank(state: OptimState, runtime: Runtime[Context]) -> str:
    """Templates climb through feedback; class-specific prompts (--space classes) through their own loop."""
    return "class_feedback" if runtime.context.config.space == "classes" else "feedback"


def fan_out(state: OptimState, runtime: Runtime[Context]) -> list[Send] | str:
    """After the pool is scored: one climb per restart, all at once (LangGraph's max_concurrency bounds
    how many run together), or straight to finalize when no LLM iteration is asked."""
    config = runtime.context.config
    if config.iterations == 0:
        return "finalize"
    pool = [c for c in state["candidates"] if c.source == "pool"]
    return [Send("climb", {"restart": restart, "pool": pool}) for restart in range(config.restarts)]


def after_lane_feedback(state: OptimState) -> str:
    return END if state["restarts_done"] >= 1 else "propose"


def build_lane_graph(checkpointer: BaseCheckpointSaver | None = None) -> CompiledStateGraph:
    """One restart's climb. In a run it has no checkpointer of its own: it checkpoints in its parent's,
    per climb task; ``checkpointer`` is for reading a lane's state back."""
    builder = StateGraph(OptimState, context_schema=Context)
    builder.add_node("feedback", lane_feedback)
    builder.add_node("propose", propose)
    builder.add_node("evaluate", evaluate)
    builder.add_node("rank", rank)
    builder.add_edge(START, "feedback")
    builder.add_conditional_edges("feedback", after_lane_feedback, ["propose", END])
    builder.add_edge("propose", "evaluate")
    builder.add_edge("evaluate", "rank")
    builder.add_edge("rank", "feedback")
    return builder.compile(checkpointer=checkpointer)


def build_concurrent_graph(checkpointer: BaseCheckpointSaver | None = None) -> CompiledStateGraph:
    builder = StateGraph(OptimState, context_schema=Context)
    builder.add_node("evaluate", evaluate)
    builder.add_node("rank", rank)
    builder.add_node("climb", climber(build_lane_graph()))
    builder.add_node("gather", gather)
    builder.add_node("finalize", finalize)
    builder.add_edge(START, "evaluate")
    builder.add_edge("evaluate", "rank")
    builder.add_conditional_edges("rank", fan_out, ["climb", "finalize"])
    builder.add_edge("climb", "gather")
    builder.add_edge("gather", "finalize")
    builder.add_edge("finalize", END)
    return builder.compile(checkpointer=checkpointer)


def build_graph(
    checkpointer: BaseCheckpointSaver | None = None, concurrent: bool = False
) -> CompiledStateGraph:
    """The run's graph: restarts one after another, or concurrently (a run keeps the kind it started
    with: ``RunConfig.concurrent()`` is saved with it)."""
    if concurrent:
        return build_concurrent_graph(checkpointer)
    builder = StateGraph(OptimState, context_schema=Context)
    builder.add_node("propose", propose)
    builder.add_node("evaluate", evaluate)
    builder.add_node("rank", rank)
    builder.add_node("feedback", feedback)
    builder.add_node("finalize", finalize)
    builder.add_node("class_feedback", class_feedback)
    builder.add_node("class_propose", class_propose)
    builder.add_node("class_evaluate", class_evaluate)
    builder.add_node("class_adopt", class_adopt)
    builder.add_edge(START, "evaluate")
    builder.add_edge("propose", "evaluate")
    builder.add_edge("evaluate", "rank")
    builder.add_conditional_edges("rank", after_rank, ["feedback", "class_feedback"])
    builder.add_conditional_edges("feedback", after_feedback, ["propose", "finalize"])
    builder.add_conditional_edges("class_feedback", after_class_feedback, ["class_propose", "class_adopt"])
    builder.add_edge("class_propose", "class_evaluate")
    builder.add_edge("class_evaluate", "class_feedback")
    builder.add_edge("class_adopt", "finalize")
    builder.add_edge("finalize", END)
    return builder.compile(checkpointer=checkpointer)
