"""Batching prompts for a text encoder (CLIP, SigLIP, the sentence encoder): runs of length-sorted prompts,
each padded to its longest, and features of several prompt groups encoded at once split back per group."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

TEXT_TOKENS_PER_BATCH = 4096
MIN_BATCH_PROMPTS = 32
MAX_PADDING = 0.1


def regroup(
    groups: Sequence[Sequence[str]], features: np.ndarray, truncated: list[bool]
) -> list[tuple[np.ndarray, list[bool]]]:
    """Per group, its rows of features encoded for all groups' prompts at once (in order)."""
    out, start = [], 0
    for group in groups:
        end = start + len(group)
        out.append((features[start:end], truncated[start:end]))
        start = end
    return out


def token_batches(order: list[int], lengths: list[int]) -> Iterator[list[int]]:
    """Consecutive runs of `order` (sorted by length) to encode together, each padded to its longest.

    A run ends before it would exceed TEXT_TOKENS_PER_BATCH padded tokens, or, once it holds
    MIN_BATCH_PROMPTS prompts, before padding would exceed MAX_PADDING of its tokens: the long tail of
    long class names gets its own small batches instead of padding a big one.
    """
    batch: list[int] = []
    real = 0
    for i in order:
        width = max(lengths[i], 1)
        padded = (len(batch) + 1) * width
        too_big = padded > TEXT_TOKENS_PER_BATCH
        too_padded = len(batch) >= MIN_BATCH_PROMPTS and padded > (1 + MAX_PADDING) * (real + width)
        if batch and (too_big or too_padded):
            yield batch
            batch, real = [], 0
        batch.append(i)
        real += width
    if batch:
        yield batch
