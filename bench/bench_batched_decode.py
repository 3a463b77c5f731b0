"""Would writing each class's texts as parallel sequences pay on a CPU? llama.cpp's batched decoding timed.

One prompt (200 tokens of this README) is read once into sequence 0 (its reading speed is printed) and its
KV cache copied to N-1 more sequences; then N sequences take 20 decoding steps together, one token each per
step, against one sequence alone. If a step of N cost about one step of 1 (memory-bound decoding), N
classes' texts could be written in about the time of one. The embedded model, on the threads a run uses
($PROMPTCLIMB_LLM_THREADS).

    python bench/bench_batched_decode.py [--model MODEL] [--sequences 1,3,6] [--steps 20] 2>/dev/null

(llama.cpp logs to stderr; the table goes to stdout.)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import llama_cpp as L  # noqa: E402

from promptclimb.llm.models import model_path  # noqa: E402
from promptclimb.llm.server import default_threads  # noqa: E402


def fill(batch: L.llama_batch, tokens: list[tuple[int, int, int]]) -> None:
    """(token, position, sequence) triples into a batch; every one asks for logits."""
    batch.n_tokens = len(tokens)
    for i, (token, pos, seq) in enumerate(tokens):
        batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, pos, 1, 1
        batch.seq_id[i][0] = seq


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--sequences", default="1,3,6")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    counts = [int(n) for n in args.sequences.split(",")]
    threads = default_threads()
    L.llama_backend_init()
    model = L.llama_model_load_from_file(str(model_path(args.model)).encode(), L.llama_model_default_params())
    params = L.llama_context_default_params()
    params.n_ctx, params.n_batch, params.n_ubatch, params.n_seq_max = 4096, 256, 256, max(counts)
    params.n_threads = params.n_threads_batch = threads
    ctx = L.llama_init_from_model(model, params)
    memory = L.llama_get_memory(ctx)
    vocab = L.llama_model_get_vocab(model)
    text = (ROOT / "README.md").read_bytes()[:1500]
    buffer = (L.llama_token * 1024)()
    n = L.llama_tokenize(vocab, text, len(text), buffer, 1024, True, False)
    prompt = list(buffer[: min(n, 200)])
    batch = L.llama_batch_init(256, 0, max(counts))
    fill(batch, [(t, i, 0) for i, t in enumerate(prompt)])
    start = time.perf_counter()
    if L.llama_decode(ctx, batch) != 0:
        raise SystemExit("error: the prompt could not be decoded")
    reading = len(prompt) / (time.perf_counter() - start)
    one = None
    print(f"{args.model}, {threads} thread(s), a {len(prompt)}-token prompt read at {reading:.1f} tokens/s, "
          f"{args.steps} steps")  # fmt: skip
    for count in counts:
        for seq in range(1, count):
            L.llama_memory_seq_rm(memory, seq, -1, -1)
            L.llama_memory_seq_cp(memory, 0, seq, -1, -1)
        start = time.perf_counter()
        for step in range(args.steps):
            fill(batch, [(prompt[-1], len(prompt) + step, seq) for seq in range(count)])
            if L.llama_decode(ctx, batch) != 0:
                raise SystemExit(f"error: decoding {count} sequences failed (n_seq_max {params.n_seq_max})")
        seconds = time.perf_counter() - start
        for seq in range(count):
            L.llama_memory_seq_rm(memory, seq, len(prompt), -1)
        per_step = seconds / args.steps
        one = one or per_step
        print(f"| {count} | {per_step:.2f} s | {count * args.steps / seconds:.1f} tokens/s | "
              f"{per_step / one:.2f}x one sequence's step |", flush=True)  # fmt: skip
    L.llama_batch_free(batch)
    L.llama_free(ctx)
    L.llama_model_free(model)


if __name__ == "__main__":
    main()
