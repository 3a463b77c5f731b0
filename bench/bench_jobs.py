"""Wall clock of a benchmark suite run one cell at a time, against `promptclimb bench --jobs N`.

Runs suites/tiny.toml in-process (10 cells: baselines, pool and 3 LLM methods x 2 seeds; 12 LLM calls)
with each LLM: the scripted fake with an injected latency per call (a stand-in for a remote API), and
optionally an embedded model. The feature cache is warmed first, so both sides score from the same cache;
each side starts from an empty runs directory and loads its own models. Prints the seconds side by side,
the speed-up, and whether the tables are identical.

    python bench/bench_jobs.py [--jobs 4] [--delay 2] [--embedded local:smollm2-135m]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

from promptclimb.results.suite import Suite, load_suite, run_suite, write_results

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
    print(
        f"suite {base.name}: {Path(args.suite).name}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
    )
    print(f"| run | LLM | --jobs 1 (s) | --jobs {args.jobs} (s) | speed-up | same tables |")
    print("|---|---|---|---|---|---|")
    for llm, one, many, same in rows:
        print(
            f"| tiny suite | {llm} | {one:.1f} | {many:.1f} | {one / many:.2f}x | {'yes' if same else 'NO'} |"
        )
    # Left for the concurrent restarts inside one run (being added to the graph): one run of 3 restarts,
    # restarts one after the other vs at once, measured the same way, goes in this row.
    print("| 3-restart run | (pending: concurrent restarts inside one run) | - | - | - | - |")


if __name__ == "__main__":
    main()
