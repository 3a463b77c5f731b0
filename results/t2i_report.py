"""What a text-to-image run did: ``summarize_t2i`` (the JSON of ``show --json``) and a report with the images
of every iteration side by side (``report.md`` and ``report.html`` in the run directory, built by
results/render.py like the classification report; images linked by their relative paths so the directory
can be moved or zipped as it is)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptclimb.graph.runs import read_status
from promptclimb.graph.t2i.context import REFERENCE_FILE
from promptclimb.graph.t2i.session import current_t2i_state, load_t2i_config
from promptclimb.graph.t2i.state import T2ICandidate, T2IConfig
from promptclimb.llm.pricing import cost_text
from promptclimb.nodes.t2i.rank import ranked
from promptclimb.results.render import (
    REPORT_HTML,
    REPORT_MD,
    Block,
    Code,
    Figure,
    Inline,
    Note,
    Strong,
    write_document,
)

__all__ = ["REPORT_HTML", "REPORT_MD", "summarize_t2i", "write_report"]


def candidate_row(c: T2ICandidate) -> dict[str, Any]:
    row: dict[str, Any] = {
        "prompt": c.prompt,
        "image": c.image,
        "score": c.score,
        "scores": c.scores,
        "phase": c.phase,
        "iteration": c.iteration,
        "index": c.index,
        "source": c.source,
        "critique": c.critique,
    }
    if c.revised_prompt:
        row["revised_prompt"] = c.revised_prompt
    return row


def history(candidates: list[T2ICandidate]) -> list[dict[str, Any]]:
    """Per (phase, iteration): images made, their best score, and the best so far in the phase."""
    steps: dict[tuple[str, int], list[float]] = {}
    order: list[tuple[str, int]] = []
    for c in sorted(candidates, key=lambda c: (c.phase == "edit", c.iteration, c.index)):
        key = (c.phase, c.iteration)
        if key not in steps:
            order.append(key)
        steps.setdefault(key, []).append(c.score)
    rows, best, phase = [], float("-inf"), None
    for key in order:
        if key[0] != phase:
            best, phase = float("-inf"), key[0]
        best = max(best, *steps[key])
        rows.append(
            {
                "phase": key[0],
                "iteration": key[1],
                "images": len(steps[key]),
                "best": max(steps[key]),
                "best_so_far": best,
            }
        )
    return rows


def summarize_t2i(run_dir: Path) -> dict[str, Any]:
    config = load_t2i_config(run_dir)
    status, reason = read_status(run_dir)
    state = current_t2i_state(run_dir) or {}
    candidates = state.get("candidates", [])
    usage, images, final = state.get("usage"), state.get("image_usage"), state.get("final")
    llm_cost = usage.cost_usd if usage else 0.0
    image_cost = images.cost_usd if images else 0.0
    return {
        "run_id": run_dir.name,
        "run_dir": str(run_dir),
        "kind": config.kind,
        "status": status,
        "reason": reason,
        "phase": state.get("phase"),
        "iterations_done": state.get("iterations_done", 0),
        "llm_calls": usage.calls if usage else 0,
        "usage": usage.model_dump() if usage else None,
        "images": images.model_dump() if images else None,
        "cost_usd": llm_cost + image_cost,
        "candidates_scored": len(candidates),
        "leaderboard": [candidate_row(c) for c in ranked(candidates)],
        "history": history(candidates),
        "questions": [q.model_dump() for q in state.get("questions", [])],
        "recovered": state.get("recovered"),
        "rejections": [r.model_dump() for r in state.get("rejections", [])],
        "final": final.model_dump() if final else None,
        "config": config.model_dump(),
    }


def fmt(score: float, config: T2IConfig, phase: str) -> str:
    if config.score == "clip" and phase != "edit":
        return f"{score:.3f}"
    return f"{100 * score:.0f}%"


def by_iteration(candidates: list[T2ICandidate]) -> list[tuple[str, int, list[T2ICandidate]]]:
    groups: dict[tuple[str, int], list[T2ICandidate]] = {}
    for c in sorted(candidates, key=lambda c: (c.phase == "edit", c.iteration, c.index)):
        groups.setdefault((c.phase, c.iteration), []).append(c)
    return [(phase, iteration, items) for (phase, iteration), items in groups.items()]


def what(config: T2IConfig) -> str:
    if config.kind == "t2i":
        return f'Text-to-image: "{config.query}"'
    if config.kind == "invert":
        return "Prompt inversion of the reference image"
    return f'Personalization: the reference\'s subject in "{config.query}"'


def header_blocks(run_dir: Path, summary: dict[str, Any], config: T2IConfig) -> list[Block]:
    images = summary["images"]["images"] if summary["images"] else 0
    cost = cost_text(summary["cost_usd"], (summary["usage"] or {}).get("unpriced_calls", 0))
    blocks = [
        Block("h1", [summary["run_id"]]),
        Block("p", [what(config)]),
        Block(
            "p",
            [
                "status ", Strong(summary["status"]), ", generator ", Code(config.generator), ", critic ",
                Code(config.critic), ", score ", Code(config.score),
                f"; {images} images, {summary['llm_calls']} LLM calls, {cost}",
            ],
        ),
    ]  # fmt: skip
    if (run_dir / REFERENCE_FILE).exists():
        blocks.append(Block("figures", figures=[Figure(REFERENCE_FILE, ["reference"])]))
    return blocks


def best_blocks(summary: dict[str, Any], config: T2IConfig) -> list[Block]:
    final, blocks = summary["final"], []
    if final:
        first = final["baseline"]
        base = "" if first is None else f" (first prompt: {fmt(first, config, final['phase'])})"
        caption = [Strong(fmt(final["score"], config, final["phase"])), f"{base}: ", Code(final["prompt"])]
        blocks += [Block("h2", ["Best"]), Block("figures", figures=[Figure(final["image"], caption)])]
    if summary["recovered"]:
        blocks.append(Block("p", ["Recovered prompt (inversion): ", Code(summary["recovered"])]))
    return blocks


def report_blocks(run_dir: Path, summary: dict[str, Any], candidates: list[T2ICandidate]) -> list[Block]:
    """The report of a text-to-image run: the images of every iteration side by side."""
    config = T2IConfig.model_validate(summary["config"])
    blocks = header_blocks(run_dir, summary, config) + best_blocks(summary, config)
    blocks.append(Block("h2", ["Iterations"]))
    for phase, iteration, items in by_iteration(candidates):
        blocks.append(Block("h3", [f"{phase}, iteration {iteration}"]))
        blocks.append(Block("figures", figures=[Figure(c.image, caption(c, config)) for c in items]))
    return blocks


def caption(c: T2ICandidate, config: T2IConfig) -> Inline:
    text: Inline = [Strong(fmt(c.score, config, c.phase)), " ", Code(c.prompt)]  # fenced: never markup
    return [*text, Note(c.critique)] if c.critique else text


def write_report(run_dir: Path) -> tuple[Path, Path]:
    summary = summarize_t2i(run_dir)
    state = current_t2i_state(run_dir) or {}
    candidates = state.get("candidates", [])
    return write_document(run_dir, report_blocks(run_dir, summary, candidates), summary["run_id"])
