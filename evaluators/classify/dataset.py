"""A k-shot view of one image dataset: sampled train and val items, test items listed lazily, fingerprints.

The test split is lazy: nothing under a test folder is listed, opened or stat-ed until ``items("test")``
(or ``fingerprint("test")``), so an optimizer that never asks for it provably never sees it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from promptclimb.evaluators.classify.coop_specs import COOP_SPECS
from promptclimb.evaluators.classify.errors import DataError
from promptclimb.evaluators.classify.fewshot import VAL_SHOTS_CAP, coop_fewshot, sample_per_class

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ImageItem:
    path: str  # absolute path
    label: int  # index into classnames


TestSource = Callable[[], list[ImageItem]]


def _path(item: ImageItem) -> str:
    return item.path


class FewShotDataset:
    """A k-shot view of one dataset: sampled train/val items, lazily listed test items."""

    modality = "image"  # what the items are, for the scorer check and the meta-prompt (TextDataset: "text")

    def __init__(
        self,
        *,
        name: str,
        root: str,
        layout: str,
        classnames: list[str],
        shots: int,
        seed: int,
        train_pool: Sequence[ImageItem],
        val_pool: Sequence[ImageItem] | None,
        test_source: TestSource | None,
        sampler: str = "promptclimb",
    ) -> None:
        self.name = name
        self.root = root
        self.layout = layout
        self.classnames = list(classnames)
        self.shots = shots
        self.seed = seed
        self.sampler = sampler
        if len(self.classnames) < 2:
            raise DataError(_single_class_message(name, root, self.classnames))
        self._splits: dict[str, list[ImageItem]] = {}
        if sampler == "coop":
            train, val = coop_fewshot(train_pool, val_pool, shots, seed)
            _check_every_class_drawn(train, self.classnames)
            self._splits["train"] = train
            if val:
                self._splits["val"] = val
        else:
            self._splits["train"] = sample_per_class(
                train_pool, self.classnames, shots, seed, "train", key=_path, strict=True
            )
            if val_pool:
                val_shots = min(shots, VAL_SHOTS_CAP)
                self._splits["val"] = sample_per_class(
                    val_pool, self.classnames, val_shots, seed, "val", key=_path
                )
        for split, items in self._splits.items():
            _check_files_exist(items, split)
        self._test_source = test_source
        self._fingerprints: dict[str, str] = {}

    def has_split(self, split: str) -> bool:
        _check_split_name(split)
        if split == "test":
            return self._test_source is not None
        return split in self._splits

    def items(self, split: str) -> list[ImageItem]:
        """train: the k-shot sample; val: min(k, 4) per class; test: all test images (listed on first use)."""
        if not self.has_split(split):
            raise DataError(f"dataset '{self.name}' has no {split} split")
        if split == "test" and "test" not in self._splits:
            assert self._test_source is not None
            test = sorted(self._test_source(), key=lambda item: (item.label, item.path))
            # The test set defines the benchmark number: it is never silently smaller or empty.
            if not test:
                where = f"'{self.name}' ({self.root})"
                raise DataError(f"the test split of {where} holds no images in class folders")
            _check_files_exist(test, "test")
            self._splits["test"] = test
        return list(self._splits[split])

    def fingerprint(self, split: str) -> str:
        """sha256 over the class names and the exact item list (path, label, file size) of a split."""
        if split not in self._fingerprints:
            digest = hashlib.sha256()
            digest.update(json.dumps(self.classnames, ensure_ascii=False).encode("utf-8", "surrogateescape"))
            for item in self.items(split):
                row = [item.path, item.label, _file_size(item.path, split)]
                digest.update(json.dumps(row, ensure_ascii=False).encode("utf-8", "surrogateescape"))
                digest.update(b"\n")
            self._fingerprints[split] = digest.hexdigest()
        return self._fingerprints[split]

    def summary(self) -> str:
        """One line for logs and the CLI; never touches the test split."""
        parts = [
            f"{self.name} ({self.layout}): {len(self.classnames)} classes, {self.shots}-shot seed {self.seed}"
            + (" (CoOp's draw)" if self.sampler == "coop" else "")
        ]
        parts.append(f"train {len(self._splits['train'])} images")
        parts.append(f"val {len(self._splits['val'])} images" if "val" in self._splits else "no val split")
        parts.append("test split present" if self._test_source is not None else "no test split")
        return ", ".join(parts)

    def __repr__(self) -> str:
        return f"FewShotDataset({self.summary()!r})"


def _single_class_message(name: str, root: str, classnames: list[str]) -> str:
    """Why a one-class dataset is refused (every template would score 100%), with the likely cause."""
    found = f"{len(classnames)} class{'' if len(classnames) == 1 else 'es'} {classnames[:1]}"
    for key, spec in COOP_SPECS.items():
        named_like = os.path.basename(os.path.normpath(root)) == spec.folder
        if spec.split_file and (named_like or (spec.image_dir and classnames == [spec.image_dir])):
            split_path = os.path.join(root, spec.split_file)
            return f"dataset '{name}' has {found}: CoOp {key} needs its split file {split_path}"
    return f"dataset '{name}' has {found} in {root}: classification needs at least 2 classes"


def _check_every_class_drawn(train: Sequence[ImageItem], classnames: list[str]) -> None:
    drawn = {item.label for item in train}
    missing = [name for label, name in enumerate(classnames) if label not in drawn]
    if missing:
        raise DataError(f"class '{missing[0]}' has no train image")


def _check_files_exist(items: Iterable[ImageItem], split: str) -> None:
    for item in items:
        if not os.path.isfile(item.path):
            raise DataError(f"{split} image not found: {item.path}")


def _file_size(path: str, split: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError as exc:
        raise DataError(f"{split} image not found: {path}") from exc


def _check_split_name(split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"unknown split '{split}' (choose from {', '.join(SPLITS)})")
