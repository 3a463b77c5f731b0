"""Where a classifier goes wrong, from its predictions only (labels and predicted labels, no logits):
per-class accuracy, the most confused class pairs and a few misread inputs. Pure functions, JSON-ready output
(``show --json``'s ``final.diagnosis``, the report's "Where it goes wrong")."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

CONFUSED_PAIRS = 10  # pairs kept per split (the report shows the first few)
MISREAD_INPUTS = 3  # misread inputs kept per split, one per most confused pair first


def confused_pairs(labels: Sequence[int], predicted: Sequence[int]) -> list[list[int]]:
    """[true, predicted, count] of the errors, most frequent first (then by class order)."""
    pairs = Counter((int(t), int(p)) for t, p in zip(labels, predicted, strict=True) if t != p)
    return [[t, p, n] for (t, p), n in sorted(pairs.items(), key=lambda item: (-item[1], item[0]))]


def misread_rows(
    labels: Sequence[int], predicted: Sequence[int], pairs: list[list[int]], limit: int
) -> list[int]:
    """Rows of up to ``limit`` misread inputs: the first of each most confused pair, then the next ones of
    the same pairs (so the examples show the commonest mistakes, several kinds before repeats)."""
    rows: dict[tuple[int, int], list[int]] = {}
    for row, (t, p) in enumerate(zip(labels, predicted, strict=True)):
        if t != p:
            rows.setdefault((int(t), int(p)), []).append(row)
    in_order = [rows[(t, p)] for t, p, _ in pairs]
    chosen = [group[0] for group in in_order] + [row for group in in_order for row in group[1:]]
    return chosen[:limit]


def diagnose(
    labels: Sequence[int],
    predicted: Sequence[int],
    classnames: Sequence[str],
    inputs: Sequence[str] | None = None,
    *,
    pairs: int = CONFUSED_PAIRS,
    examples: int = MISREAD_INPUTS,
) -> dict[str, Any]:
    """Per-class accuracy (class order), the ``pairs`` most confused (true, predicted) pairs and, when the
    inputs are given (a text, or an image's file name, per row), ``examples`` misread inputs."""
    if len(labels) != len(predicted) or (inputs is not None and len(inputs) != len(labels)):
        raise ValueError("labels, predicted labels and inputs must have one entry per input")
    totals = Counter(int(t) for t in labels)
    hits = Counter(int(t) for t, p in zip(labels, predicted, strict=True) if t == p)
    per_class = [
        {"class": name, "correct": hits[c], "n": totals[c], "acc": hits[c] / totals[c] if totals[c] else None}
        for c, name in enumerate(classnames)
    ]
    ranked = confused_pairs(labels, predicted)
    confused = [{"true": classnames[t], "predicted": classnames[p], "count": n} for t, p, n in ranked[:pairs]]
    misread: list[dict[str, str]] = []
    if inputs is not None:
        misread = [
            {"input": inputs[r], "true": classnames[labels[r]], "predicted": classnames[predicted[r]]}
            for r in misread_rows(labels, predicted, ranked, examples)
        ]
    correct = sum(hits.values())
    return {
        "n": len(labels),
        "correct": correct,
        "acc": correct / len(labels) if len(labels) else None,
        "per_class": per_class,
        "confused": confused,
        "misread": misread,
    }
