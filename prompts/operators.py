"""Edit and crossover operators over templates (ProAPO-style): new candidates that cost no LLM call.

- crossover: the words before the class name of one template with the words after it of another;
- edit: one word dropped (never the class name), or the words after the class name dropped.

Every variant is validated like an LLM proposal; the set is deterministic given the seed.
"""

from __future__ import annotations

import random

from promptclimb.prompts.template import PLACEHOLDER, TemplateError, normalize, validate


def crossover(a: str, b: str) -> str:
    head, _, _ = a.partition(PLACEHOLDER)
    _, _, tail = b.partition(PLACEHOLDER)
    return f"{head}{PLACEHOLDER}{tail}"


def edits(template: str) -> list[str]:
    head, _, tail = template.partition(PLACEHOLDER)
    words = head.split()
    glue = " " if head.endswith(" ") else ""  # "a photo of a {}" keeps its space, "{}'s" its none
    variants = [
        " ".join([*words[:i], *words[i + 1 :]]) + glue + PLACEHOLDER + tail for i in range(len(words))
    ]
    if tail.strip(" ."):
        variants.append(f"{head}{PLACEHOLDER}.")
    return variants


def local_variants(parents: list[str], seed: int, limit: int) -> list[str]:
    """Up to ``limit`` valid new templates from crossovers and edits of ``parents`` (best first)."""
    seen = {normalize(p) for p in parents}
    found: list[str] = []
    pairs = [(a, b) for a in parents for b in parents if a != b]
    singles = [v for p in parents for v in edits(p)]
    pool = [crossover(a, b) for a, b in pairs] + singles
    random.Random(f"promptclimb-operators:{seed}").shuffle(pool)
    for text in pool:
        try:
            template = validate(" ".join(text.split()))
        except TemplateError:
            continue
        key = normalize(template)
        if key in seen:
            continue
        seen.add(key)
        found.append(template)
        if len(found) >= limit:
            break
    return found
