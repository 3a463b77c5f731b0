"""What a text-to-image run did: ``summarize_t2i`` (the JSON of ``show --json``) and a report with the images
of every iteration side by side (``report.md`` and ``report.html`` in the run directory, images linked by
their relative paths so the directory can be moved or zipped as it is)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from promptclimb.graph.runs import read_status
from promptclimb.graph.t2i.context import REFERENCE_FILE
from promptclimb.graph.t2i.session import current_t2i_state, load_t2i_config
from promptclimb.graph.t2i.state import T2ICandidate, T2IConfig
from promptclimb.nodes.t2i.rank import ranked

REPORT_MD = "report.md"
REPORT_HTML = "report.html"


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


def markdown_report(run_dir: Path, summary: dict[str, Any], candidates: list[T2ICandidate]) -> str:
    config = T2IConfig.model_validate(summary["config"])
    lines = [f"# {summary['run_id']}", "", what(config), ""]
    lines += [
        f"status **{summary['status']}**, generator `{config.generator}`, critic `{config.critic}`, "
        f"score `{config.score}`; {summary['images']['images'] if summary['images'] else 0} images, "
        f"{summary['llm_calls']} LLM calls, ${summary['cost_usd']:.3f}",
        "",
    ]
    if (run_dir / REFERENCE_FILE).exists():
        lines += [f'<img src="{REFERENCE_FILE}" width="256" alt="reference">', "", "*reference*", ""]
    final = summary["final"]
    if final:
        base = (
            ""
            if final["baseline"] is None
            else f" (first prompt: {fmt(final['baseline'], config, final['phase'])})"
        )
        lines += ["## Best", "", f'<img src="{final["image"]}" width="256">', ""]
        lines += [f"**{fmt(final['score'], config, final['phase'])}**{base}: {final['prompt']}", ""]
    if summary["recovered"]:
        lines += [f"Recovered prompt (inversion): {summary['recovered']}", ""]
    lines += ["## Iterations", ""]
    for phase, iteration, items in by_iteration(candidates):
        lines += [f"### {phase}, iteration {iteration}", ""]
        lines.append("| " + " | ".join(f'<img src="{c.image}" width="192">' for c in items) + " |")
        lines.append("|" + "---|" * len(items))
        lines.append("| " + " | ".join(cell(c, config) for c in items) + " |")
        lines.append("")
    return "\n".join(lines)


def cell(c: T2ICandidate, config: T2IConfig) -> str:
    text = f"**{fmt(c.score, config, c.phase)}** {c.prompt}"
    if c.critique:
        text += f"<br>*{c.critique}*"
    return text.replace("|", "\\|").replace("\n", " ")


def html_report(run_dir: Path, summary: dict[str, Any], candidates: list[T2ICandidate]) -> str:
    config = T2IConfig.model_validate(summary["config"])
    e = html.escape
    parts = [
        "<!doctype html><meta charset='utf-8'>",
        f"<title>{e(summary['run_id'])}</title>",
        "<style>body{font-family:sans-serif;max-width:1400px;margin:auto}figure{display:inline-block;"
        "width:260px;vertical-align:top;margin:6px}img{width:256px}figcaption{font-size:13px}"
        ".crit{color:#666}</style>",
        f"<h1>{e(summary['run_id'])}</h1><p>{e(what(config))}</p>",
        f"<p>status <b>{e(summary['status'])}</b>, generator {e(config.generator)}, "
        f"critic {e(config.critic)}, "
        f"score {e(config.score)}, cost ${summary['cost_usd']:.3f}</p>",
    ]
    if (run_dir / REFERENCE_FILE).exists():
        parts.append(f"<figure><img src='{REFERENCE_FILE}'><figcaption>reference</figcaption></figure>")
    final = summary["final"]
    if final:
        parts.append("<h2>Best</h2>")
        parts.append(figure(final["image"], fmt(final["score"], config, final["phase"]), final["prompt"], ""))
    for phase, iteration, items in by_iteration(candidates):
        parts.append(f"<h3>{e(phase)}, iteration {iteration}</h3><div>")
        parts += [figure(c.image, fmt(c.score, config, c.phase), c.prompt, c.critique) for c in items]
        parts.append("</div>")
    return "\n".join(parts) + "\n"


def figure(image: str, score: str, prompt: str, critique: str) -> str:
    e = html.escape
    crit = f"<br><span class='crit'>{e(critique)}</span>" if critique else ""
    return (
        f"<figure><img src='{e(image)}'><figcaption><b>{e(score)}</b> {e(prompt)}{crit}</figcaption></figure>"
    )


def write_report(run_dir: Path) -> tuple[Path, Path]:
    summary = summarize_t2i(run_dir)
    state = current_t2i_state(run_dir) or {}
    candidates = state.get("candidates", [])
    md, page = run_dir / REPORT_MD, run_dir / REPORT_HTML
    md.write_text(markdown_report(run_dir, summary, candidates) + "\n")
    page.write_text(html_report(run_dir, summary, candidates))
    return md, page
