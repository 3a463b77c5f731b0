"""The Mermaid diagrams of the run graphs, drawn by LangGraph itself from the compiled graphs (``promptclimb
graph``): what runs is what is drawn. Compiling needs no model, no LLM and no checkpointer."""

from __future__ import annotations

# name -> what the diagram shows, in the order they are printed
DIAGRAMS: dict[str, str] = {
    "classify": "classification run (graph/wiring.py): restarts one after another",
    "concurrent": "classification run with --parallel-restarts N: one climb per restart, merged by gather",
    "t2i": "text-to-image run (graph/t2i/wiring.py): t2i, invert and personalize",
}


def mermaid(name: str) -> str:
    """The Mermaid text of graph ``name`` (a key of DIAGRAMS); subgraphs are drawn expanded."""
    if name == "t2i":
        from promptclimb.graph.t2i.wiring import build_t2i_graph

        compiled = build_t2i_graph()
    else:
        from promptclimb.graph.wiring import build_graph

        compiled = build_graph(concurrent=name == "concurrent")
    return compiled.get_graph(xray=True).draw_mermaid()
