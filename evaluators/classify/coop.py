"""The CoOp benchmark datasets exactly as CoOp's DATASETS.md lays them out (``layout="coop"``): recognising
them, their JSON split files, ImageNet's folders and FGVC-Aircraft's variant lists.

Class names: ``class_names="coop"`` (the split files' names, default) or ``"clip"`` (OpenAI CLIP's readable
names, as the paper's code uses them; see classnames.py).
"""

from __future__ import annotations

import json
import logging
import os
import re

from promptclimb.evaluators.classify.classnames import (
    ClassNamesError,
    imagenet_clip_names_by_wnid,
    published_classnames,
)
from promptclimb.evaluators.classify.coop_specs import COOP_IGNORED, COOP_RENAMES, COOP_SPECS
from promptclimb.evaluators.classify.dataset import SPLITS, FewShotDataset, ImageItem
from promptclimb.evaluators.classify.errors import DataError
from promptclimb.evaluators.classify.listing import class_images, list_split_dir, subdirs
from promptclimb.prompts.handmade import COOP_DATASETS, dataset_key, imagenet_classname_by_wnid

logger = logging.getLogger(__name__)


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


def detect_coop(root: str) -> str | None:
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
    class_dirs = subdirs(os.path.join(root, "images", "train"))
    return bool(class_dirs) and all(re.fullmatch(r"n\d{8}", d) for d in class_dirs)


def nested_coop_datasets(root: str, folders: list[str]) -> list[str]:
    found = []
    for key, spec in COOP_SPECS.items():
        if spec.folder in folders and _coop_marker_present(key, os.path.join(root, spec.folder)):
            found.append(key)
    return found


def load_coop(
    root: str, coop_name: str | None, *, class_names: str, shots: int, seed: int, sampler: str
) -> FewShotDataset:
    if coop_name is None:
        key = detect_coop(root)
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
    ignored = COOP_IGNORED.get(key, frozenset())
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
    name = COOP_RENAMES.get(key, {}).get(raw, raw)
    return " ".join(name.replace("_", " ").split())


# ImageNet: images/train/<wnid>/ and images/val/<wnid>/ (the val set is the test split; no val split),
# classnames.txt holds "<wnid> <readable name>" lines.


def _load_coop_imagenet(
    *, key: str, folder: str, shots: int, seed: int, sampler: str, clip_names: bool
) -> FewShotDataset:
    train_dir = _require_dir(os.path.join(folder, "images", "train"))
    wnids = subdirs(train_dir)
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
        for p in class_images(os.path.join(train_dir, wnid))
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
        test_source=(lambda: list_split_dir(test_dir, index)) if has_test else None,
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
