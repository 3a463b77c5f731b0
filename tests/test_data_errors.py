"""Every DataError case: one-line messages that say what is wrong and where."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import pytest

from promptclimb.evaluators.classify.data import load_dataset
from promptclimb.evaluators.classify.errors import DataError
from tests.data_fixtures import (
    make_class_folders,
    make_coop_aircraft,
    make_coop_imagenet,
    make_coop_json_dataset,
    make_folders_dataset,
    write_image,
)


@contextmanager
def raises_one_line(match: str):
    """pytest.raises(DataError) that also checks the message is a single, non-empty line."""
    with pytest.raises(DataError, match=match) as info:
        yield info
    message = str(info.value)
    assert message and "\n" not in message and message.strip() == message


def test_data_error_is_a_value_error():
    assert issubclass(DataError, ValueError)


def test_missing_path(tmp_path: Path):
    with raises_one_line(r"dataset path not found: .*nope"):
        load_dataset(tmp_path / "nope", shots=1, seed=1)


def test_path_is_a_file(tmp_path: Path):
    path = write_image(tmp_path / "x.jpg")
    with raises_one_line("not a directory"):
        load_dataset(path, shots=1, seed=1)


def test_empty_directory(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with raises_one_line(r"dataset directory is empty: .*empty"):
        load_dataset(tmp_path / "empty", shots=1, seed=1)


def test_directory_without_images_or_class_folders(tmp_path: Path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "README.md").write_text("hello")
    with raises_one_line("no class folders or images"):
        load_dataset(tmp_path / "d", shots=1, seed=1)


def test_no_class_folders_in_train(tmp_path: Path):
    (tmp_path / "d" / "train").mkdir(parents=True)
    with raises_one_line(r"no class folders in .*train"):
        load_dataset(tmp_path / "d", shots=1, seed=1)


def test_no_class_folders_for_explicit_flat(tmp_path: Path):
    write_image(tmp_path / "d" / "0_cat.jpg")
    with raises_one_line("no class folders"):
        load_dataset(tmp_path / "d", shots=1, seed=1, layout="flat")


def test_no_train_folder_for_explicit_folders(tmp_path: Path):
    make_class_folders(tmp_path / "d", {"a": 2})
    with raises_one_line("no train/ folder"):
        load_dataset(tmp_path / "d", shots=1, seed=1, layout="folders")


def test_class_folder_without_images(tmp_path: Path):
    root = make_folders_dataset(tmp_path / "d")
    (root / "train" / "empty_class").mkdir()
    (root / "train" / "empty_class" / "notes.txt").write_text("no images here")
    with raises_one_line(r"class folder has no images .*empty_class"):
        load_dataset(root, shots=1, seed=1)


def test_fewer_images_than_shots_names_class_and_count(tmp_path: Path):
    root = make_folders_dataset(tmp_path / "d", train=10)
    for extra in sorted((root / "train" / "dog").iterdir())[3:]:
        extra.unlink()
    with raises_one_line(r"class 'dog' has 3 train image\(s\), fewer than shots=4"):
        load_dataset(root, shots=4, seed=1)


@pytest.mark.parametrize("shots", [0, -1, True, 1.5, "4"])
def test_bad_shots(tmp_path: Path, shots):
    with raises_one_line("shots must be a positive integer"):
        load_dataset(make_folders_dataset(tmp_path / "d"), shots=shots, seed=1)


def test_unknown_layout(tmp_path: Path):
    with raises_one_line(r"unknown dataset layout 'csv' \(choose from auto, folders, flat, named, coop\)"):
        load_dataset(tmp_path, shots=1, seed=1, layout="csv")


def test_unknown_coop_name(tmp_path: Path):
    with raises_one_line(r"unknown CoOp dataset 'cifar10' \(known: imagenet, caltech101, .*ucf101\)"):
        load_dataset(tmp_path, shots=1, seed=1, coop_name="cifar10")


def test_coop_name_with_another_layout(tmp_path: Path):
    with raises_one_line("only applies to the coop layout"):
        load_dataset(tmp_path, shots=1, seed=1, layout="folders", coop_name="dtd")


def test_coop_folder_missing_its_split_file(tmp_path: Path):
    (tmp_path / "dtd" / "images").mkdir(parents=True)
    with raises_one_line(r"not a CoOp dtd folder: split_zhou_DescribableTextures.json not found"):
        load_dataset(tmp_path / "dtd", shots=1, seed=1, coop_name="dtd")


def test_explicit_coop_layout_on_other_folder(tmp_path: Path):
    make_class_folders(tmp_path / "d", {"a": 3})
    with raises_one_line("is not a CoOp dataset folder"):
        load_dataset(tmp_path / "d", shots=1, seed=1, layout="coop")


def test_coop_image_folder_missing(tmp_path: Path):
    dataset_dir = make_coop_json_dataset(tmp_path, "eurosat")
    (dataset_dir / "2750").rename(dataset_dir / "EuroSAT")
    with raises_one_line(r"image folder not found: .*2750"):
        load_dataset(dataset_dir, shots=1, seed=1)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "invalid JSON at line 1"),
        ("[]", "expected an object with train, val and test lists"),
        ('{"train": [], "val": []}', "expected an object with train, val and test lists"),
        (
            '{"train": [["a.jpg", 0]], "val": [], "test": []}',
            r"train entry 0 is not \[path, label, class name\]",
        ),
        ('{"train": [["a.jpg", -1, "x"]], "val": [], "test": []}', "train entry 0"),
        ('{"train": [], "val": [], "test": [["a.jpg", "zero", "x"]]}', "test entry 0"),
        ('{"train": [], "val": [], "test": []}', "the train list is empty"),
        (
            '{"train": [["a.jpg", 0, "x"], ["b.jpg", 0, "y"]], "val": [], "test": []}',
            "label 0 is both 'x' and 'y'",
        ),
    ],
)
def test_malformed_split_json_names_the_file(tmp_path: Path, content: str, reason: str):
    dataset_dir = make_coop_json_dataset(tmp_path, "dtd")
    split_file = dataset_dir / "split_zhou_DescribableTextures.json"
    split_file.write_text(content)
    with raises_one_line(f"malformed split file .*split_zhou_DescribableTextures.json: {reason}"):
        load_dataset(dataset_dir, shots=1, seed=1)


def test_split_json_lists_missing_training_image(tmp_path: Path):
    dataset_dir = make_coop_json_dataset(tmp_path, "dtd", counts=(1, 1, 1))
    split_file = dataset_dir / "split_zhou_DescribableTextures.json"
    split = json.loads(split_file.read_text())
    split["train"][0][0] = "banded/gone.jpg"
    split_file.write_text(json.dumps(split))
    with raises_one_line(r"train image not found: .*banded/gone.jpg"):
        load_dataset(dataset_dir, shots=1, seed=1)


def test_missing_test_image_is_reported_when_fingerprinted(tmp_path: Path):
    dataset_dir = make_coop_json_dataset(tmp_path, "dtd", counts=(1, 1, 1))
    dataset = load_dataset(dataset_dir, shots=1, seed=1)
    Path(dataset.items("test")[0].path).unlink()
    with raises_one_line("test image not found"):
        dataset.fingerprint("test")


def test_aircraft_unknown_variant(tmp_path: Path):
    dataset_dir = make_coop_aircraft(tmp_path)
    with (dataset_dir / "images_variant_train.txt").open("a") as handle:
        handle.write("1234567 Concorde\n")
    with raises_one_line(r"images_variant_train.txt:16: expected '<image id> <variant from variants.txt>'"):
        load_dataset(dataset_dir, shots=1, seed=1)


def test_imagenet_folder_without_class_name(tmp_path: Path):
    dataset_dir = make_coop_imagenet(tmp_path)
    write_image(dataset_dir / "images" / "train" / "n99999999" / "x.JPEG")
    with raises_one_line(r"no class name for ImageNet folder 'n99999999'"):
        load_dataset(dataset_dir, shots=1, seed=1)


def test_named_file_without_class_name(tmp_path: Path):
    write_image(tmp_path / "d" / "0001_cat.jpg")
    write_image(tmp_path / "d" / "photo.jpg")
    with raises_one_line(r"cannot read a class name from file name 'photo'"):
        load_dataset(tmp_path / "d", shots=1, seed=1)


def test_val_class_not_in_train(tmp_path: Path):
    root = make_folders_dataset(tmp_path / "d")
    make_class_folders(root / "val", {"zebra": 2})
    with raises_one_line(r"class folder .*zebra is not a class of the train split"):
        load_dataset(root, shots=1, seed=1)


def test_test_class_not_in_train_is_reported_at_test_time(tmp_path: Path):
    root = make_folders_dataset(tmp_path / "d")
    make_class_folders(root / "test", {"zebra": 2})
    dataset = load_dataset(root, shots=1, seed=1)  # test/ is not read yet
    with raises_one_line("is not a class of the train split"):
        dataset.items("test")


def test_missing_and_unknown_splits(tmp_path: Path):
    dataset = load_dataset(make_folders_dataset(tmp_path / "d", val=None, test=None), shots=1, seed=1)
    with raises_one_line("dataset 'd' has no val split"):
        dataset.items("val")
    with raises_one_line("has no test split"):
        dataset.fingerprint("test")
    with raises_one_line(r"unknown split 'dev' \(choose from train, val, test\)"):
        dataset.has_split("dev")


def test_an_empty_train_csv_says_it_is_empty(tmp_path: Path):
    from promptclimb.evaluators.classify.texts import load_text_dataset

    (tmp_path / "train.csv").write_text("")
    with raises_one_line(r"train\.csv is empty: a header row"):
        load_text_dataset(tmp_path, shots=1, seed=1)
