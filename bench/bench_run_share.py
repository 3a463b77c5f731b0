"""Where the wall clock of a short optimization run goes: LLM proposals vs CLIP scoring.

Runs a real run in-process (the embedded LLM by default, CLIP ViT-B/32 architecture from a local directory)
on the shipped demo images, times every graph step from the stream of node updates (nodes run one at a
time), and prints each node's share of the wall clock.

    python bench/bench_run_share.py [--llm local:qwen2.5-coder-1.5b] \
        [--clip ../shared/assets/clip-vit-base-patch32]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from promptclimb.graph.config import RunConfig
from promptclimb.graph.runs import create_run
from promptclimb.session.classify import execute, load_inputs, make_context, open_models

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--llm", default="local:qwen2.5-coder-1.5b")
    parser.add_argument("--clip", default=str(ROOT / ".." / "shared" / "assets" / "clip-vit-base-patch32"))
    parser.add_argument("--data", default=str(ROOT / "examples" / "clothing-mini"))
    parser.add_argument("--iterations", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = RunConfig(
            data=args.data, clip=args.clip, llm=args.llm, iterations=args.iterations, restarts=1,
            pool="caption", cache_dir=str(Path(tmp) / "cache"),
        )  # fmt: skip
        dataset, pool = load_inputs(config)
        start = time.perf_counter()
        with open_models(config) as (backbone, backend):
            loaded = time.perf_counter()
            run_dir = create_run(Path(tmp) / "runs", config)
            seconds: dict[str, float] = defaultdict(float)
            last = time.perf_counter()

            def on_update(node: str, update: dict) -> None:
                nonlocal last
                now = time.perf_counter()
                seconds[node] += now - last
                last = now

            status, reason = execute(
                run_dir, make_context(config, run_dir, dataset, backbone, backend), pool, on_update
            )
        total = time.perf_counter() - start
    assert status == "finished", reason
    print(
        f"{args.llm}, CLIP {Path(args.clip).name}, {len(pool)} pool templates, {args.iterations} iterations"
    )
    print(f"loading CLIP and starting the LLM: {loaded - start:.1f} s")
    for node, s in sorted(seconds.items(), key=lambda kv: -kv[1]):
        print(f"{node:>9}: {s:7.1f} s  {100 * s / total:5.1f}% of {total:.1f} s")


if __name__ == "__main__":
    main()
