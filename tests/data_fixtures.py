"""Builders of small, real image datasets on disk for the dataset-loader tests (tests/test_data_*.py)."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
CLOTHING = SHARED / "datasets" / "clothing-small"
IMAGENET_SAMPLES = SHARED / "datasets" / "imagenet-samples"


def write_image(path: Path, index: int = 0, size: tuple[int, int] = (8, 8)) -> Path:
    """A real, small JPEG or PNG (by extension) whose colour and byte size depend on index."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(index)
    image = Image.new("RGB", size, (index * 37 % 256, index * 91 % 256, index * 13 % 256))
    image.putpixel((0, 0), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    suffix = path.suffix.lower()
    image.save(path, "PNG" if suffix == ".png" else "JPEG" if suffix in (".jpg", ".jpeg") else None)
    return path


def make_class_folders(root: Path, counts: dict[str, int], ext: str = ".jpg", start: int = 0) -> Path:
    """root/<class>/img_<i><ext> for each class, counts[class] images."""
    index = start
    for name, count in counts.items():
        for i in range(count):
            index += 1
            write_image(root / name / f"img_{i:03d}{ext}", index)
    return root


def make_folders_dataset(
    root: Path,
    classes: Sequence[str] = ("cat", "dog", "red_fox"),
    train: int = 10,
    val: int | None = 6,
    test: int | None = 5,
    val_name: str = "val",
) -> Path:
    make_class_folders(root / "train", dict.fromkeys(classes, train), start=0)
    if val is not None:
        make_class_folders(root / val_name, dict.fromkeys(classes, val), ext=".png", start=1000)
    if test is not None:
        make_class_folders(root / "test", dict.fromkeys(classes, test), start=2000)
    return root


# ------------------------------------------------------------------------------------------ CoOp


def _coop_json(
    dataset_dir: Path, image_root: Path, split_file: str, classes: list[tuple[str, str]], counts=(6, 3, 4)
) -> dict[str, list]:
    """Images under image_root/<rel dir>/ and the split JSON; classes are (relative dir, raw name)."""
    split: dict[str, list] = {"train": [], "val": [], "test": []}
    index = 0
    for label, (rel_dir, raw_name) in enumerate(classes):
        for split_name, count in zip(("train", "val", "test"), counts, strict=True):
            for i in range(count):
                index += 1
                rel = _relative_path(rel_dir, split_name, label, i, index)
                write_image(image_root / rel, index)
                split[split_name].append([rel, label, raw_name])
    (dataset_dir / split_file).write_text(json.dumps(split), encoding="utf-8")
    return split


def _relative_path(rel_dir: str, split: str, label: int, i: int, index: int) -> str:
    if rel_dir == "<cars>":  # Stanford Cars: every class in cars_train/ (train, val) or cars_test/
        return f"cars_{'test' if split == 'test' else 'train'}/{index:05d}.jpg"
    if not rel_dir:  # one flat image folder (Oxford Pets, Flowers102)
        return f"{split}_{label}_{i:03d}.jpg"
    return f"{rel_dir}/{split}_{i:03d}.jpg"


# Per JSON dataset: CoOp folder, image folder, split file, [(relative class dir, raw class name in JSON)],
# and the readable names promptclimb must produce.
COOP_JSON_CASES: dict[str, tuple[str, str, str, list[tuple[str, str]], list[str]]] = {
    "caltech101": (
        "caltech-101",
        "101_ObjectCategories",
        "split_zhou_Caltech101.json",
        [("accordion", "accordion"), ("airplanes", "airplane"), ("Faces", "face"), ("wild_cat", "wild_cat")],
        ["accordion", "airplane", "face", "wild cat"],
    ),
    "oxford_pets": (
        "oxford_pets",
        "images",
        "split_zhou_OxfordPets.json",
        [("", "abyssinian"), ("", "american_bulldog"), ("", "great_pyrenees")],
        ["abyssinian", "american bulldog", "great pyrenees"],
    ),
    "stanford_cars": (
        "stanford_cars",
        "",
        "split_zhou_StanfordCars.json",
        [("<cars>", "2012 Tesla Model S Sedan"), ("<cars>", "2007 Ford Mustang Convertible")],
        ["2012 Tesla Model S Sedan", "2007 Ford Mustang Convertible"],
    ),
    "oxford_flowers": (
        "oxford_flowers",
        "jpg",
        "split_zhou_OxfordFlowers.json",
        [("", "pink primrose"), ("", "hard-leaved pocket orchid"), ("", "canterbury bells")],
        ["pink primrose", "hard-leaved pocket orchid", "canterbury bells"],
    ),
    "food101": (
        "food-101",
        "images",
        "split_zhou_Food101.json",
        [("apple_pie", "apple_pie"), ("baby_back_ribs", "baby_back_ribs"), ("pho", "pho")],
        ["apple pie", "baby back ribs", "pho"],
    ),
    "sun397": (
        "sun397",
        "SUN397",
        "split_zhou_SUN397.json",
        [("a/abbey", "abbey"), ("a/airplane_cabin", "airplane_cabin"), ("a/apse/indoor", "indoor apse")],
        ["abbey", "airplane cabin", "indoor apse"],
    ),
    "dtd": (
        "dtd",
        "images",
        "split_zhou_DescribableTextures.json",
        [("banded", "banded"), ("polka-dotted", "polka-dotted"), ("zigzagged", "zigzagged")],
        ["banded", "polka-dotted", "zigzagged"],
    ),
    "eurosat": (
        "eurosat",
        "2750",
        "split_zhou_EuroSAT.json",
        [("AnnualCrop", "AnnualCrop"), ("SeaLake", "SeaLake"), ("Forest", "Forest")],
        ["Annual Crop Land", "Sea or Lake", "Forest"],
    ),
    "ucf101": (
        "ucf101",
        "UCF-101-midframes",
        "split_zhou_UCF101.json",
        [("Apply_Eye_Makeup", "Apply_Eye_Makeup"), ("Yo_Yo", "Yo_Yo")],
        ["Apply Eye Makeup", "Yo Yo"],
    ),
}

# Files CoOp's instructions also place there; the loader must not be confused by them.
_COOP_EXTRAS = {
    "oxford_pets": ["annotations/trainval.txt"],
    "stanford_cars": ["devkit/cars_meta.mat", "cars_test_annos_withlabels.mat"],
    "oxford_flowers": ["imagelabels.mat", "cat_to_name.json"],
    "food101": ["meta/classes.txt", "README.txt", "license_agreement.txt"],
    "sun397": ["ClassName.txt", "Training_01.txt"],
    "dtd": ["imdb/imdb.mat", "labels/train1.txt"],
}


def make_coop_json_dataset(data_root: Path, key: str, counts=(6, 3, 4)) -> Path:
    folder, image_dir, split_file, classes, _ = COOP_JSON_CASES[key]
    dataset_dir = data_root / folder
    dataset_dir.mkdir(parents=True, exist_ok=True)
    image_root = dataset_dir / image_dir if image_dir else dataset_dir
    _coop_json(dataset_dir, image_root, split_file, classes, counts)
    for extra in _COOP_EXTRAS.get(key, []):
        (dataset_dir / extra).parent.mkdir(parents=True, exist_ok=True)
        (dataset_dir / extra).write_text("not read\n")
    return dataset_dir


IMAGENET_FIXTURE_CLASSES = [
    ("n01440764", "tench"),
    ("n02012849", "crane bird"),
    ("n03126707", "construction crane"),
]


def make_coop_imagenet(data_root: Path, train: int = 5, val: int = 3, classnames_file: bool = True) -> Path:
    dataset_dir = data_root / "imagenet"
    index = 0
    for wnid, _ in IMAGENET_FIXTURE_CLASSES:
        for i in range(train):
            index += 1
            write_image(dataset_dir / "images" / "train" / wnid / f"{wnid}_{i}.JPEG", index)
        for _ in range(val):
            index += 1
            write_image(dataset_dir / "images" / "val" / wnid / f"ILSVRC2012_val_{index:08d}.JPEG", index)
    if classnames_file:
        lines = [f"{wnid} {name}" for wnid, name in IMAGENET_FIXTURE_CLASSES]
        (dataset_dir / "classnames.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dataset_dir


AIRCRAFT_VARIANTS = ["707-320", "A300B4", "F/A-18"]


def make_coop_aircraft(data_root: Path, counts=(5, 3, 4)) -> Path:
    dataset_dir = data_root / "fgvc_aircraft"
    (dataset_dir / "images").mkdir(parents=True)
    (dataset_dir / "variants.txt").write_text("\n".join(AIRCRAFT_VARIANTS) + "\n", encoding="utf-8")
    image_id = 1000000
    for split, count in zip(("train", "val", "test"), counts, strict=True):
        lines = []
        for variant in AIRCRAFT_VARIANTS:
            for _ in range(count):
                image_id += 1
                write_image(dataset_dir / "images" / f"{image_id:07d}.jpg", image_id)
                lines.append(f"{image_id:07d} {variant}")
        (dataset_dir / f"images_variant_{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for extra in ("families.txt", "manufacturers.txt", "images_family_train.txt"):
        (dataset_dir / extra).write_text("not read\n")
    return dataset_dir


def relative_items(dataset, split: str) -> list[tuple[str, int]]:
    return [(os.path.relpath(item.path, dataset.root), item.label) for item in dataset.items(split)]
