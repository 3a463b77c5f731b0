"""The folder layouts of an image dataset and their loaders (``load_dataset(layout=...)``; docs/datasets.md).

- ``folders``: ``train/``, optional ``val/`` (or ``validation/``, ``valid/``), optional ``test/``, each with
  one sub-folder per class; classes come from ``train/``.
- ``flat``: one sub-folder per class, no split folders; split by the fixed rule below.
- ``named``: image files named ``<id>_<class_name>.ext`` (or ``<class_name>_<n>.ext``) in one folder; split
  by the fixed rule below.
- ``coop`` (coop.py) is recognised here first, so ``auto`` picks it too.

Fixed split rule for ``flat`` and ``named`` (independent of the seed, so the test split is the same for
seeds 1, 2, 3): within each class, file names are sorted and shuffled with a generator seeded by the class
name only; then, by the smallest class size m over all classes:
  m >= 3: 50% train / 20% val / 30% test per class (each at least 1 image, rounding half up);
  m == 2: train / test, 30% test per class (at least 1);
  m == 1: everything is train (no val, no test), e.g. one image per class.
"""

from __future__ import annotations

import logging
import math
import os
import random
import re

from promptclimb.evaluators.classify.coop import detect_coop, nested_coop_datasets
from promptclimb.evaluators.classify.dataset import FewShotDataset, ImageItem
from promptclimb.evaluators.classify.errors import DataError
from promptclimb.evaluators.classify.listing import (
    class_images,
    find_child_dir,
    image_files,
    is_image_name,
    list_split_dir,
    subdirs,
)
from promptclimb.evaluators.classify.names import clean_classname, clean_classnames
from promptclimb.prompts.handmade import imagenet_classname_by_wnid

logger = logging.getLogger(__name__)

_TRAIN_DIRS = ("train", "training")
_VAL_DIRS = ("val", "validation", "valid")
_TEST_DIRS = ("test", "testing")


def detect_layout(root: str) -> str:
    if detect_coop(root) is not None:
        return "coop"
    with os.scandir(root) as entries:
        visible = [e for e in entries if not e.name.startswith(".")]
    if not visible:
        raise DataError(f"dataset directory is empty: {root}")
    if find_child_dir(root, _TRAIN_DIRS) is not None:
        return "folders"
    folders = subdirs(root)
    nested = nested_coop_datasets(root, folders)
    if nested:
        raise DataError(
            f"{root} holds several CoOp datasets ({', '.join(nested)}); "
            "point at one of them or give its CoOp name"
        )
    if folders:
        return "flat"
    if any(is_image_name(e.name) and e.is_file() for e in visible):
        return "named"
    raise DataError(f"no class folders or images in {root}")


# ------------------------------------------------------------------------------------------ folders


def load_folders(root: str, *, shots: int, seed: int, sampler: str) -> FewShotDataset:
    train_dir = find_child_dir(root, _TRAIN_DIRS)
    if train_dir is None:
        raise DataError(f"no train/ folder in {root} (folders layout)")
    class_dirs = subdirs(train_dir)
    if not class_dirs:
        raise DataError(f"no class folders in {train_dir}")
    index = {name: label for label, name in enumerate(class_dirs)}
    train = [
        ImageItem(path, label)
        for label, name in enumerate(class_dirs)
        for path in class_images(os.path.join(train_dir, name))
    ]
    val_dir = find_child_dir(root, _VAL_DIRS)
    test_dir = find_child_dir(root, _TEST_DIRS)
    wnids = all(_WNID_NAME.fullmatch(d) and "_" not in d for d in class_dirs)
    if wnids and test_dir is None and val_dir is not None:
        # ImageNet's own layout: its val/ is the benchmark's test set, never a few-shot validation split.
        logger.info("ImageNet folders (WordNet ids): %s is used as the test split", val_dir)
        val_dir, test_dir = None, val_dir
    val = list_split_dir(val_dir, index) if val_dir is not None else None
    # Only the folder's existence is checked here; its contents are listed on first items("test").
    test_source = (lambda: list_split_dir(test_dir, index)) if test_dir is not None else None
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


def load_flat(root: str, *, shots: int, seed: int, sampler: str) -> FewShotDataset:
    class_dirs = subdirs(root)
    if not class_dirs:
        raise DataError(f"no class folders in {root} (flat layout: one sub-folder per class)")
    groups = [class_images(os.path.join(root, name)) for name in class_dirs]
    wnids = all(_WNID_NAME.fullmatch(d) and "_" not in d for d in class_dirs)
    classnames = _wnid_names(class_dirs) if wnids else clean_classnames(class_dirs)
    return _fixed_split_dataset(root, "flat", class_dirs, classnames, groups, shots, seed, sampler)


_WNID_NAME = re.compile(r"^(n\d{8})(?:_(.*))?$")
_NAME_COUNTER = re.compile(r"^(.+)_(\d+)$")
_ID_NAME = re.compile(r"^([^_]+)_(.+)$")


def load_named(root: str, *, shots: int, seed: int, sampler: str) -> FewShotDataset:
    files = image_files(root)
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
    """CLIP's ImageNet class names for WordNet-id folders ("n01440764" -> "tench"). An id it does not know
    is refused: "n09999999" would reach CLIP and the LLM as a meaningless class name."""
    clip_names = imagenet_classname_by_wnid()
    unknown = [wnid for wnid in wnids if wnid not in clip_names]
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise DataError(
            f"class folder '{unknown[0]}'{more} is a WordNet id that is not one of ImageNet-1k's: rename the "
            "folder to its class name"
        )
    return clean_classnames([clip_names[wnid] for wnid in wnids])


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
