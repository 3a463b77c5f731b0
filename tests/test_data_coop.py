"""CoOp benchmark layouts: the 11 datasets as CoOp's DATASETS.md lays them out, with split files."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from promptclimb.evaluators.classify.coop_specs import COOP_SPECS
from promptclimb.evaluators.classify.data import load_dataset
from promptclimb.evaluators.classify.errors import DataError
from promptclimb.prompts.handmade import COOP_DATASETS, imagenet_classname_by_wnid
from tests.data_fixtures import (
    AIRCRAFT_VARIANTS,
    COOP_JSON_CASES,
    IMAGENET_FIXTURE_CLASSES,
    make_coop_aircraft,
    make_coop_imagenet,
    make_coop_json_dataset,
)


def test_every_paper_dataset_has_a_spec():
    assert set(COOP_SPECS) == set(COOP_DATASETS)
    assert len(COOP_DATASETS) == 11


@pytest.mark.parametrize("key", sorted(COOP_JSON_CASES))
def test_json_split_dataset(tmp_path: Path, key: str):
    dataset_dir = make_coop_json_dataset(tmp_path, key, counts=(6, 3, 4))
    expected_names = COOP_JSON_CASES[key][4]
    n = len(expected_names)
    dataset = load_dataset(dataset_dir, shots=4, seed=1)  # auto-detected
    assert dataset.layout == "coop" and dataset.name == key
    assert dataset.classnames == expected_names
    assert Counter(i.label for i in dataset.items("train")) == dict.fromkeys(range(n), 4)
    assert Counter(i.label for i in dataset.items("val")) == dict.fromkeys(
        range(n), 3
    )  # min(4, 4) > 3 listed
    test = dataset.items("test")
    assert Counter(i.label for i in test) == dict.fromkeys(range(n), 4)
    assert all(Path(item.path).is_file() for item in test)
    assert all("test_" in Path(i.path).name or "/cars_test/" in i.path for i in test)
    # The same dataset, found from the $DATA folder by name.
    by_name = load_dataset(tmp_path, shots=4, seed=1, coop_name=key)
    assert by_name.items("train") == dataset.items("train")


def test_json_split_is_read_as_given(tmp_path: Path):
    """Split membership comes from the JSON, not from the folders: the loader follows the file."""
    dataset_dir = make_coop_json_dataset(tmp_path, "food101", counts=(5, 2, 3))
    split = json.loads((dataset_dir / "split_zhou_Food101.json").read_text())
    train_paths = {str((dataset_dir / "images" / rel).resolve()) for rel, _, _ in split["train"]}
    dataset = load_dataset(dataset_dir, shots=5, seed=7)
    assert {item.path for item in dataset.items("train")} == train_paths


def test_caltech_ignored_classes_are_dropped_and_labels_compacted(tmp_path: Path):
    dataset_dir = make_coop_json_dataset(tmp_path, "caltech101")
    path = dataset_dir / "split_zhou_Caltech101.json"
    split = json.loads(path.read_text())
    # A split file made from the raw folders: background class at label 0, everything else shifted.
    for name in ("train", "val", "test"):
        split[name] = [[rel, label + 2, cls] for rel, label, cls in split[name]]
        split[name].append(["BACKGROUND_Google/image_0001.jpg", 0, "BACKGROUND_Google"])
        split[name].append(["Faces_easy/image_0001.jpg", 1, "Faces_easy"])
        split[name].append(["Leopards/image_0001.jpg", 9, "Leopards"])
    path.write_text(json.dumps(split))
    for folder in ("BACKGROUND_Google", "Faces_easy", "Leopards"):
        from tests.data_fixtures import write_image

        write_image(dataset_dir / "101_ObjectCategories" / folder / "image_0001.jpg", 3)
    dataset = load_dataset(dataset_dir, shots=1, seed=1)
    assert dataset.classnames == ["accordion", "airplane", "face", "wild cat", "leopard"]
    assert all(item.label < 5 for item in dataset.items("test"))


def test_imagenet(tmp_path: Path):
    dataset_dir = make_coop_imagenet(tmp_path, train=5, val=3)
    dataset = load_dataset(dataset_dir, shots=2, seed=1)
    assert dataset.layout == "coop" and dataset.name == "imagenet"
    assert dataset.classnames == [name for _, name in IMAGENET_FIXTURE_CLASSES]
    assert not dataset.has_split("val")  # ImageNet's val folder is the test split
    assert dataset.has_split("test")
    assert Counter(i.label for i in dataset.items("train")) == {0: 2, 1: 2, 2: 2}
    test = dataset.items("test")
    assert len(test) == 9 and all("/images/val/" in item.path for item in test)
    assert all(Path(item.path).parent.name == IMAGENET_FIXTURE_CLASSES[item.label][0] for item in test)


def test_imagenet_without_classnames_file_uses_bundled_clip_names(tmp_path: Path):
    dataset_dir = make_coop_imagenet(tmp_path, classnames_file=False)
    dataset = load_dataset(tmp_path, shots=1, seed=1, coop_name="ImageNet")
    names = imagenet_classname_by_wnid()
    assert dataset.root == str(dataset_dir)
    assert dataset.classnames == [names[wnid] for wnid, _ in IMAGENET_FIXTURE_CLASSES]


def test_fgvc_aircraft(tmp_path: Path):
    dataset_dir = make_coop_aircraft(tmp_path, counts=(5, 3, 4))
    dataset = load_dataset(dataset_dir, shots=4, seed=2)
    assert dataset.name == "fgvc_aircraft"
    assert dataset.classnames == AIRCRAFT_VARIANTS
    assert Counter(i.label for i in dataset.items("train")) == {0: 4, 1: 4, 2: 4}
    assert Counter(i.label for i in dataset.items("val")) == {0: 3, 1: 3, 2: 3}
    assert len(dataset.items("test")) == 12
    assert all(Path(i.path).parent == dataset_dir / "images" for i in dataset.items("test"))


@pytest.mark.parametrize("alias", ["OxfordPets", "oxford-pets", "PETS", "oxford_pets"])
def test_coop_name_aliases(tmp_path: Path, alias: str):
    make_coop_json_dataset(tmp_path, "oxford_pets")
    assert load_dataset(tmp_path, shots=1, seed=1, coop_name=alias).name == "oxford_pets"


def test_explicit_coop_layout_auto_detects_the_dataset(tmp_path: Path):
    dataset_dir = make_coop_json_dataset(tmp_path, "eurosat")
    assert load_dataset(dataset_dir, shots=1, seed=1, layout="coop").name == "eurosat"


def test_data_root_with_several_datasets_asks_for_a_name(tmp_path: Path):
    make_coop_json_dataset(tmp_path, "dtd")
    make_coop_json_dataset(tmp_path, "eurosat")
    with pytest.raises(DataError, match="several CoOp datasets.*dtd.*eurosat"):
        load_dataset(tmp_path, shots=1, seed=1)
    assert load_dataset(tmp_path, shots=1, seed=1, coop_name="dtd").name == "dtd"


def test_coop_seeds_are_deterministic_and_differ(tmp_path: Path):
    dataset_dir = make_coop_json_dataset(tmp_path, "ucf101", counts=(12, 6, 1))
    runs = {s: load_dataset(dataset_dir, shots=2, seed=s).items("train") for s in (1, 2, 3)}
    assert load_dataset(dataset_dir, shots=2, seed=1).items("train") == runs[1]
    assert len({tuple(r) for r in runs.values()}) == 3


def test_split_file_entry_order_does_not_change_the_sample(tmp_path: Path):
    dataset_dir = make_coop_json_dataset(tmp_path, "oxford_flowers", counts=(9, 5, 1))
    before = load_dataset(dataset_dir, shots=3, seed=2)
    path = dataset_dir / "split_zhou_OxfordFlowers.json"
    split = json.loads(path.read_text())
    for entries in split.values():
        entries.reverse()
    path.write_text(json.dumps(split))
    after = load_dataset(dataset_dir, shots=3, seed=2)
    assert after.items("train") == before.items("train")
    assert after.items("val") == before.items("val")
