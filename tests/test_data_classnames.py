"""class_names="clip": the paper's published (OpenAI CLIP) class names, aligned with CoOp's labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptclimb.evaluators.classify.classnames import (
    PUBLISHED_DATASETS,
    clip_classnames,
    imagenet_clip_names_by_wnid,
)
from promptclimb.evaluators.classify.data import load_dataset
from promptclimb.evaluators.classify.errors import DataError
from promptclimb.prompts.handmade import COOP_DATASETS, imagenet_classnames, imagenet_wnids
from tests.data_fixtures import (
    COOP_JSON_CASES,
    IMAGENET_FIXTURE_CLASSES,
    _coop_json,
    make_coop_imagenet,
    make_coop_json_dataset,
    make_folders_dataset,
)

# Sizes of the 11 datasets' class lists (CoOp's Table / the paper's code).
SIZES = {
    "imagenet": 1000,
    "caltech101": 100,
    "oxford_flowers": 102,
    "stanford_cars": 196,
    "sun397": 397,
    "eurosat": 10,
    "ucf101": 101,
}
# CoOp's EuroSAT labels are the sorted folder names; what the paper's code calls each of them.
EUROSAT = {
    "AnnualCrop": "annual crop land",
    "Forest": "forest",
    "HerbaceousVegetation": "brushland or shrubland",
    "Highway": "highway or road",
    "Industrial": "industrial buildings or commercial buildings",
    "Pasture": "pasture land",
    "PermanentCrop": "permanent crop land",
    "Residential": "residential buildings or homes or apartments",
    "River": "river",
    "SeaLake": "lake or sea",
}


def test_published_tables_cover_the_renamed_datasets_with_every_class():
    assert set(PUBLISHED_DATASETS) == set(SIZES) and set(PUBLISHED_DATASETS) < set(COOP_DATASETS)
    for key, size in SIZES.items():
        names = clip_classnames(key)
        assert names is not None and len(names) == size and all(n.strip() for n in names), key
        # Distinct names, except ImageNet's two "crane"-like duplicates the paper's list keeps.
        assert len(set(names)) >= size - 2, key
    for key in ("dtd", "food101", "oxford_pets", "fgvc_aircraft"):
        assert clip_classnames(key) is None  # the paper keeps their split names


def test_published_names_by_position_spot_checks():
    caltech = clip_classnames("caltech101")
    # CoOp's labels: sorted folders without BACKGROUND_Google and Faces_easy, upper case first.
    assert caltech[:5] == ["face", "leopard", "motorbike", "accordion", "airplane"]
    assert caltech[18] == "side of a car"  # car_side
    assert caltech[-1] == "yin and yang symbol"
    sun = clip_classnames("sun397")
    assert sun[9] == "apse indoor"  # ClassName.txt: ... /a/apartment_building/outdoor, /a/apse/indoor
    assert sun[0] == "abbey" and sun[-1] == "youth hostel"
    assert clip_classnames("eurosat") == list(EUROSAT.values())
    assert clip_classnames("oxford_flowers")[:2] == ["pink primrose", "hard-leaved pocket orchid"]
    assert clip_classnames("ucf101")[0] == "Apply Eye Makeup"
    assert clip_classnames("stanford_cars")[0] == "AM General Hummer SUV 2000"  # CoOp: "2000 AM General ..."


def test_imagenet_paper_names_differ_from_the_notebook_list_in_four_classes():
    paper = clip_classnames("imagenet")
    notebook = imagenet_classnames()
    differ = {i: (notebook[i], paper[i]) for i in range(1000) if paper[i] != notebook[i]}
    assert differ == {
        27: ("newt", "eft"),
        638: ("tights", "maillot"),
        744: ("missile", "projectile"),
        836: ("sunglasses", "sunglass"),
    }
    assert imagenet_clip_names_by_wnid()[imagenet_wnids()[27]] == "eft"


def make_split(root: Path, key: str, raw_names: list[str], rel_dirs: list[str] | None = None) -> Path:
    """A CoOp JSON-split folder for key with the given raw class names (one train, one test image each)."""
    folder_name, image_dir, split_file, _, _ = COOP_JSON_CASES[key]
    dataset_dir = root / folder_name
    dataset_dir.mkdir(parents=True)
    dirs = rel_dirs or [name.replace(" ", "_") for name in raw_names]
    classes = list(zip(dirs, raw_names, strict=True))
    _coop_json(dataset_dir, dataset_dir / image_dir, split_file, classes, counts=(1, 0, 1))
    return dataset_dir


def test_eurosat_moves_most(tmp_path: Path):
    dataset_dir = make_split(tmp_path, "eurosat", list(EUROSAT))
    coop = load_dataset(dataset_dir, shots=1, seed=1)
    clip = load_dataset(dataset_dir, shots=1, seed=1, class_names="clip")
    assert coop.classnames[2] == "Herbaceous Vegetation Land" and coop.classnames[-1] == "Sea or Lake"
    assert clip.classnames == list(EUROSAT.values())
    assert clip.items("train") == coop.items("train")  # names change, images do not


def test_caltech_and_sun397_from_full_size_splits(tmp_path: Path):
    published = clip_classnames("caltech101")
    raw = [name.replace(" ", "_") for name in published]
    raw[:5] = ["Faces", "Leopards", "Motorbikes", "accordion", "airplanes"]
    raw[18] = "car_side"
    caltech = load_dataset(make_split(tmp_path, "caltech101", raw), shots=1, seed=1, class_names="clip")
    assert caltech.classnames[18] == "side of a car" and caltech.classnames[0] == "face"
    assert load_dataset(tmp_path / "caltech-101", shots=1, seed=1).classnames[18] == "car side"

    sun_names = clip_classnames("sun397")
    raw_sun = list(sun_names)
    raw_sun[9] = "indoor apse"  # CoOp's name for /a/apse/indoor
    dirs = [f"{n[0]}/{n.replace(' ', '_')}" for n in sun_names]
    dataset_dir = make_split(tmp_path, "sun397", raw_sun, dirs)
    assert load_dataset(dataset_dir, shots=1, seed=1, class_names="clip").classnames[9] == "apse indoor"
    assert load_dataset(dataset_dir, shots=1, seed=1).classnames[9] == "indoor apse"


def test_a_split_that_does_not_line_up_is_refused(tmp_path: Path):
    published = clip_classnames("ucf101")
    shifted = published[1:] + published[:1]  # every label one off
    dataset_dir = make_split(tmp_path, "ucf101", [n.replace(" ", "_") for n in shifted])
    # Label 0 ("Apply Lipstick" for "Apply Eye Makeup") still shares a word; label 1 is the first without.
    with pytest.raises(DataError, match=r"do not line up with the published names \(label 1: 'Archery' vs"):
        load_dataset(dataset_dir, shots=1, seed=1, class_names="clip")
    assert load_dataset(dataset_dir, shots=1, seed=1).classnames[0] == "Apply Lipstick"


def test_count_mismatch_other_layouts_and_kept_names(tmp_path: Path):
    small = make_coop_json_dataset(tmp_path / "a", "caltech101")  # 4 classes
    with pytest.raises(DataError, match="published class names list 100 classes, the split has 4"):
        load_dataset(small, shots=1, seed=1, class_names="clip")
    dtd = make_coop_json_dataset(tmp_path / "b", "dtd")
    assert load_dataset(dtd, shots=1, seed=1, class_names="clip").classnames == COOP_JSON_CASES["dtd"][4]
    folders = make_folders_dataset(tmp_path / "c")
    with pytest.raises(DataError, match="exist only for the 11 CoOp datasets"):
        load_dataset(folders, shots=1, seed=1, class_names="clip")
    with pytest.raises(DataError, match="unknown class names 'openai'"):
        load_dataset(folders, shots=1, seed=1, class_names="openai")


def test_imagenet_clip_names_ignore_classnames_txt(tmp_path: Path):
    dataset_dir = make_coop_imagenet(tmp_path)
    coop = load_dataset(dataset_dir, shots=1, seed=1)
    clip = load_dataset(dataset_dir, shots=1, seed=1, class_names="clip")
    by_wnid = imagenet_clip_names_by_wnid()
    assert coop.classnames == [name for _, name in IMAGENET_FIXTURE_CLASSES]
    assert clip.classnames == [by_wnid[wnid] for wnid, _ in IMAGENET_FIXTURE_CLASSES]
