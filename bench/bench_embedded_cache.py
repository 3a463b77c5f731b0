"""Does the embedded llama.cpp server re-read a growing conversation's prefix, and does its prompt cache help?

Starts the embedded server (llm/server.py) on a bundled model, with and without llama-cpp-python's RAM
prompt cache, and times growing conversations of the shape the paper's chat loop sends (a long system
prompt of scored templates, then one short exchange per iteration):

- one conversation alone: what a single run sends;
- K conversations taking turns: what K concurrent bench cells send to the one (serializing) server;
- K conversations from K threads at once: whether the server overlaps requests at all.

Prints seconds per call (after each conversation's first) and the wall clock, side by side.

    PROMPTCLIMB_LLM_THREADS=1 python bench/bench_embedded_cache.py [--model smollm2-135m] [--turns 5] [--k 2]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import httpx

from promptclimb.llm.models import model_path
from promptclimb.llm.server import EmbeddedServer

CACHE_BYTES = 1 << 30
WORDS = ("photo", "sketch", "painting", "close-up", "render", "snapshot", "drawing", "picture")


def system_prompt(seed: int, templates: int) -> str:
    """About ``templates`` x 17 tokens of scored templates, as the chat meta-prompt lists them."""
    lines = [f"You write prompt templates for CLIP. Conversation {seed}. Scores are train accuracy."]
    for i in range(templates):
        word = WORDS[(i + seed) % len(WORDS)]
        lines.append(f"Template: a {word} of a CLASSNAME, variant number {i}. Score: {40 + (i * 7) % 50}")
    return "\n".join(lines)


class Conversation:
    def __init__(self, seed: int, templates: int) -> None:
        self.messages = [{"role": "system", "content": system_prompt(seed, templates)}]
        self.seconds: list[float] = []

    def ask(self, client: httpx.Client, server: EmbeddedServer) -> None:
        self.messages.append({"role": "user", "content": "Write 3 new templates as JSON."})
        start = time.perf_counter()
        reply = client.post(
            f"{server.base_url}/chat/completions",
            headers={"Authorization": f"Bearer {server.api_key}"},
            json={"model": server.alias, "messages": self.messages, "max_tokens": 40, "temperature": 0,
                  "seed": 1},
        )  # fmt: skip
        reply.raise_for_status()
        self.seconds.append(time.perf_counter() - start)
        self.messages.append(
            {"role": "assistant", "content": reply.json()["choices"][0]["message"]["content"]}
        )


def scenario(
    server: EmbeddedServer, k: int, turns: int, threaded: bool, templates: int
) -> tuple[float, float]:
    """(median seconds per call after each conversation's first, wall seconds)."""
    conversations = [Conversation(seed, templates) for seed in range(k)]
    start = time.perf_counter()
    with httpx.Client(timeout=600, trust_env=False) as client:
        if threaded:
            threads = [
                threading.Thread(target=lambda c=c: [c.ask(client, server) for _ in range(turns)])
                for c in conversations
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        else:
            for _ in range(turns):
                for c in conversations:  # taking turns: each request follows another conversation's
                    c.ask(client, server)
    wall = time.perf_counter() - start
    later = [s for c in conversations for s in c.seconds[1:]]
    return (statistics.median(later) if later else float("nan")), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--k", type=int, default=2, help="concurrent conversations")
    parser.add_argument("--templates", type=int, default=30, help="scored templates in the system prompt")
    args = parser.parse_args()
    rows: dict[int, list[tuple[float, float]]] = {}
    names = ["1 conversation", f"{args.k} taking turns", f"{args.k} threads at once"]
    shapes = [(1, False), (args.k, False), (args.k, True)]
    for cache in (0, CACHE_BYTES):
        with EmbeddedServer(model_path(args.model), alias=args.model, prompt_cache_bytes=cache) as server:
            scenario(server, 1, 1, False, args.templates)  # warm-up: load pages, first allocation
            rows[cache] = []
            for name, (k, threaded) in zip(names, shapes, strict=True):
                rows[cache].append(scenario(server, k, args.turns, threaded, args.templates))
                print(
                    f"cache {cache}: {name}: {rows[cache][-1][0]:.2f} s/call, {rows[cache][-1][1]:.1f} s",
                    flush=True,
                )
    print(
        f"{args.model}, {args.turns} turns per conversation, {args.templates} templates in the system prompt"
    )
    header = ["", "no cache s/call", "wall s", "RAM cache s/call", "wall s", "speed-up"]
    print(" | ".join(header))
    for i, name in enumerate(names):
        (off, off_wall), (on, on_wall) = rows[0][i], rows[CACHE_BYTES][i]
        cells = [
            name,
            f"{off:.2f}",
            f"{off_wall:.1f}",
            f"{on:.2f}",
            f"{on_wall:.1f}",
            f"{off_wall / on_wall:.2f}x",
        ]
        print(" | ".join(cells))


if __name__ == "__main__":
    main()
