"""What a run drew from its dataset, item by item: kept in the run's data.json, compared on resume.

Class names and split sizes alone accept swapped folder contents (cat/ and dog/ exchanged, same names and
counts) or a file replaced by another. Each drawn train/val item is recorded as its place (a path relative to
the dataset, or the row number of a CSV set), its label, and a short hash of its content: an image file's
size and first MiB, a CSV row's text. The test split is never listed here (it is read only at the end).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

SPLITS = ("train", "val")
HASHED_BYTES = 1 << 14  # enough to tell images apart, cheap for ImageNet 16-shot (16k files)
HASH_CHARS = 16

Entry = list[Any]  # [place, label, content hash]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:HASH_CHARS]


def _file_hash(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            return _digest(str(size).encode() + b"\0" + handle.read(HASHED_BYTES))
    except OSError:
        return "unreadable"  # the scorer skips it too; a file that becomes readable is a change


def _entry(item: Any, root: str, number: int) -> Entry:
    if hasattr(item, "path"):  # an image
        place = os.path.relpath(item.path, root) if root else item.path
        return [place, item.label, _file_hash(item.path)]
    return [f"row {number}", item.label, _digest(str(item.text).encode("utf-8", "surrogatepass"))]


def drawn_record(dataset: Any) -> dict[str, list[Entry]]:
    """Every drawn train/val item of ``dataset`` (a FewShotDataset or TextDataset) as an entry."""
    root = str(getattr(dataset, "root", "") or "")
    return {
        split: [_entry(item, root, n) for n, item in enumerate(dataset.items(split), 1)]
        for split in SPLITS
        if dataset.has_split(split)
    }


def describe_drawn_change(saved: dict[str, list[Entry]], now: dict[str, list[Entry]]) -> str | None:
    """One line naming the first items that differ (None: the same items with the same contents)."""
    for split in SPLITS:
        old = {str(e[0]): e for e in saved.get(split, []) if isinstance(e, list) and len(e) == 3}
        new = {str(e[0]): e for e in now.get(split, [])}
        if old == new:
            continue
        changed = [p for p in new if p in old and old[p] != new[p]]
        removed = [p for p in old if p not in new]
        added = [p for p in new if p not in old]
        parts = []
        if changed:
            relabeled = [p for p in changed if old[p][1] != new[p][1]]
            what = "content or label" if relabeled else "content"
            parts.append(f"{len(changed)} {what} changed ({_names(changed)})")
        if removed:
            parts.append(f"{len(removed)} gone ({_names(removed)})")
        if added:
            parts.append(f"{len(added)} new ({_names(added)})")
        return f"{split} split: " + "; ".join(parts)
    return None


def _names(places: list[str], shown: int = 3) -> str:
    more = f", and {len(places) - shown} more" if len(places) > shown else ""
    return ", ".join(places[:shown]) + more
