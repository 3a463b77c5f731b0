"""The text-to-image graph. Routing lives here only.

- START -> questions -> start_phase -> generate: one image per step, looping while prompts are pending;
- generate -> rank -> feedback -> propose -> generate ... until ``phase_done``;
- then rank -> start_edit -> questions ... (personalize, after the inversion phase),
- or rank -> finalize -> END.
"""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from promptclimb.graph.t2i.context import T2IContext
from promptclimb.graph.t2i.state import ImageUsage, T2IConfig, T2IState
from promptclimb.llm.records import Usage
from promptclimb.nodes.t2i.feedback import feedback
from promptclimb.nodes.t2i.generate import generate
from promptclimb.nodes.t2i.phase import finalize, start_edit
from promptclimb.nodes.t2i.propose import propose, start_phase
from promptclimb.nodes.t2i.questions import questions
from promptclimb.nodes.t2i.rank import phase_done, rank


def after_generate(state: T2IState) -> str:
    return "generate" if state["pending"] else "rank"


def after_rank(state: T2IState, runtime: Runtime[T2IContext]) -> str:
    config = runtime.context.config
    if not phase_done(state, config):
        return "feedback"
    if config.kind == "personalize" and state["phase"] == "invert":
        return "start_edit"
    return "finalize"


def build_t2i_graph(checkpointer: BaseCheckpointSaver | None = None) -> CompiledStateGraph:
    builder = StateGraph(T2IState, context_schema=T2IContext)
    builder.add_node("questions", questions)
    builder.add_node("start_phase", start_phase)
    builder.add_node("generate", generate)
    builder.add_node("rank", rank)
    builder.add_node("feedback", feedback)
    builder.add_node("propose", propose)
    builder.add_node("start_edit", start_edit)
    builder.add_node("finalize", finalize)
    builder.add_edge(START, "questions")
    builder.add_edge("questions", "start_phase")
    builder.add_edge("start_phase", "generate")
    builder.add_conditional_edges("generate", after_generate, ["generate", "rank"])
    builder.add_conditional_edges("rank", after_rank, ["feedback", "start_edit", "finalize"])
    builder.add_edge("feedback", "propose")
    builder.add_edge("propose", "generate")
    builder.add_edge("start_edit", "questions")
    builder.add_edge("finalize", END)
    return builder.compile(checkpointer=checkpointer)


def initial_t2i_state(config: T2IConfig) -> T2IState:
    return T2IState(
        phase="t2i" if config.kind == "t2i" else "invert",
        questions=[],
        pending=[],
        pending_source="initial",
        candidates=[],
        conversation=[],
        iteration=0,
        iterations_done=0,
        recovered=None,
        rejections=[],
        usage=Usage(),
        image_usage=ImageUsage(),
        final=None,
    )
