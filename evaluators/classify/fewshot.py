"""Few-shot sampling: k items per class from a split's pool, by promptclimb's draw or CoOp's.

Protocol (CoOp's): the train split is a k-shot sample (k images per class), val a min(k, 4)-shot sample,
test is used whole. A dataset without a val split has none (nothing is taken from train). Two samplers
(``load_dataset(sampler=...)``, RunConfig ``sampler``):

- ``promptclimb`` (default): sorts each class's paths and seeds a generator per (split, seed, class), so the
  draw depends only on (seed, files): never on listing order or on the order of a split file's rows, and
  adding or removing one class leaves every other class's images as they were.
- ``coop``: CoOp's exact draw (Dassl's ``generate_fewshot_dataset``, as CoOp's datasets call it):
  ``random.seed(seed)``, the pool grouped by label in first-seen order, ``random.sample(items, k)`` per
  label (every item of a label with fewer than k), train then val (min(k, 4) shots) from the one stream.
  The same images as every CoOp-protocol paper for the JSON-split datasets and FGVC-Aircraft, whose item
  order is the split file's; for ImageNet CoOp's order was its file system's listing, which no one can
  reproduce, so promptclimb's order (sorted paths) is used.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from promptclimb.evaluators.classify.errors import DataError

SAMPLERS = ("promptclimb", "coop")
VAL_SHOTS_CAP = 4  # CoOp: val gets min(shots, 4) images per class

Item = TypeVar("Item", bound=Any)  # an ImageItem or a TextItem: anything with a ``label``


def sample_per_class(
    pool: Iterable[Item],
    classnames: list[str],
    k: int,
    seed: int,
    split: str,
    *,
    key: Callable[[Item], str],
    noun: str = "image",
    strict: bool = False,
) -> list[Item]:
    """k items per class, chosen from ``key``-sorted candidates by a generator seeded with (split, seed,
    class), so the draw never depends on listing order. Images sort by path, texts by their text.

    strict (train): a class with fewer than k items is an error. Otherwise (val) such a class keeps all
    its items, as CoOp does.
    """
    by_label: dict[int, list[Item]] = {label: [] for label in range(len(classnames))}
    for item in pool:
        by_label[item.label].append(item)
    chosen: list[Item] = []
    for label, items in by_label.items():
        items.sort(key=key)
        if len(items) < k:
            if strict:
                raise DataError(
                    f"class '{classnames[label]}' has {len(items)} {split} {noun}(s), fewer than shots={k}"
                )
            chosen.extend(items)
            continue
        rng = random.Random(f"promptclimb-fewshot:{split}:{seed}:{label}")
        chosen.extend(items[i] for i in sorted(rng.sample(range(len(items)), k)))
    return chosen


def coop_fewshot(
    train_pool: Sequence[Item], val_pool: Sequence[Item] | None, shots: int, seed: int
) -> tuple[list[Item], list[Item] | None]:
    """CoOp's few-shot draw: Dassl's generate_fewshot_dataset on train (k shots), then on val
    (min(k, 4) shots), both from one generator seeded as ``random.seed(seed)`` (CoOp's set_random_seed)."""
    rng = random.Random(seed)
    train = _dassl_sample(train_pool, shots, rng)
    val = _dassl_sample(val_pool, min(shots, VAL_SHOTS_CAP), rng) if val_pool else None
    return train, val


def _dassl_sample(pool: Iterable[Item], k: int, rng: random.Random) -> list[Item]:
    """Per label, in the order labels first appear in pool: rng.sample of k items, or all of a label's
    items when it has fewer (Dassl without repeat). rng.sample draws positions, so the items drawn
    depend on pool's order, which is why this order is the split file's."""
    by_label: dict[int, list[Item]] = {}
    for item in pool:
        by_label.setdefault(item.label, []).append(item)
    chosen: list[Item] = []
    for items in by_label.values():
        chosen.extend(rng.sample(items, k) if len(items) >= k else items)
    return chosen
