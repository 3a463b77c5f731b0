"""Few-shot image classification datasets: directory layouts, k-shot sampling, cache fingerprints.

Layouts (``load_dataset(layout=...)``, docs/datasets.md has the user-facing description):

- ``folders``: ``train/``, optional ``val/`` (or ``validation/``, ``valid/``), optional ``test/``, each with
  one sub-folder per class; classes come from ``train/``.
- ``flat``: one sub-folder per class, no split folders; split by the fixed rule below.
- ``named``: image files named ``<id>_<class_name>.ext`` (or ``<class_name>_<n>.ext``) in one folder; split
  by the fixed rule below.
- ``coop``: the 11 benchmark datasets exactly as CoOp's DATASETS.md lays them out.
- ``auto``: picks one of the above from the directory contents.

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

Class names of the CoOp datasets: ``class_names="coop"`` (the split files' names, default) or ``"clip"``
(OpenAI CLIP's readable names, as the paper's code uses them; see classnames.py).

The test split is lazy: nothing under a test folder is listed, opened or stat-ed until ``items("test")``
(or ``fingerprint("test")``), so an optimizer that never asks for it provably never sees it.

Fixed split rule for ``flat`` and ``named`` (independent of the seed, so the test split is the same for
seeds 1, 2, 3): within each class, file names are sorted and shuffled with a generator seeded by the class
name only; then, by the smallest class size m over all classes:
  m >= 3: 50% train / 20% val / 30% test per class (each at least 1 image, rounding half up);
  m == 2: train / test, 30% test per class (at least 1);
  m == 1: everything is train (no val, no test), e.g. one image per class.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from promptclimb.evaluators.classify.classnames import (
    CLASS_NAMES,
    ClassNamesError,
    imagenet_clip_names_by_wnid,
    published_classnames,
)
from promptclimb.prompts.handmade import COOP_DATASETS, dataset_key, imagenet_classname_by_wnid

logger = logging.getLogger(__name__)

LAYOUTS = ("auto", "folders", "flat", "named", "coop")
SPLITS = ("train", "val", "test")
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
VAL_SHOTS_CAP = 4  # CoOp: val gets min(shots, 4) images per class
SAMPLERS = ("promptclimb", "coop")

_TRAIN_DIRS = ("train", "training")
_VAL_DIRS = ("val", "validation", "valid")
_TEST_DIRS = ("test", "testing")
_IGNORED_DIRS = {"__MACOSX"}


class DataError(ValueError):
    """A dataset that cannot be loaded; the one-line message says what and where."""


@dataclass(frozen=True)
class ImageItem:
    path: str  # absolute path
    label: int  # index into classnames


TestSource = Callable[[], list[ImageItem]]
Item = TypeVar("Item", bound=Any)  # an ImageItem or a TextItem: anything with a ``label``


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


def load_dataset(
    path: str | Path,
    *,
    shots: int,
    seed: int,
    layout: str = "auto",
    coop_name: str | None = None,
    class_names: str = "coop",
    sampler: str = "promptclimb",
) -> FewShotDataset:
    """Load a dataset directory as a k-shot dataset (see the module docstring for layouts, samplers and
    class names)."""
    if isinstance(shots, bool) or not isinstance(shots, int) or shots < 1:
        raise DataError(f"shots must be a positive integer, got {shots!r}")
    if layout not in LAYOUTS:
        raise DataError(f"unknown dataset layout '{layout}' (choose from {', '.join(LAYOUTS)})")
    if sampler not in SAMPLERS:
        raise DataError(f"unknown sampler '{sampler}' (choose from {', '.join(SAMPLERS)})")
    if class_names not in CLASS_NAMES:
        raise DataError(f"unknown class names '{class_names}' (choose from {', '.join(CLASS_NAMES)})")
    if coop_name is not None and layout not in ("auto", "coop"):
        raise DataError(f"a CoOp dataset name only applies to the coop layout, not '{layout}'")
    root = os.path.abspath(os.path.expanduser(str(path)))
    if not os.path.exists(root):
        raise DataError(f"dataset path not found: {root}")
    if not os.path.isdir(root):
        raise DataError(f"dataset path is not a directory: {root}")

    common = {"shots": shots, "seed": seed, "sampler": sampler}
    if coop_name is not None or layout == "coop":
        return _load_coop(root, coop_name, class_names=class_names, **common)
    if layout == "auto":
        layout = _detect_layout(root)
        if layout == "coop":
            return _load_coop(root, None, class_names=class_names, **common)
    if class_names != "coop":
        raise DataError(
            f"class names '{class_names}' (the paper's published names) exist only for the 11 CoOp "
            f"datasets; {root} is a {layout} dataset"
        )
    loaders = {"folders": _load_folders, "flat": _load_flat, "named": _load_named}
    return loaders[layout](root, **common)


# ---------------------------------------------------------------------------------------------- sampling


def _single_class_message(name: str, root: str, classnames: list[str]) -> str:
    """Why a one-class dataset is refused (every template would score 100%), with the likely cause."""
    found = f"{len(classnames)} class{'' if len(classnames) == 1 else 'es'} {classnames[:1]}"
    for key, spec in COOP_SPECS.items():
        named_like = os.path.basename(os.path.normpath(root)) == spec.folder
        if spec.split_file and (named_like or (spec.image_dir and classnames == [spec.image_dir])):
            split_path = os.path.join(root, spec.split_file)
            return f"dataset '{name}' has {found}: CoOp {key} needs its split file {split_path}"
    return f"dataset '{name}' has {found} in {root}: classification needs at least 2 classes"


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


# ------------------------------------------------------------------------------------------- listing


def _is_image_name(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _image_files(folder: str) -> list[str]:
    """Sorted absolute paths of the image files directly inside folder (hidden files skipped)."""
    with os.scandir(folder) as entries:
        names = [e.name for e in entries if _is_image_name(e.name) and _entry_is(e, "file")]
    return [os.path.join(folder, name) for name in sorted(names)]


def _subdirs(folder: str) -> list[str]:
    """Sorted names of the visible sub-folders of folder."""
    with os.scandir(folder) as entries:
        names = [
            e.name
            for e in entries
            if not e.name.startswith(".") and e.name not in _IGNORED_DIRS and _entry_is(e, "dir")
        ]
    return sorted(names)


def _entry_is(entry: os.DirEntry, kind: str) -> bool:
    """entry.is_file() / is_dir(), skipping with a warning what cannot be followed (a symlink loop)."""
    try:
        return entry.is_file() if kind == "file" else entry.is_dir()
    except OSError as error:
        logger.warning("skipping %s: %s", entry.path, error.strerror or error)
        return False


def _find_child_dir(root: str, candidates: Sequence[str]) -> str | None:
    """The first sub-folder of root whose lower-cased name is in candidates (in candidates' order)."""
    by_lower = {name.lower(): name for name in _subdirs(root)}
    for candidate in candidates:
        if candidate in by_lower:
            return os.path.join(root, by_lower[candidate])
    return None


def _class_images(class_dir: str) -> list[str]:
    images = _image_files(class_dir)
    if not images:
        extensions = ", ".join(sorted(ext.lstrip(".") for ext in IMAGE_EXTENSIONS))
        raise DataError(f"class folder has no images ({extensions}): {class_dir}")
    return images


# ------------------------------------------------------------------------------------- class names

_CAMEL_WORDS = re.compile(r"^[A-Z][a-z]+(?:[A-Z][a-z]+)+$")
_ORDER_PREFIX = re.compile(r"^\d+[._\-\s]+(?=\S)")


def clean_classname(raw: str) -> str:
    """A readable class name from a folder or file name: underscores to spaces, CamelCase words split
    ("AnnualCrop" -> "Annual Crop"); hyphens are kept ("t-shirt")."""
    name = raw.replace("_", " ")
    if _CAMEL_WORDS.match(name):
        name = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)
    name = " ".join(name.split())
    return name or raw


def clean_classnames(raw_names: Sequence[str]) -> list[str]:
    """clean_classname for a whole class list: numeric ordering prefixes ("001.Black_footed_Albatross") are
    dropped when every class has one, and names that would collide stay raw."""
    names = list(raw_names)
    if names and all(_ORDER_PREFIX.match(n) for n in names):
        names = [_ORDER_PREFIX.sub("", n) for n in names]
    cleaned = [clean_classname(n) for n in names]
    counts: dict[str, int] = {}
    for name in cleaned:
        counts[name] = counts.get(name, 0) + 1
    return [c if counts[c] == 1 else raw for c, raw in zip(cleaned, raw_names, strict=True)]


# ----------------------------------------------------------------------------------- auto detection


def _detect_layout(root: str) -> str:
    if _detect_coop(root) is not None:
        return "coop"
    with os.scandir(root) as entries:
        visible = [e for e in entries if not e.name.startswith(".")]
    if not visible:
        raise DataError(f"dataset directory is empty: {root}")
    if _find_child_dir(root, _TRAIN_DIRS) is not None:
        return "folders"
    subdirs = _subdirs(root)
    nested = _nested_coop_datasets(root, subdirs)
    if nested:
        raise DataError(
            f"{root} holds several CoOp datasets ({', '.join(nested)}); "
            "point at one of them or give its CoOp name"
        )
    if subdirs:
        return "flat"
    if any(_is_image_name(e.name) and e.is_file() for e in visible):
        return "named"
    raise DataError(f"no class folders or images in {root}")


# ------------------------------------------------------------------------------------------ folders


def _load_folders(root: str, *, shots: int, seed: int, sampler: str) -> FewShotDataset:
    train_dir = _find_child_dir(root, _TRAIN_DIRS)
    if train_dir is None:
        raise DataError(f"no train/ folder in {root} (folders layout)")
    class_dirs = _subdirs(train_dir)
    if not class_dirs:
        raise DataError(f"no class folders in {train_dir}")
    index = {name: label for label, name in enumerate(class_dirs)}
    train = [
        ImageItem(path, label)
        for label, name in enumerate(class_dirs)
        for path in _class_images(os.path.join(train_dir, name))
    ]
    val_dir = _find_child_dir(root, _VAL_DIRS)
    test_dir = _find_child_dir(root, _TEST_DIRS)
    wnids = all(_WNID_NAME.fullmatch(d) and "_" not in d for d in class_dirs)
    if wnids and test_dir is None and val_dir is not None:
        # ImageNet's own layout: its val/ is the benchmark's test set, never a few-shot validation split.
        logger.info("ImageNet folders (WordNet ids): %s is used as the test split", val_dir)
        val_dir, test_dir = None, val_dir
    val = _list_split_dir(val_dir, index) if val_dir is not None else None
    # Only the folder's existence is checked here; its contents are listed on first items("test").
    test_source = (lambda: _list_split_dir(test_dir, index)) if test_dir is not None else None
    return FewShotDataset(
        name=os.path.basename(root),
        root=root,
        layout="folders",
        classnames=_wnid_names(class_dirs) if wnids else clean_classnames(class_dirs),
        shots=shots,
        seed=seed,
        train_pool=train,
        val_pool=val,
        test_source=test_source,
        sampler=sampler,
    )


def _list_split_dir(split_dir: str, index: dict[str, int]) -> list[ImageItem]:
    """Images of a val/test folder whose class sub-folders must all be train classes (some may be absent)."""
    items = []
    for name in _subdirs(split_dir):
        if name not in index:
            raise DataError(f"class folder {os.path.join(split_dir, name)} is not a class of the train split")
        items.extend(ImageItem(path, index[name]) for path in _image_files(os.path.join(split_dir, name)))
    return items


# ------------------------------------------------------------------------------------ flat and named


def _load_flat(root: str, *, shots: int, seed: int, sampler: str) -> FewShotDataset:
    class_dirs = _subdirs(root)
    if not class_dirs:
        raise DataError(f"no class folders in {root} (flat layout: one sub-folder per class)")
    groups = [_class_images(os.path.join(root, name)) for name in class_dirs]
    classnames = clean_classnames(class_dirs)
    return _fixed_split_dataset(root, "flat", class_dirs, classnames, groups, shots, seed, sampler)


_WNID_NAME = re.compile(r"^(n\d{8})(?:_(.*))?$")
_NAME_COUNTER = re.compile(r"^(.+)_(\d+)$")
_ID_NAME = re.compile(r"^([^_]+)_(.+)$")


def _load_named(root: str, *, shots: int, seed: int, sampler: str) -> FewShotDataset:
    files = _image_files(root)
    if not files:
        raise DataError(f"no image files in {root} (named layout: <id>_<class_name>.ext)")
    keys, display = _classes_from_file_names([os.path.splitext(os.path.basename(f))[0] for f in files])
    class_keys = sorted(set(keys))
    index = {key: label for label, key in enumerate(class_keys)}
    groups: list[list[str]] = [[] for _ in class_keys]
    for path, key in zip(files, keys, strict=True):
        groups[index[key]].append(path)
    classnames = [display[key] for key in class_keys]
    return _fixed_split_dataset(root, "named", class_keys, classnames, groups, shots, seed, sampler)


def _classes_from_file_names(stems: list[str]) -> tuple[list[str], dict[str, str]]:
    """Class key per file and readable name per key.

    Tried in order, the first pattern that fits every file wins:
    ``n01440764_tench`` / ``n01440764_10026`` (ImageNet WordNet id: key = id, CLIP's name when known),
    ``american_bulldog_12`` (class name + counter), ``0001_cat`` (id + class name: key = name).
    """
    if all(_WNID_NAME.match(s) for s in stems):
        return _wnid_classes(stems)
    if all(_NAME_COUNTER.match(s) for s in stems):
        keys = [_NAME_COUNTER.match(s).group(1) for s in stems]  # type: ignore[union-attr]
    elif all(_ID_NAME.match(s) for s in stems):
        keys = [_ID_NAME.match(s).group(2) for s in stems]  # type: ignore[union-attr]
    else:
        bad = next(s for s in stems if not _ID_NAME.match(s))
        raise DataError(
            f"cannot read a class name from file name '{bad}' (named layout: <id>_<class_name>.ext)"
        )
    unique = sorted(set(keys))
    return keys, dict(zip(unique, clean_classnames(unique), strict=True))


def _wnid_names(wnids: list[str]) -> list[str]:
    """CLIP's ImageNet class names for WordNet-id folders ("n01440764" -> "tench"); ids it does not know
    stay as they are."""
    clip_names = imagenet_classname_by_wnid()
    return clean_classnames([clip_names.get(wnid, wnid) for wnid in wnids])


def _wnid_classes(stems: list[str]) -> tuple[list[str], dict[str, str]]:
    matches = [_WNID_NAME.match(s) for s in stems]
    keys = [m.group(1) for m in matches]  # type: ignore[union-attr]
    clip_names = imagenet_classname_by_wnid()
    if all(key in clip_names for key in keys):
        # The paper's ImageNet class names; also disambiguates "crane" (bird) from "crane" (machine).
        return keys, {key: clip_names[key] for key in keys}
    from_files: dict[str, str] = {}
    for match in matches:
        wnid, rest = match.group(1), match.group(2) or ""  # type: ignore[union-attr]
        from_files.setdefault(wnid, _name_part(rest) or wnid)
    names = list(from_files.values())
    display = {key: name if names.count(name) == 1 else f"{name} ({key})" for key, name in from_files.items()}
    return keys, display


def _name_part(rest: str) -> str:
    """The class name in what follows a WordNet id: "tench" of "tench_3", nothing of "10026"."""
    if rest.isdigit():
        return ""
    counter = _NAME_COUNTER.match(rest)
    return clean_classname(counter.group(1) if counter else rest) if rest else ""


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def _fixed_split_dataset(
    root: str,
    layout: str,
    class_keys: list[str],
    classnames: list[str],
    groups: list[list[str]],
    shots: int,
    seed: int,
    sampler: str,
) -> FewShotDataset:
    """Split each class's files by the seed-independent rule of the module docstring."""
    smallest = min(len(g) for g in groups)
    train: list[ImageItem] = []
    val: list[ImageItem] = []
    test: list[ImageItem] = []
    for label, (key, paths) in enumerate(zip(class_keys, groups, strict=True)):
        # Shuffle by file name, not absolute path, so moving the dataset keeps its split.
        ordered = sorted(paths, key=os.path.basename)
        random.Random(f"promptclimb-split:{key}").shuffle(ordered)
        n = len(ordered)
        n_val = max(1, _round_half_up(0.2 * n)) if smallest >= 3 else 0
        n_test = max(1, _round_half_up(0.3 * n)) if smallest >= 2 else 0
        n_train = n - n_val - n_test
        train.extend(ImageItem(p, label) for p in ordered[:n_train])
        val.extend(ImageItem(p, label) for p in ordered[n_train : n_train + n_val])
        test.extend(ImageItem(p, label) for p in ordered[n_train + n_val :])
    if smallest < 3:
        logger.info(
            "%s: smallest class has %d image(s): %s",
            root,
            smallest,
            "train/test only" if smallest == 2 else "train only",
        )
    return FewShotDataset(
        name=os.path.basename(root),
        root=root,
        layout=layout,
        classnames=classnames,
        shots=shots,
        seed=seed,
        train_pool=train,
        val_pool=val or None,
        test_source=(lambda: list(test)) if test else None,
        sampler=sampler,
    )


# -------------------------------------------------------------------------------------------- CoOp


@dataclass(frozen=True)
class _CoopSpec:
    folder: str  # directory name under $DATA in CoOp's DATASETS.md
    image_dir: str  # where split paths are rooted, relative to the dataset folder
    split_file: str | None = None  # split_zhou_*.json, for the JSON-split datasets


COOP_SPECS: dict[str, _CoopSpec] = {
    "imagenet": _CoopSpec("imagenet", "images"),
    "caltech101": _CoopSpec("caltech-101", "101_ObjectCategories", "split_zhou_Caltech101.json"),
    "oxford_pets": _CoopSpec("oxford_pets", "images", "split_zhou_OxfordPets.json"),
    "stanford_cars": _CoopSpec("stanford_cars", "", "split_zhou_StanfordCars.json"),
    "oxford_flowers": _CoopSpec("oxford_flowers", "jpg", "split_zhou_OxfordFlowers.json"),
    "food101": _CoopSpec("food-101", "images", "split_zhou_Food101.json"),
    "fgvc_aircraft": _CoopSpec("fgvc_aircraft", "images"),
    "sun397": _CoopSpec("sun397", "SUN397", "split_zhou_SUN397.json"),
    "dtd": _CoopSpec("dtd", "images", "split_zhou_DescribableTextures.json"),
    "eurosat": _CoopSpec("eurosat", "2750", "split_zhou_EuroSAT.json"),
    "ucf101": _CoopSpec("ucf101", "UCF-101-midframes", "split_zhou_UCF101.json"),
}
assert tuple(COOP_SPECS) == COOP_DATASETS

# Raw folder names some split files may still carry -> CoOp's readable names (CoOp datasets/*.py).
_COOP_RENAMES: dict[str, dict[str, str]] = {
    "caltech101": {
        "airplanes": "airplane",
        "Faces": "face",
        "Leopards": "leopard",
        "Motorbikes": "motorbike",
    },
    "eurosat": {
        "AnnualCrop": "Annual Crop Land",
        "Forest": "Forest",
        "HerbaceousVegetation": "Herbaceous Vegetation Land",
        "Highway": "Highway or Road",
        "Industrial": "Industrial Buildings",
        "Pasture": "Pasture Land",
        "PermanentCrop": "Permanent Crop Land",
        "Residential": "Residential Buildings",
        "River": "River",
        "SeaLake": "Sea or Lake",
    },
}
# Caltech101 classes CoOp leaves out (background clutter, and the duplicate easy-faces class).
_COOP_IGNORED: dict[str, frozenset[str]] = {"caltech101": frozenset({"BACKGROUND_Google", "Faces_easy"})}


def _coop_marker_present(key: str, folder: str) -> bool:
    spec = COOP_SPECS[key]
    if spec.split_file is not None:
        return os.path.isfile(os.path.join(folder, spec.split_file))
    if key == "fgvc_aircraft":
        return os.path.isfile(os.path.join(folder, "variants.txt")) and os.path.isfile(
            os.path.join(folder, "images_variant_train.txt")
        )
    return os.path.isdir(os.path.join(folder, "images", "train"))  # imagenet


def _coop_marker_text(key: str) -> str:
    spec = COOP_SPECS[key]
    if spec.split_file is not None:
        return spec.split_file
    return "variants.txt + images_variant_train.txt" if key == "fgvc_aircraft" else "images/train/"


def _detect_coop(root: str) -> str | None:
    for key in COOP_DATASETS:
        if key == "imagenet":
            # images/train alone could be any folder tree; ImageNet also has classnames.txt or wnid folders.
            if _coop_marker_present(key, root) and _looks_like_imagenet(root):
                return key
        elif _coop_marker_present(key, root):
            return key
    return None


def _looks_like_imagenet(root: str) -> bool:
    if os.path.isfile(os.path.join(root, "classnames.txt")):
        return True
    class_dirs = _subdirs(os.path.join(root, "images", "train"))
    return bool(class_dirs) and all(re.fullmatch(r"n\d{8}", d) for d in class_dirs)


def _nested_coop_datasets(root: str, subdirs: list[str]) -> list[str]:
    found = []
    for key, spec in COOP_SPECS.items():
        if spec.folder in subdirs and _coop_marker_present(key, os.path.join(root, spec.folder)):
            found.append(key)
    return found


def _load_coop(
    root: str, coop_name: str | None, *, class_names: str, shots: int, seed: int, sampler: str
) -> FewShotDataset:
    if coop_name is None:
        key = _detect_coop(root)
        if key is None:
            raise DataError(
                f"{root} is not a CoOp dataset folder (no split_zhou_*.json, variants.txt or images/train/)"
            )
    else:
        key = dataset_key(coop_name)
        if key is None:
            raise DataError(f"unknown CoOp dataset '{coop_name}' (known: {', '.join(COOP_DATASETS)})")
    folder = _coop_folder(root, key)
    common = {"key": key, "folder": folder, "shots": shots, "seed": seed, "sampler": sampler}
    if key == "imagenet":
        return _load_coop_imagenet(**common, clip_names=class_names == "clip")
    if key == "fgvc_aircraft":
        return _load_coop_aircraft(**common)  # the paper keeps the split's names
    return _load_coop_json(**common, clip_names=class_names == "clip")


def _coop_folder(root: str, key: str) -> str:
    """root itself, or root/<CoOp folder name> when root is the $DATA folder holding it."""
    if _coop_marker_present(key, root):
        return root
    nested = os.path.join(root, COOP_SPECS[key].folder)
    if _coop_marker_present(key, nested):
        return nested
    raise DataError(
        f"{root} is not a CoOp {key} folder: {_coop_marker_text(key)} not found (see docs/datasets.md)"
    )


def _coop_dataset(key: str, folder: str, **kwargs) -> FewShotDataset:
    return FewShotDataset(name=key, root=folder, layout="coop", **kwargs)


def _require_dir(path: str) -> str:
    if not os.path.isdir(path):
        raise DataError(f"image folder not found: {path} (see docs/datasets.md)")
    return path


# CoOp JSON splits: {"train": [[relative path, label, class name], ...], "val": [...], "test": [...]}.


def _load_coop_json(
    *, key: str, folder: str, shots: int, seed: int, sampler: str, clip_names: bool
) -> FewShotDataset:
    spec = COOP_SPECS[key]
    assert spec.split_file is not None
    split_path = os.path.join(folder, spec.split_file)
    image_root = _require_dir(os.path.join(folder, spec.image_dir) if spec.image_dir else folder)
    raw = _read_split_json(split_path)
    ignored = _COOP_IGNORED.get(key, frozenset())
    kept = {split: [e for e in entries if e[2] not in ignored] for split, entries in raw.items()}
    labels = sorted({label for entries in kept.values() for _, label, _ in entries})
    relabel = {old: new for new, old in enumerate(labels)}  # contiguous after ignored classes are dropped
    classnames = _coop_classnames(key, kept, relabel, split_path)
    if clip_names:
        try:
            classnames = published_classnames(key, classnames)
        except ClassNamesError as error:
            raise DataError(f"{split_path}: {error}") from None

    def to_items(split: str) -> list[ImageItem]:
        return [
            ImageItem(os.path.normpath(os.path.join(image_root, rel)), relabel[label])
            for rel, label, _ in kept[split]
        ]

    if not kept["train"]:
        raise DataError(f"malformed split file {split_path}: the train list is empty")
    return _coop_dataset(
        key,
        folder,
        classnames=classnames,
        shots=shots,
        seed=seed,
        train_pool=to_items("train"),
        val_pool=to_items("val") or None,
        test_source=(lambda: to_items("test")) if kept["test"] else None,
        sampler=sampler,
    )


def _read_split_json(path: str) -> dict[str, list[tuple[str, int, str]]]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as exc:
        raise DataError(f"malformed split file {path}: invalid JSON at line {exc.lineno}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read split file {path}: {exc.__class__.__name__}") from exc
    if not isinstance(data, dict) or not all(isinstance(data.get(s), list) for s in SPLITS):
        raise DataError(f"malformed split file {path}: expected an object with train, val and test lists")
    return {
        split: [_split_entry(entry, path, split, i) for i, entry in enumerate(data[split])]
        for split in SPLITS
    }


def _split_entry(entry: object, path: str, split: str, index: int) -> tuple[str, int, str]:
    if isinstance(entry, list) and len(entry) == 3:
        rel, label, classname = entry
        if isinstance(label, str) and label.isdigit():
            label = int(label)
        if isinstance(rel, str) and rel and isinstance(classname, str) and _is_label(label):
            return rel, label, classname
    raise DataError(f"malformed split file {path}: {split} entry {index} is not [path, label, class name]")


def _is_label(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _coop_classnames(
    key: str,
    entries: dict[str, list[tuple[str, int, str]]],
    relabel: dict[int, int],
    split_path: str,
) -> list[str]:
    names: dict[int, str] = {}
    for split_entries in entries.values():
        for _, label, raw_name in split_entries:
            seen = names.setdefault(relabel[label], raw_name)
            if seen != raw_name:
                raise DataError(
                    f"malformed split file {split_path}: label {label} is both '{seen}' and '{raw_name}'"
                )
    return [_clean_coop_name(key, names[label]) for label in range(len(names))]


def _clean_coop_name(key: str, raw: str) -> str:
    """CoOp's readable names: the per-dataset renames, then underscores to spaces (as CoOp's trainers do)."""
    name = _COOP_RENAMES.get(key, {}).get(raw, raw)
    return " ".join(name.replace("_", " ").split())


# ImageNet: images/train/<wnid>/ and images/val/<wnid>/ (the val set is the test split; no val split),
# classnames.txt holds "<wnid> <readable name>" lines.


def _load_coop_imagenet(
    *, key: str, folder: str, shots: int, seed: int, sampler: str, clip_names: bool
) -> FewShotDataset:
    train_dir = _require_dir(os.path.join(folder, "images", "train"))
    wnids = _subdirs(train_dir)
    if not wnids:
        raise DataError(f"no class folders in {train_dir}")
    names = imagenet_clip_names_by_wnid() if clip_names else _imagenet_names(folder)
    missing = [w for w in wnids if w not in names]
    if missing:
        where = "the published ImageNet names" if clip_names else os.path.join(folder, "classnames.txt")
        raise DataError(f"no class name for ImageNet folder '{missing[0]}' in {where}")
    index = {wnid: label for label, wnid in enumerate(wnids)}
    train = [
        ImageItem(p, label)
        for label, wnid in enumerate(wnids)
        for p in _class_images(os.path.join(train_dir, wnid))
    ]
    test_dir = os.path.join(folder, "images", "val")
    has_test = os.path.isdir(test_dir)
    return _coop_dataset(
        key,
        folder,
        classnames=[names[w] for w in wnids],
        shots=shots,
        seed=seed,
        train_pool=train,
        val_pool=None,
        test_source=(lambda: _list_split_dir(test_dir, index)) if has_test else None,
        sampler=sampler,
    )


def _imagenet_names(folder: str) -> dict[str, str]:
    """wnid -> name from classnames.txt, else the bundled CLIP names (the same list CoOp distributes)."""
    path = os.path.join(folder, "classnames.txt")
    if not os.path.isfile(path):
        logger.info("%s not found; using the bundled CLIP ImageNet class names", path)
        return imagenet_classname_by_wnid()
    names = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            parts = line.strip().split(maxsplit=1)
            if len(parts) != 2:
                raise DataError(f"{path}:{number}: expected '<wnid> <class name>'")
            names[parts[0]] = parts[1]
    return names


# FGVC-Aircraft: variants.txt lists the 100 class names in label order; images_variant_<split>.txt has
# "<image id> <variant name>" lines for images/<image id>.jpg.


def _load_coop_aircraft(*, key: str, folder: str, shots: int, seed: int, sampler: str) -> FewShotDataset:
    image_dir = _require_dir(os.path.join(folder, "images"))
    variants_path = os.path.join(folder, "variants.txt")
    with open(variants_path, encoding="utf-8") as handle:
        variants = [line.strip() for line in handle if line.strip()]
    if not variants:
        raise DataError(f"no class names in {variants_path}")
    index = {name: label for label, name in enumerate(variants)}

    def read(split: str) -> list[ImageItem]:
        return _read_aircraft_split(os.path.join(folder, f"images_variant_{split}.txt"), image_dir, index)

    val_path = os.path.join(folder, "images_variant_val.txt")
    test_path = os.path.join(folder, "images_variant_test.txt")
    return _coop_dataset(
        key,
        folder,
        classnames=variants,
        shots=shots,
        seed=seed,
        train_pool=read("train"),
        val_pool=read("val") if os.path.isfile(val_path) else None,
        test_source=(lambda: read("test")) if os.path.isfile(test_path) else None,
        sampler=sampler,
    )


def _read_aircraft_split(path: str, image_dir: str, index: dict[str, int]) -> list[ImageItem]:
    items = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            parts = line.strip().split(" ", 1)
            if len(parts) != 2 or parts[1] not in index:
                raise DataError(f"{path}:{number}: expected '<image id> <variant from variants.txt>'")
            items.append(ImageItem(os.path.join(image_dir, parts[0] + ".jpg"), index[parts[1]]))
    return items
