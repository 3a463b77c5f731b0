"""Benchmark the embedded optimizer LLMs: seconds per proposal call and how often a reply is usable.

For each installed bundled model (llm/models.py) it starts the embedded llama.cpp server, sends the same
realistic first turn of a restart (prompts/meta.py: task, best and worst templates with accuracies, "write
N new templates") with 20 distinct seeds, and reports per call: wall seconds, output tokens, whether the
reply gave at least one valid new template without a re-ask, and how many of the N it gave.

    python bench/bench_llm.py                        # every installed model, default threads
    python bench/bench_llm.py --threads 1,2 --write  # side by side thread counts; update bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from promptclimb.llm.backends import open_backend  # noqa: E402
from promptclimb.llm.models import list_models  # noqa: E402
from promptclimb.llm.proposer import Proposer  # noqa: E402
from promptclimb.prompts import meta  # noqa: E402
from promptclimb.prompts.template import PLACEHOLDER  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
THREADS_NOTE = (
    "llama.cpp threads spin-wait for each other: with as many threads as cores, any other busy process "
    "(other test suites here, see the load average) stalls generation, hence the default "
    "PROMPTCLIMB_LLM_THREADS = half the cores. On an idle machine 2 threads may be faster: measure with "
    "`--threads 1,2`."
)
SECTION = "## LLM backends"

CLASSES = ["Abyssinian", "american bulldog", "beagle", "Bengal", "boxer", "British Shorthair", "pug"]
SCORED = [  # (template, train accuracy): plausible CLIP ViT-B/32 figures on Oxford Pets
    ("a photo of a {}, a type of pet.", 0.874),
    ("a photo of a {}.", 0.851),
    ("a close-up photo of a {}.", 0.846),
    ("a photo of the small {}.", 0.839),
    ("a bright photo of a {}.", 0.833),
    ("a sketch of a {}.", 0.641),
    ("a tattoo of the {}.", 0.612),
    ("art of the {}.", 0.598),
    ("a plastic {}.", 0.571),
    ("the origami {}.", 0.522),
]


def conversation(n: int) -> list[dict[str, str]]:
    def lines(items: list[tuple[str, float]]) -> str:
        shown = [t.replace(PLACEHOLDER, meta.PLACEHOLDER_WORD) for t, _ in items]
        return "\n".join(f'- "{t}": {100 * acc:.1f}%' for t, (_, acc) in zip(shown, items, strict=True))

    system = meta.SYSTEM.replace("<<TASK>>", "the 37 classes of the 'oxford_pets' dataset")
    system = system.replace("<<EXAMPLES>>", ", ".join(CLASSES)).replace("<<MODEL>>", meta.MODEL["image"])
    system = system.replace("<<LEARN>>", meta.SYSTEM_LEARN)
    system = system.replace("<<EXAMPLE>>", meta.EXAMPLE_TEMPLATE["image"])
    user = "\n\n".join(
        [
            meta.GOOD_LIST.replace("<<GOOD>>", lines(SCORED[:5])),
            meta.BAD_LIST.replace("<<BAD>>", lines(SCORED[5:])),
            meta.ASK_BETTER.replace("<<N>>", str(n)),
        ]
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def bench_model(name: str, calls: int, n: int, threads: str | None) -> dict:
    if threads:
        os.environ["PROMPTCLIMB_LLM_THREADS"] = threads
    else:
        os.environ.pop("PROMPTCLIMB_LLM_THREADS", None)
    messages = conversation(n)
    seen = {t for t, _ in SCORED}
    start = time.perf_counter()
    with open_backend(f"local:{name}") as backend:
        startup_s = time.perf_counter() - start
        proposer = Proposer(backend, max_reasks=0)
        seconds, usable, accepted, out_tokens = [], 0, [], []
        for seed in range(calls):
            t0 = time.perf_counter()
            proposal = proposer.propose(messages, n, seen, seed=seed)
            seconds.append(time.perf_counter() - t0)
            usable += bool(proposal.templates)
            accepted.append(len(proposal.templates))
            out_tokens.append(sum(c.output_tokens for c in proposal.calls))
        example = proposal.templates[:3]
    return {
        "model": name,
        "threads": threads or "default",
        "startup_s": startup_s,
        "mean_s": statistics.mean(seconds),
        "max_s": max(seconds),
        "usable": usable / calls,
        "accepted": statistics.mean(accepted),
        "tokens": statistics.mean(out_tokens),
        "tok_per_s": sum(out_tokens) / sum(seconds),
        "example": example,
    }


def table(rows: list[dict], n: int, calls: int) -> str:
    head = (
        f"| model | threads | server start (s) | mean s/call | max s/call | usable replies | "
        f"valid new templates per call (of {n}) | output tokens/call | output tokens/s (wall) |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    body = [
        f"| {r['model']} | {r['threads']} | {r['startup_s']:.1f} | {r['mean_s']:.2f} | {r['max_s']:.2f} | "
        f"{100 * r['usable']:.0f}% ({round(r['usable'] * calls)}/{calls}) | {r['accepted']:.2f} | "
        f"{r['tokens']:.0f} | {r['tok_per_s']:.1f} |"
        for r in rows
    ]
    return "\n".join([head, *body])


def write_results(text: str) -> None:
    """Replace this section of bench/RESULTS.md (or append it); other sections stay as they are."""
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if SECTION in current:
        before, _, rest = current.partition(SECTION)
        after = rest[rest.find("\n## ") :] if "\n## " in rest else ""
        current = before.rstrip() + "\n\n" + text.rstrip() + "\n" + (after if after else "")
    else:
        current = current.rstrip() + "\n\n" + text.rstrip() + "\n"
    RESULTS.write_text(current)


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--n", type=int, default=3, help="templates asked per call (the run's --proposals)")
    parser.add_argument("--models", help="comma-separated names (default: every installed bundled model)")
    parser.add_argument("--threads", help="comma-separated PROMPTCLIMB_LLM_THREADS values to compare")
    parser.add_argument("--write", action="store_true", help="update the section in bench/RESULTS.md")
    args = parser.parse_args()
    installed = [m["name"] for m in list_models() if m["installed"]]
    names = args.models.split(",") if args.models else installed
    thread_options = args.threads.split(",") if args.threads else [None]
    load_before = os.getloadavg()[0]
    rows = []
    for name in names:
        for threads in thread_options:
            row = bench_model(name, args.calls, args.n, threads)
            print(f"{name} threads={row['threads']}: {row['mean_s']:.2f} s/call, usable {row['usable']:.0%}, "
                  f"e.g. {row['example']}", flush=True)  # fmt: skip
            rows.append(row)
    command = "python bench/bench_llm.py " + " ".join(sys.argv[1:])
    text = "\n".join(
        [
            SECTION,
            "",
            "Embedded llama.cpp server (llama-cpp-python 0.3.36, CPU), one proposal call = one request "
            f"asking for {args.n} templates, grammar-constrained JSON, no re-ask, {args.calls} calls with "
            "distinct seeds on the same realistic first turn (prompts/meta.py). 'usable' = the reply gave at "
            f"least one valid new template. Machine: {os.cpu_count()} cores, "
            f"{platform.processor() or platform.machine()}; load average {load_before:.1f} at the start "
            f"and {os.getloadavg()[0]:.1f} at the end (other work on the machine slows llama.cpp a lot).",
            "",
            f"Command: `{command.strip()}`",
            "",
            table(rows, args.n, args.calls),
        ]
    )
    if len(thread_options) > 1:
        for name in names:
            mine = [r for r in rows if r["model"] == name]
            base = mine[0]["mean_s"]
            ratios = ", ".join(f"threads={r['threads']}: x{base / r['mean_s']:.2f}" for r in mine[1:])
            text += f"\n\nSpeed-up of {name} over threads={mine[0]['threads']}: {ratios}."
        text += f"\n\n{THREADS_NOTE}"
    print(text)
    if args.write:
        write_results(text)


if __name__ == "__main__":
    main()
