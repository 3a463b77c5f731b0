"""The documented JSON of ``promptclimb show --json`` (a stable contract; see README)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptclimb.graph.runs import load_config, read_status
from promptclimb.graph.session import current_state
from promptclimb.graph.state import Candidate, OptimState
from promptclimb.nodes.ranking import ranked, selection_acc


def leaderboard_rows(candidates: list[Candidate], on: str = "train") -> list[dict[str, Any]]:
    """Best first; ``selection_acc`` is the ranking score (train, or train+val pooled) on every row."""
    rows = []
    for c in candidates:
        row: dict[str, Any] = {"template": c.template, "selection_acc": selection_acc(c, on)}
        row["train_acc"] = c.train_acc
        if c.val_acc is not None:
            row["val_acc"] = c.val_acc
        row.update(source=c.source, restart=c.restart, iteration=c.iteration)
        if c.truncated:
            row["truncated"] = True
        rows.append(row)
    return rows


def history(candidates: list[Candidate]) -> list[dict[str, Any]]:
    """Per (restart, iteration): how many templates were scored, the best of them, and the best so far."""
    steps: dict[tuple[int, int], list[float]] = {}
    for c in candidates:
        if c.source == "llm":
            steps.setdefault((c.restart, c.iteration), []).append(c.train_acc)
    pool_best = max((c.train_acc for c in candidates if c.source == "pool"), default=0.0)
    rows, best, current_restart = [], pool_best, None
    for (restart, iteration), accs in sorted(steps.items()):
        if restart != current_restart:
            best, current_restart = pool_best, restart
        best = max(best, *accs)
        rows.append(
            {
                "restart": restart,
                "iteration": iteration,
                "scored": len(accs),
                "best": max(accs),
                "best_so_far": best,
            }
        )
    return rows


def class_prompt_counts(state: OptimState) -> dict[str, int] | None:
    """--space classes: class-specific texts the LLM wrote and the classifier keeps for the class they were
    asked for, those other classes adopted (--adopt), and the selection inputs it keeps as class texts
    (--input-texts); None otherwise."""
    prompts = state.get("class_prompts") or []
    if not prompts and not state.get("shared"):
        return None
    written = [p for p in prompts if p.source == "llm" and p.written_for is None]
    adopted = sum(1 for p in prompts if p.written_for is not None and p.kept)
    inputs = sum(1 for p in prompts if p.source == "input" and p.kept)
    kept = sum(1 for p in written if p.kept)
    return {"written": len(written), "kept": kept, "adopted": adopted, "inputs": inputs}


def summarize(run_dir: Path) -> dict[str, Any]:
    config = load_config(run_dir)
    status, reason = read_status(run_dir)
    state: OptimState = current_state(run_dir) or {}
    candidates = state.get("candidates", [])
    usage = state.get("usage")
    final = state.get("final")
    return {
        "run_id": run_dir.name,
        "run_dir": str(run_dir),
        "status": status,
        "reason": reason,
        "iterations_done": state.get("iterations_done", 0),
        "restarts_done": state.get("restarts_done", 0),
        "llm_calls": usage.calls if usage else 0,
        "usage": usage.model_dump() if usage else None,
        "candidates_scored": len(candidates),
        "llm_templates_scored": sum(1 for c in candidates if c.source == "llm"),
        "selection": config.selection(),
        "leaderboard": leaderboard_rows(ranked(candidates, config), config.selection()),
        "history": history(candidates),
        "rejections": [r.model_dump() for r in state.get("rejections", [])],
        "class_prompts": class_prompt_counts(state),
        "final": final.model_dump() if final else None,
        "config": config.model_dump(),
    }
