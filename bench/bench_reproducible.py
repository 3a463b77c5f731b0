"""Does the embedded server answer the same request and seed alike, whatever it served before?

One class message (the default's shape: banking77 class names, 6 classes x 2 texts, the JSON grammar) is
asked on a fresh server, asked again at once, then after another request; with the defaults and with
PROMPTCLIMB_LLM_REPRODUCIBLE=1 (every prompt read whole, no prompt cache). Prints whether each reply equals
the fresh server's, and the seconds per call.

    PROMPTCLIMB_LLM_THREADS=1 python bench/bench_reproducible.py [--model qwen2.5-coder-1.5b]
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

from promptclimb.llm.backends import open_backend
from promptclimb.llm.class_texts import texts_schema
from promptclimb.llm.proposer import Proposer
from promptclimb.llm.server import REPRODUCIBLE_ENV
from promptclimb.prompts.classes import Target, classes_message

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "banking77"
TASK = "online-banking customer messages, classified by their intent"


def class_names(data: Path) -> list[str]:
    with open(data / "train.csv", newline="", encoding="utf-8") as handle:
        return sorted({row[-1].replace("_", " ") for row in list(csv.reader(handle))[1:]})


def message(names: list[str], start: int) -> tuple[list[dict[str, str]], list[str]]:
    chosen = names[start : start + 6]
    targets = [Target(n, 3, 8, [names[(start + 7 + i) % len(names)]]) for i, n in enumerate(chosen)]
    return [{"role": "user", "content": classes_message(TASK, "text", targets, 2, feedback=True)}], chosen


def run(model: str, names: list[str]) -> list[tuple[str, bool, float]]:
    asked, targets = message(names, 0)
    other, other_targets = message(names, 30)
    rows = []
    with open_backend(f"local:{model}", timeout_s=900) as backend:
        proposer = Proposer(backend, max_reasks=0)

        def ask(messages: list[dict[str, str]], chosen: list[str]) -> tuple[str, float]:
            start = time.perf_counter()
            result = proposer.ask(messages, lambda r: (r, None), lambda e: e, schema=texts_schema(chosen, 2),
                                  max_tokens=60 + len(chosen) * 2 * 40, seed=7, step="bench")  # fmt: skip
            return result.calls[-1].reply, time.perf_counter() - start

        fresh, seconds = ask(asked, targets)
        rows.append(("fresh server", True, seconds))
        again, seconds = ask(asked, targets)
        rows.append(("the same request again", again == fresh, seconds))
        ask(other, other_targets)
        after, seconds = ask(asked, targets)
        rows.append(("after another request", after == fresh, seconds))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--data", default=str(DATA), help="a CSV text set (its class names)")
    args = parser.parse_args()
    names = class_names(Path(args.data))
    print("| mode | call | reply equals the fresh server's | s |")
    print("| --- | --- | --- | --- |")
    for mode, value in (("default", "0"), ("reproducible", "1")):
        os.environ[REPRODUCIBLE_ENV] = value
        for what, same, seconds in run(args.model, names):
            print(f"| {mode} | {what} | {'yes' if same else 'no'} | {seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
