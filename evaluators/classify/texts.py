"""Few-shot *text* classification datasets: a folder with ``train.csv`` and ``test.csv``.

Each CSV has a text column and a label column (found by name: text/sentence/utterance/query/content and
label/category/intent/class, or given with --text-column/--label-column). Labels are humanized for the
class prompts ("card_arrival" -> "card arrival"). An optional ``val.csv`` (or ``validation.csv``,
``dev.csv``) is the validation pool; otherwise validation draws from the training rows the k-shot sample
did not take, so the two never overlap.

The protocol is the image one (evaluators/classify/fewshot.py): k texts per class for train, min(k, 4) per
class for val, chosen by a generator seeded with (split, seed, class) from the text-sorted candidates, so
the draw does not depend on row order. The test split is read only when asked for.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from promptclimb.evaluators.classify.errors import DataError
from promptclimb.evaluators.classify.fewshot import VAL_SHOTS_CAP, sample_per_class
from promptclimb.evaluators.classify.names import clean_classnames

TEXT_COLUMNS = ("text", "sentence", "utterance", "query", "content", "message")
LABEL_COLUMNS = ("label", "category", "intent", "class", "target")
VAL_FILES = ("val.csv", "validation.csv", "valid.csv", "dev.csv")
MAX_FIELD_CHARS = 10_000_000


@dataclass(frozen=True)
class TextItem:
    text: str
    label: int  # index into classnames


def _text(item: TextItem) -> str:
    return item.text


def is_text_dataset(path: str | Path) -> bool:
    """A folder holding train.csv is a text dataset."""
    return (Path(path).expanduser() / "train.csv").is_file()


class TextDataset:
    """A k-shot view of a CSV text dataset; same interface as FewShotDataset (items hold text)."""

    modality = "text"
    layout = "csv"

    def __init__(
        self,
        *,
        name: str,
        root: str,
        classnames: list[str],
        shots: int,
        seed: int,
        train_pool: list[TextItem],
        val_pool: list[TextItem] | None,
        test_source: Callable[[], list[TextItem]] | None,
    ) -> None:
        self.name, self.root, self.shots, self.seed = name, root, shots, seed
        self.classnames = list(classnames)
        train = sample_per_class(
            train_pool, self.classnames, shots, seed, "train", key=_text, noun="text", strict=True
        )
        if val_pool is None:  # no val file: the training rows the sample did not take
            taken = {id(item) for item in train}
            val_pool = [item for item in train_pool if id(item) not in taken]
        self._splits: dict[str, list[TextItem]] = {"train": train}
        val_shots = min(shots, VAL_SHOTS_CAP)
        val = sample_per_class(val_pool, self.classnames, val_shots, seed, "val", key=_text, noun="text")
        if val:
            self._splits["val"] = val
        self._test_source = test_source
        self._fingerprints: dict[str, str] = {}

    def check_test(self) -> None:
        """DataError now for a test.csv the final evaluation could not read (encoding, columns, a label
        train.csv lacks); the rows are dropped again: only finalize keeps and scores the test split."""
        if self._test_source is not None and "test" not in self._splits:
            self._test_source()

    def has_split(self, split: str) -> bool:
        if split == "test":
            return self._test_source is not None
        return split in self._splits

    def items(self, split: str) -> list[TextItem]:
        if not self.has_split(split):
            raise DataError(f"dataset '{self.name}' has no {split} split")
        if split == "test" and "test" not in self._splits:
            assert self._test_source is not None
            self._splits["test"] = self._test_source()
        return list(self._splits[split])

    def fingerprint(self, split: str) -> str:
        """sha256 over the class names and the exact (text, label) list of a split."""
        if split not in self._fingerprints:
            digest = hashlib.sha256(json.dumps(self.classnames, ensure_ascii=False).encode())
            for item in self.items(split):
                digest.update(json.dumps([item.text, item.label], ensure_ascii=False).encode() + b"\n")
            self._fingerprints[split] = digest.hexdigest()
        return self._fingerprints[split]

    def examples(self, n: int) -> list[tuple[str, str]]:
        """Up to n (training text, class name) pairs, one class each, for the meta-prompt (train only)."""
        train = self._splits["train"]
        by_class: dict[int, list[str]] = {}
        for item in train:
            by_class.setdefault(item.label, []).append(item.text)
        rng = random.Random(f"promptclimb-examples:{self.seed}")
        labels = sorted(by_class)
        rng.shuffle(labels)
        return [(by_class[label][0], self.classnames[label]) for label in labels[:n]]

    def summary(self) -> str:
        val = f"val {len(self._splits['val'])} texts" if "val" in self._splits else "no val split"
        test = "test split present" if self._test_source is not None else "no test split"
        head = f"{self.name} (csv): {len(self.classnames)} classes, {self.shots}-shot seed {self.seed}"
        return f"{head}, train {len(self._splits['train'])} texts, {val}, {test}"


def load_text_dataset(
    path: str | Path,
    *,
    shots: int,
    seed: int,
    text_column: str | None = None,
    label_column: str | None = None,
) -> TextDataset:
    if isinstance(shots, bool) or not isinstance(shots, int) or shots < 1:
        raise DataError(f"shots must be a positive integer, got {shots!r}")
    root = Path(path).expanduser().resolve()
    if not (root / "train.csv").is_file():
        raise DataError(f"no train.csv in text dataset folder {root}")
    columns = (text_column, label_column)
    train_rows = _read_rows(root / "train.csv", *columns)
    raw_labels = sorted({label for _, label in train_rows})
    if len(raw_labels) < 2:
        raise DataError(
            f"{root / 'train.csv'} has {len(raw_labels)} label(s); classification needs 2 or more"
        )
    index = {label: i for i, label in enumerate(raw_labels)}

    def items(rows: list[tuple[str, str]], where: Path) -> list[TextItem]:
        unknown = sorted({label for _, label in rows if label not in index})
        if unknown:
            raise DataError(f"{where} has label '{unknown[0]}' that train.csv does not have")
        return [TextItem(text, index[label]) for text, label in rows]

    val_file = next((root / f for f in VAL_FILES if (root / f).is_file()), None)
    val_pool = items(_read_rows(val_file, *columns), val_file) if val_file else None
    test_file = root / "test.csv"
    test_source = (lambda: items(_read_rows(test_file, *columns), test_file)) if test_file.is_file() else None
    return TextDataset(
        name=root.name,
        root=str(root),
        classnames=clean_classnames(raw_labels),
        shots=shots,
        seed=seed,
        train_pool=items(train_rows, root / "train.csv"),
        val_pool=val_pool,
        test_source=test_source,
    )


def _read_rows(path: Path, text_column: str | None, label_column: str | None) -> list[tuple[str, str]]:
    """(text, label) rows of one CSV; a one-line DataError for anything unreadable."""
    csv.field_size_limit(min(sys.maxsize, MAX_FIELD_CHARS))
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = list(reader.fieldnames or [])
            if not header:
                raise DataError(f"{path} is empty: a header row (text,label) and rows are expected")
            text_key = _column(header, text_column, TEXT_COLUMNS, "text", path)
            label_key = _column(header, label_column, LABEL_COLUMNS, "label", path)
            rows = []
            for line, row in enumerate(reader, start=2):
                text, label = (row.get(text_key) or "").strip(), (row.get(label_key) or "").strip()
                if not text or not label:
                    raise DataError(f"{path}:{line}: empty {'text' if not text else 'label'}")
                rows.append((text, label))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    if not rows:
        raise DataError(f"{path} has no rows")
    return rows


def _column(header: list[str], chosen: str | None, names: tuple[str, ...], what: str, path: Path) -> str:
    if chosen is not None:
        if chosen not in header:
            raise DataError(f"{path} has no column '{chosen}' (columns: {', '.join(header)})")
        return chosen
    lowered = {h.lower().strip(): h for h in header}
    for name in names:
        if name in lowered:
            return lowered[name]
    option = f"--{what}-column"
    raise DataError(f"{path}: no {what} column among {', '.join(header)}; name it with {option}")
