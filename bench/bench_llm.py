"""Benchmark the embedded optimizer LLM on the default's message: speed settings side by side, and memory.

Speed (``--variants``): each variant starts its own embedded llama.cpp server (llm/server.py) and sends the
message a default ("compact") run sends, step after step, as a run does: the system prompt, the task, 8
example inputs, 15 scored templates that change every step, the ask for 8 templates, JSON-schema
constrained. The first call of a variant reads the whole prompt (reported apart); the median is over the
later calls, which reuse the prefix the previous call left in the KV cache. Per call: wall seconds, the
server's CPU seconds (much less sensitive to other work on the machine than wall time: compare CPU for
settings of one thread, wall for thread counts), output tokens, whether the reply gave a new template.
Ratios are against the first variant of the same invocation; the load average is printed with every row.

Memory (``--memory N``): one server with the default settings, N calls of distinct prompts, the server's
RSS after each, and how many times it was restarted for passing its ceiling.

    python bench/bench_llm.py --models qwen2.5-coder-1.5b --calls 3 --variants today,default,lookup
    python bench/bench_llm.py --models qwen2.5-coder-1.5b --calls 4 --message classes \
        --variants default,lean

``--message classes``: the message of the default search space (class-specific texts): the default's
classes per step, each with its feedback line (and, with ``--shown-inputs 2``, two misread training
inputs, as the default showed before its inputs became class texts), drawn from a CSV text set
(``--data``), the reply a JSON object of texts per class under a llama.cpp grammar, as
nodes/class_propose.py asks it. The variant ``lean`` asks for 3 classes a call (``--class-batch 3``).
    python bench/bench_llm.py --models qwen2.5-coder-1.5b --memory 200 --max-tokens 16 --write
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402

from promptclimb.evaluators.classify.texts import load_text_dataset  # noqa: E402
from promptclimb.graph.config import CLASS_BATCH, RunConfig  # noqa: E402
from promptclimb.graph.state import Candidate  # noqa: E402
from promptclimb.llm import backends  # noqa: E402
from promptclimb.llm.class_texts import extract_class_texts, texts_schema  # noqa: E402
from promptclimb.llm.models import list_models, model_path  # noqa: E402
from promptclimb.llm.proposer import Proposer  # noqa: E402
from promptclimb.llm.server import EmbeddedServer, Tuning, default_tuning, process_rss_bytes  # noqa: E402
from promptclimb.nodes.class_feedback import MISREAD_PER_CLASS  # noqa: E402

SHOWN_INPUTS = [0]  # --shown-inputs: misread inputs per class in the class message (set once by main)
from promptclimb.nodes.class_propose import reply_tokens  # noqa: E402
from promptclimb.prompts.classes import Target, classes_message, reask_message  # noqa: E402
from promptclimb.prompts.classify_messages import Counted, compact_message, system_prompt  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## LLM backends"
MEMORY_SECTION = "### The embedded server's memory over many calls"
CLASS_SECTION = "### The default's message: class-specific texts"

TASK = "online-banking customer messages, classified by their intent"
EXAMPLES = [  # (input, class): the shape of banking77's training texts
    ("I am still waiting on my card?", "card_arrival"),
    ("How do I top up using a bank transfer?", "topping_up_by_bank_transfer"),
    ("Why was I charged a fee for a cash withdrawal?", "cash_withdrawal_charge"),
    ("My transfer to a friend has not arrived yet.", "transfer_not_received_by_recipient"),
    ("Can I change my PIN at an ATM?", "change_pin"),
    ("The exchange rate on my statement looks wrong.", "wrong_exchange_rate_for_cash_withdrawal"),
    ("I think someone else used my card.", "card_payment_not_recognised"),
    ("How long does a refund take to show up?", "Refund_not_showing_up"),
]
CLASSES = [name for _, name in EXAMPLES]
STYLES = ["a message about", "a customer asking about", "a question about", "help with", "an issue with",
          "I need help with", "a complaint about", "a bank customer writes about"]  # fmt: skip
ENDINGS = ["", " please", " in my account", " today", " again", " on the app", " urgently", " for my card"]
TOTAL = 616  # 4-shot train + val of 77 classes, pooled
DATA = ROOT / ".." / "shared" / "datasets" / "banking77"
DEFAULT_CLASSES = CLASS_BATCH  # the message shows misread inputs: the setting where no input is a class text
LEAN_CLASSES = 3  # the "lean" variant: --class-batch 3, half the default's texts per call
DEFAULTS = RunConfig(data="x")
PER_CLASS, WORDS = DEFAULTS.per_class, DEFAULTS.class_words


def read_texts(data: Path) -> dict[str, list[str]]:
    """A CSV text set's training texts by class, as a run reads them (the project's loader, 8-shot, seed 1:
    the "of 8 training inputs" the message states; class names cleaned as runs show them)."""
    dataset = load_text_dataset(data, shots=8, seed=1)
    by_class: dict[str, list[str]] = {name: [] for name in dataset.classnames}
    for item in dataset.items("train"):
        by_class[dataset.classnames[item.label]].append(item.text)
    return by_class


def class_step(
    by_class: dict[str, list[str]], step: int, n_classes: int = DEFAULT_CLASSES, shown: int = 0
) -> tuple[str, list[str]]:
    """The class message at ``step``: ``n_classes`` weak classes, each confused with two, ``shown`` of
    their inputs misread."""
    names = sorted(by_class)
    targets = []
    for i in range(n_classes):
        k = (step * n_classes + i) * 7 % len(names)  # a stride, so neighbours in a step differ
        confused = [names[(k + 1) % len(names)], names[(k + 2) % len(names)]]
        own = by_class[names[k]]
        misread = [(own[(step + j) % len(own)], confused[j % 2]) for j in range(shown)]
        targets.append(Target(names[k], 2, 8, confused, misread))
    message = classes_message(TASK, "text", targets, PER_CLASS, feedback=True)
    return message, [t.name for t in targets]


def step_messages(step: int, static_first: bool = False) -> list[dict[str, str]]:
    """The default's messages at ``step`` of a run: the scored list changes a little at every step.

    ``static_first``: the parts that never change within a run (how the classifier works, the ask) move
    before the scores, so more of the message is a prefix the server already holds.
    """
    ranking = []
    for i in range(15):  # a sliding window: each step drops the oldest template and adds a new one
        k = step + i
        template = f"{STYLES[k % 8]} CLASSNAME{ENDINGS[(k // 8) % 8]}."
        correct = 300 + (k * 37) % 250
        ranking.append(Candidate(template=template, train_acc=correct / TOTAL, train_correct=correct,
                                 train_n=TOTAL, iteration=k))  # fmt: skip
    ranking.sort(key=lambda c: -c.train_acc)
    config = RunConfig(data="banking77", space="templates")
    shown = [Counted(template=c.template, correct=c.train_correct, total=TOTAL, train_acc=c.train_acc)
             for c in ranking]  # fmt: skip
    user = compact_message(
        shown, config, task=TASK, modality="text", examples=EXAMPLES, repeats=0, error=None
    )
    if static_first:
        parts = user.split("\n\n")
        scores = next(i for i, p in enumerate(parts) if p.startswith("Templates tried so far"))
        user = "\n\n".join(parts[:scores] + parts[scores + 1 :] + [parts[scores]])
    system = system_prompt(task=TASK, modality="text", classnames=CLASSES, feedback=config.feedback)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def shared_prefix_chars(a: list[dict[str, str]], b: list[dict[str, str]]) -> float:
    """The share of message b's characters that repeat the start of message a."""
    text_a = "".join(m["content"] for m in a)
    text_b = "".join(m["content"] for m in b)
    n = next((i for i, (x, y) in enumerate(zip(text_a, text_b, strict=False)) if x != y), len(text_b))
    return n / len(text_b)


# name -> (what changes against the default, tuning from the default, prompt cache MB, grammar, static first)
class Variant(NamedTuple):
    """One server setting (and, for --message classes, how many classes a call asks for) to time."""

    what: str
    tuning: Tuning
    cache_mb: int
    grammar: bool = True
    static_first: bool = False
    classes: int = DEFAULT_CLASSES


def variants(default: Tuning) -> dict[str, Variant]:
    today = replace(default, threads=1, batch_threads=1, batch=512, logits_all=True)
    both2 = replace(default, threads=2, batch_threads=2)
    return {
        "today": Variant("before: 1 thread, n_batch 512, all logits, 1 GiB cache", today, 1024),
        "default": Variant("the new defaults", default, 256),
        "threads2": Variant("2 threads for decoding and prompts", both2, 256),
        "batch2": Variant("1 thread decoding, 2 reading prompts", replace(default, batch_threads=2), 256),
        "batch512": Variant("n_batch 512", replace(default, batch=512), 256),
        "flash": Variant("flash attention", replace(default, flash_attn=True), 256),
        "lookup": Variant("prompt-lookup decoding, 10 tokens", replace(default, draft_tokens=10), 256),
        "lookup4": Variant("prompt-lookup decoding, 4 tokens", replace(default, draft_tokens=4), 256),
        "nocache": Variant("no RAM prompt cache", default, 0),
        "nogrammar": Variant("no JSON-schema grammar", default, 256, grammar=False),
        "static": Variant("static parts before the scores", default, 256, static_first=True),
        "lean": Variant(f"--message classes: {LEAN_CLASSES} classes a call (--class-batch {LEAN_CLASSES})",
                        default, 256, classes=LEAN_CLASSES),
    }  # fmt: skip


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bench:
    """One embedded server, asked the way the default run asks it."""

    def __init__(
        self,
        server: EmbeddedServer,
        grammar: bool,
        max_tokens: int | None,
        by_class: dict | None = None,
        n_classes: int = DEFAULT_CLASSES,
    ) -> None:
        self.server = server
        self.n_classes = n_classes
        self.by_class = by_class  # --message classes: the text set the class messages are drawn from
        self.http = httpx.Client(timeout=1800, trust_env=False)
        self.http.event_hooks["request"].append(server.before_request)
        chat = ChatOpenAI(model=server.alias, base_url=server.base_url, api_key=server.api_key,
                          temperature=1.0, max_retries=0, http_client=self.http)  # fmt: skip
        per_template = backends._EMBEDDED_TOKENS_PER_TEMPLATE
        backend = backends.ChatBackend(
            chat, name=f"local:{server.alias}", structured="json_object_schema" if grammar else "none",
            supports_seed=True, base_url=server.base_url, max_tokens_per_template=per_template,
        )  # fmt: skip
        self.max_tokens = max_tokens
        self.proposer = Proposer(backend, max_reasks=0)

    def call(self, step: int, static_first: bool) -> dict:
        n = RunConfig(data="x", space="templates").asked()
        pid = self.server.pid
        cpu0, t0 = cpu_seconds(pid) if pid else 0.0, time.perf_counter()
        if self.by_class is not None:  # the class-specific message, asked as class_propose asks it
            message, names = class_step(self.by_class, step, self.n_classes, SHOWN_INPUTS[0])
            asked = self.proposer.ask(
                [{"role": "user", "content": message}],
                lambda reply: extract_class_texts(reply, names),
                lambda error: reask_message(error, names, PER_CLASS, "text"),
                schema=texts_schema(names, PER_CLASS, WORDS),
                max_tokens=reply_tokens(len(names), PER_CLASS, WORDS),
                seed=step,
            )
            tokens_in = sum(c.input_tokens for c in asked.calls)
            tokens_out = sum(c.output_tokens for c in asked.calls)
            usable = asked.value is not None
        elif self.max_tokens:  # --memory: one prompt, each call distinct by its last line, a short reply
            messages = step_messages(0)
            messages[-1]["content"] += f"\n\n(request {step})"
            options = self.proposer._request_options(n, step)
            options["extra_body"]["max_tokens"] = self.max_tokens  # type: ignore[index]
            message = self.proposer.backend.model.invoke(messages, **options)
            usage = getattr(message, "usage_metadata", None) or {}
            tokens_in, tokens_out, usable = usage.get("input_tokens", 0), usage.get("output_tokens", 0), True
        else:
            proposal = self.proposer.propose(step_messages(step, static_first), n, set(), seed=step)
            tokens_in = sum(c.input_tokens for c in proposal.calls)
            tokens_out = sum(c.output_tokens for c in proposal.calls)
            usable = bool(proposal.templates)
        wall = time.perf_counter() - t0
        cpu = cpu_seconds(pid) - cpu0 if pid and pid == self.server.pid else float("nan")
        return {
            "wall": wall,
            "cpu": cpu,
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "usable": usable,
            "rss": process_rss_bytes(self.server.pid) if self.server.pid else None,
            "load": os.getloadavg()[0],
        }


def bench_variant(name: str, model: str, spec: Variant, calls: int, by_class: dict | None = None) -> dict:
    start = time.perf_counter()
    server = EmbeddedServer(model_path(model), alias=model, tuning=spec.tuning,
                            prompt_cache_bytes=spec.cache_mb << 20)  # fmt: skip
    with server:
        startup = time.perf_counter() - start
        bench = Bench(server, spec.grammar, None, by_class, spec.classes)
        first = bench.call(0, spec.static_first)
        later = [bench.call(step, spec.static_first) for step in range(1, calls + 1)]
    return {"variant": name, "what": spec.what, "startup": startup, "first": first, "later": later}


def speed_table(rows: list[dict]) -> str:
    head = (
        "| variant | what | first call s (wall) | median s/call (wall) | median CPU s/call | x wall | x CPU "
        "| tokens in / out | usable | load |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    base_wall = statistics.median(c["wall"] for c in rows[0]["later"])
    base_cpu = statistics.median(c["cpu"] for c in rows[0]["later"])
    body = []
    for r in rows:
        later = r["later"]
        wall, cpu = statistics.median(c["wall"] for c in later), statistics.median(c["cpu"] for c in later)
        tokens_in = statistics.median(c["tokens_in"] for c in later)
        tokens_out = statistics.median(c["tokens_out"] for c in later)
        usable = sum(c["usable"] for c in later)
        loads = [c["load"] for c in [r["first"], *later]]
        body.append(
            f"| {r['variant']} | {r['what']} | {r['first']['wall']:.1f} | {wall:.1f} | {cpu:.1f} | "
            f"{base_wall / wall:.2f} | {base_cpu / cpu:.2f} | {tokens_in:.0f} / {tokens_out:.0f} | "
            f"{usable}/{len(later)} | {min(loads):.1f}-{max(loads):.1f} |"
        )
    return "\n".join([head, *body])


def bench_memory(model: str, calls: int, max_tokens: int | None) -> str:
    tuning = default_tuning()
    server = EmbeddedServer(model_path(model), alias=model, tuning=tuning)
    rows = []
    with server:
        loaded = process_rss_bytes(server.pid) or 0
        bench = Bench(server, True, max_tokens)
        for step in range(calls):
            rows.append(bench.call(step, False))
            print(f"call {step + 1}: {rows[-1]['wall']:.1f} s, RSS {rows[-1]['rss'] >> 20} MB, "
                  f"restarts {server.restarts}, load {rows[-1]['load']:.1f}", flush=True)  # fmt: skip
        restarts, ceiling = server.restarts, server.rss_ceiling
    rss = [r["rss"] for r in rows]
    first, peak = rss[0], max(rss)
    marks = sorted({0, calls // 4, calls // 2, 3 * calls // 4, calls - 1})
    after = ", ".join(f"{i + 1}: {rss[i] >> 20}" for i in marks)
    return (
        f"{model}, {calls} calls of distinct prompts (the compact message, each ending in its own line), "
        f"default settings ({tuning}, prompt cache {server.prompt_cache_bytes >> 20} MB), "
        f"max_tokens {max_tokens or 'as a run asks'}: RSS {loaded >> 20} MB after loading; after call "
        f"{after} MB; peak {peak >> 20} MB = {peak / first:.2f}x the RSS after the first call; "
        f"restarts for passing the ceiling ({(ceiling or 0) >> 20} MB): {restarts}; median "
        f"{statistics.median(r['wall'] for r in rows):.1f} s/call at load "
        f"{min(r['load'] for r in rows):.1f}-{max(r['load'] for r in rows):.1f}."
    )


def write_section(section: str, text: str) -> None:
    """Replace one section of bench/RESULTS.md (or append it); the others stay as they are."""
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if section in current:
        before, _, rest = current.partition(section)
        level = section.split(" ")[0]
        ends = [i for i in (rest.find("\n## "), rest.find(f"\n{level} ")) if i >= 0]
        after = rest[min(ends) :] if ends else ""
        current = before.rstrip() + "\n\n" + text.rstrip() + "\n" + after
    else:
        current = current.rstrip() + "\n\n" + text.rstrip() + "\n"
    RESULTS.write_text(current)


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--calls", type=int, default=3, help="calls per variant after its first")
    parser.add_argument("--models", help="comma-separated names (default: every installed bundled model)")
    parser.add_argument("--variants", default="today,default", help="comma-separated, of: " + ", ".join(
        variants(default_tuning())))  # fmt: skip
    parser.add_argument("--memory", type=int, help="instead: this many calls on one server, RSS after each")
    parser.add_argument("--max-tokens", type=int, help="--memory: cap each reply (a shorter bench)")
    parser.add_argument("--message", choices=["compact", "classes"], default="compact",
                        help="the message: compact templates, or the default class texts")  # fmt: skip
    parser.add_argument("--data", default=str(DATA), help="--message classes: a CSV text set")
    parser.add_argument(
        "--shown-inputs",
        type=int,
        default=0,
        choices=range(MISREAD_PER_CLASS + 1),
        help="--message classes: misread inputs shown per class (0: the default's message)",
    )
    parser.add_argument("--write", action="store_true", help="update the section in bench/RESULTS.md")
    args = parser.parse_args()
    SHOWN_INPUTS[0] = args.shown_inputs
    by_class = read_texts(Path(args.data)) if args.message == "classes" else None
    installed = [m["name"] for m in list_models() if m["installed"]]
    names = args.models.split(",") if args.models else installed
    command = "python bench/bench_llm.py " + " ".join(sys.argv[1:])
    machine = f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}"
    if args.memory:
        lines = [bench_memory(name, args.memory, args.max_tokens) for name in names]
        text = "\n".join([MEMORY_SECTION, "", f"Command: `{command.strip()}` ({machine})", "", *lines])
        print(text)
        if args.write:
            write_section(MEMORY_SECTION, text)
        return
    options = variants(default_tuning())
    section = CLASS_SECTION if by_class is not None else SECTION
    parts = [section, "", f"Command: `{command.strip()}` ({machine}; llama-cpp-python 0.3.36, CPU)", ""]
    for name in names:
        rows = []
        for variant in args.variants.split(","):
            rows.append(bench_variant(variant, name, options[variant], args.calls, by_class))
            r = rows[-1]
            later = ", ".join(f"{c['wall']:.1f} s ({c['cpu']:.1f} CPU s)" for c in r["later"])
            print(f"{name} {variant}: first {r['first']['wall']:.1f} s, then {later}", flush=True)
        if by_class is not None:
            one, two = (
                [{"role": "user", "content": class_step(by_class, k, shown=SHOWN_INPUTS[0])[0]}]
                for k in (1, 2)
            )
            parts += [
                f"{name}: the class-specific message where no input is a class text ({DEFAULT_CLASSES} "
                f"classes x {PER_CLASS} texts, {SHOWN_INPUTS[0]} misread inputs shown per class), "
                f"{args.calls} calls per variant after its first.",
                "",
                speed_table(rows),
                "",
                f"Share of a step's message that repeats the previous step's from its start: "
                f"{shared_prefix_chars(one, two):.0%}.",
                "",
            ]
            continue
        share = shared_prefix_chars(step_messages(1), step_messages(2))
        share_static = shared_prefix_chars(step_messages(1, True), step_messages(2, True))
        parts += [
            f"{name}: the default's message, {args.calls} calls per variant after its first.",
            "",
            speed_table(rows),
            "",
            f"Share of a step's message that repeats the previous step's from its start: {share:.0%} in "
            f"today's order, {share_static:.0%} with the static parts first.",
            "",
        ]
    text = "\n".join(parts)
    print(text)
    if args.write:
        write_section(section, text)


if __name__ == "__main__":
    main()
