"""Wall clock of a benchmark suite run one cell at a time, against `promptclimb bench --jobs N`; and of one
run of 3 restarts climbed one after another, against `--parallel-restarts 3`.

Runs suites/tiny.toml in-process (10 cells: baselines, pool and 3 LLM methods x 2 seeds; 12 LLM calls)
with each LLM: the scripted fake with an injected latency per call (a stand-in for a remote API), and
optionally an embedded model. The feature cache is warmed first, so both sides score from the same cache;
each side starts from an empty runs directory and loads its own models. Prints the seconds side by side,
the speed-up, and whether the tables are identical (for the 3-restart run: whether the first restart's
templates are; later restarts differ by design, as they no longer see what the others found meanwhile).

    python bench/bench_jobs.py [--jobs 4] [--delay 2] [--embedded local:smollm2-135m]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from promptclimb.results.suite import Suite, load_suite
from promptclimb.results.suite_tables import write_results
from promptclimb.session.cells import run_suite

ROOT = Path(__file__).resolve().parents[1]


def time_suite(suite: Suite, runs: Path, jobs: int) -> tuple[float, str]:
    """(wall seconds, suite.csv) of the whole suite from an empty runs directory."""
    start = time.perf_counter()
    for outcome in run_suite(suite, runs, jobs=jobs):
        assert outcome.status == "finished", f"{outcome.cell.id}: {outcome.reason}"
    seconds = time.perf_counter() - start
    return seconds, write_results(suite, runs).csv.read_text()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--suite", default=str(ROOT / "suites" / "tiny.toml"))
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--delay", type=float, default=2.0, help="seconds per scripted LLM call")
    parser.add_argument("--embedded", help="also an embedded model, e.g. local:smollm2-135m")
    args = parser.parse_args()
    base = load_suite(Path(args.suite))
    llms = [f"scripted:delay={args.delay:g}"] + ([args.embedded] if args.embedded else [])
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PROMPTCLIMB_CACHE"] = str(Path(tmp) / "cache")
        time_suite(dataclasses.replace(base, llm="scripted:"), Path(tmp) / "warm-up", 1)
        rows = []
        for llm in llms:
            suite = dataclasses.replace(base, llm=llm)
            one, table_one = time_suite(suite, Path(tmp) / f"{len(rows)}-sequential", 1)
            many, table_many = time_suite(suite, Path(tmp) / f"{len(rows)}-jobs", args.jobs)
            rows.append((llm, one, many, table_one == table_many))
        restarts = restart_rows(base, llms)
    print(
        f"suite {base.name}: {Path(args.suite).name}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
    )
    print(f"| run | LLM | --jobs 1 (s) | --jobs {args.jobs} (s) | speed-up | same tables |")
    print("|---|---|---|---|---|---|")
    for llm, one, many, same in rows:
        print(
            f"| tiny suite | {llm} | {one:.1f} | {many:.1f} | {one / many:.2f}x | {'yes' if same else 'NO'} |"
        )
    for llm, one, many, same in restarts:
        print(
            f"| 3-restart run | {llm} | {one:.1f} | {many:.1f} | {one / many:.2f}x | "
            f"{'yes' if same else 'NO'} (restart 1) |"
        )


def restart_rows(base: Suite, llms: list[str]) -> list[tuple[str, float, float, bool]]:
    """Per LLM: one run of 3 restarts x 3 iterations on the suite's first dataset and CLIP, with
    --parallel-restarts 1 and 3 (same feature cache, warmed by the suite above)."""
    from promptclimb.results.suite import cells

    config = cells(base, Path(tempfile.gettempdir()))[-1].config  # an LLM cell: the suite's data and CLIP
    config = config.model_copy(
        update={"iterations": 3, "restarts": 3, "meta": "compact", "feedback": "pos+neg"}
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for llm in llms:
            timings, firsts = [], []
            for parallel in (1, 3):
                run = config.model_copy(update={"llm": llm, "parallel_restarts": parallel})
                seconds, leaderboard = time_run(run, Path(tmp) / f"{len(rows)}-{parallel}")
                timings.append(seconds)
                firsts.append(sorted((c.template, c.train_acc) for c in leaderboard if c.restart == 0))
            rows.append((llm, timings[0], timings[1], firsts[0] == firsts[1]))
    return rows


def time_run(config: Any, runs: Path) -> tuple[float, list[Any]]:
    """(wall seconds of the whole run, models loaded, its leaderboard)."""
    from promptclimb.graph.runs import create_run, data_record
    from promptclimb.graph.session import current_state
    from promptclimb.session.classify import execute, load_inputs, make_context, open_models

    start = time.perf_counter()
    dataset, pool = load_inputs(config)
    with open_models(config, dataset) as (backbone, backend):
        run_dir = create_run(runs, config, data_record(dataset))
        context = make_context(config, run_dir, dataset, backbone, backend)
        status, reason = execute(run_dir, context, pool, lambda node, update: None)
    assert status == "finished", reason
    seconds = time.perf_counter() - start
    return seconds, (current_state(run_dir) or {}).get("candidates", [])


if __name__ == "__main__":
    main()
