"""Dataset layouts: folders, flat, named, auto-detection, class-name clean-up, on generated and real data."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from promptclimb.evaluators.classify.data import LAYOUTS, load_dataset
from promptclimb.evaluators.classify.dataset import FewShotDataset, ImageItem
from promptclimb.evaluators.classify.names import clean_classnames
from promptclimb.prompts.handmade import imagenet_classnames
from tests.data_fixtures import (
    CLOTHING,
    IMAGENET_SAMPLES,
    make_class_folders,
    make_folders_dataset,
    relative_items,
    write_image,
)


def per_class(items: list[ImageItem]) -> Counter:
    return Counter(item.label for item in items)


def test_layout_names_are_the_public_contract():
    assert LAYOUTS == ("auto", "folders", "flat", "named", "coop")


# ------------------------------------------------------------------------------------------ folders


def test_folders_layout_on_generated_tree(tmp_path: Path):
    root = make_folders_dataset(tmp_path / "pets", train=10, val=6, test=5)
    dataset = load_dataset(root, shots=4, seed=1)
    assert isinstance(dataset, FewShotDataset)
    assert dataset.name == "pets" and dataset.layout == "folders"
    assert dataset.root == str(root)
    assert dataset.classnames == ["cat", "dog", "red fox"]
    assert (dataset.shots, dataset.seed) == (4, 1)
    assert all(dataset.has_split(s) for s in ("train", "val", "test"))
    train = dataset.items("train")
    assert per_class(train) == {0: 4, 1: 4, 2: 4}
    assert all(os.path.isabs(item.path) and os.sep + "train" + os.sep in item.path for item in train)
    assert per_class(dataset.items("val")) == {0: 4, 1: 4, 2: 4}
    assert per_class(dataset.items("test")) == {0: 5, 1: 5, 2: 5}
    # Labels follow the train folder of each item.
    for item in train + dataset.items("test"):
        assert Path(item.path).parent.name == ["cat", "dog", "red_fox"][item.label]


@pytest.mark.parametrize("val_name", ["validation", "valid", "Val"])
def test_folders_layout_accepts_other_val_folder_names(tmp_path: Path, val_name: str):
    root = make_folders_dataset(tmp_path / "d", val_name=val_name)
    dataset = load_dataset(root, shots=2, seed=1, layout="folders")
    assert dataset.has_split("val") and len(dataset.items("val")) == 6


def test_folders_layout_without_val_or_test(tmp_path: Path):
    dataset = load_dataset(make_folders_dataset(tmp_path / "d", val=None, test=None), shots=3, seed=2)
    assert dataset.has_split("train")
    assert not dataset.has_split("val") and not dataset.has_split("test")
    # No val split: nothing is taken from train.
    assert len(dataset.items("train")) == 9


def test_folders_val_and_test_may_lack_some_classes(tmp_path: Path):
    root = make_folders_dataset(tmp_path / "d", val=None, test=None)
    make_class_folders(root / "test", {"dog": 3})
    dataset = load_dataset(root, shots=1, seed=1)
    assert per_class(dataset.items("test")) == {1: 3}


def test_real_clothing_small():
    dataset = load_dataset(CLOTHING, shots=16, seed=1)
    assert dataset.layout == "folders" and dataset.name == "clothing-small"
    assert dataset.classnames == [
        "dress",
        "hat",
        "longsleeve",
        "outwear",
        "pants",
        "shirt",
        "shoes",
        "shorts",
        "skirt",
        "t-shirt",
    ]
    assert per_class(dataset.items("train")) == dict.fromkeys(range(10), 16)
    assert per_class(dataset.items("val")) == dict.fromkeys(range(10), 4)  # min(16, 4)
    test = dataset.items("test")
    assert len(test) == 372  # the README's count
    assert len({item.path for item in test}) == 372


# --------------------------------------------------------------------------------------------- flat


def test_flat_layout_splits_50_20_30(tmp_path: Path):
    root = make_class_folders(tmp_path / "flowers", {"rose": 10, "tulip": 20, "lily_of_the_valley": 7})
    dataset = load_dataset(root, shots=2, seed=1)
    assert dataset.layout == "flat"
    assert dataset.classnames == ["lily of the valley", "rose", "tulip"]
    test = per_class(dataset.items("test"))
    assert test == {0: 2, 1: 3, 2: 6}  # 30% of 7, 10, 20 (half up)
    # 20% val, capped by min(shots, 4) = 2 per class.
    assert per_class(dataset.items("val")) == {0: 1, 1: 2, 2: 2}
    all_paths = [item.path for split in ("train", "val", "test") for item in dataset.items(split)]
    assert len(all_paths) == len(set(all_paths))


def test_flat_test_split_does_not_depend_on_seed(tmp_path: Path):
    root = make_class_folders(tmp_path / "d", {"a": 12, "b": 9})
    tests = [relative_items(load_dataset(root, shots=1, seed=s), "test") for s in (1, 2, 3)]
    assert tests[0] == tests[1] == tests[2]
    trains = [relative_items(load_dataset(root, shots=3, seed=s), "train") for s in (1, 2, 3)]
    assert len({tuple(t) for t in trains}) > 1


def test_flat_split_survives_moving_the_dataset(tmp_path: Path):
    make_class_folders(tmp_path / "one" / "d", {"a": 12, "b": 9})
    (tmp_path / "one").rename(tmp_path / "two")
    moved = load_dataset(tmp_path / "two" / "d", shots=2, seed=1)
    make_class_folders(tmp_path / "three" / "d", {"a": 12, "b": 9})
    fresh = load_dataset(tmp_path / "three" / "d", shots=2, seed=1)
    for split in ("train", "val", "test"):
        assert relative_items(moved, split) == relative_items(fresh, split)


def test_flat_with_two_images_per_class_is_train_and_test(tmp_path: Path):
    dataset = load_dataset(make_class_folders(tmp_path / "d", {"a": 2, "b": 5}), shots=1, seed=1)
    assert not dataset.has_split("val")
    assert per_class(dataset.items("test")) == {0: 1, 1: 2}
    assert per_class(dataset.items("train")) == {0: 1, 1: 1}


def test_flat_with_one_image_in_a_class_is_train_only(tmp_path: Path):
    dataset = load_dataset(make_class_folders(tmp_path / "d", {"a": 1, "b": 5}), shots=1, seed=1)
    assert not dataset.has_split("val") and not dataset.has_split("test")


# -------------------------------------------------------------------------------------------- named


def test_real_imagenet_samples_is_train_only_1_shot():
    dataset = load_dataset(IMAGENET_SAMPLES, shots=1, seed=1)
    assert dataset.layout == "named" and dataset.name == "imagenet-samples"
    assert len(dataset.classnames) == 1000
    # CLIP's readable names, in ImageNet label order (sorted WordNet ids).
    assert dataset.classnames == imagenet_classnames()
    assert dataset.classnames[:3] == ["tench", "goldfish", "great white shark"]
    assert "crane bird" in dataset.classnames and "construction crane" in dataset.classnames
    assert not dataset.has_split("val") and not dataset.has_split("test")
    train = dataset.items("train")
    assert len(train) == 1000 and sorted(item.label for item in train) == list(range(1000))
    assert Path(train[0].path).name == "n01440764_tench.JPEG"


def test_real_imagenet_samples_has_one_shot_only():
    with pytest.raises(Exception, match=r"class 'tench' has 1 train image\(s\), fewer than shots=2"):
        load_dataset(IMAGENET_SAMPLES, shots=2, seed=1)


def test_named_id_and_class_name(tmp_path: Path):
    root = tmp_path / "shots"
    for i, name in enumerate(["0001_red_panda", "0002_red_panda", "0003_koala", "0004_koala", "0005_koala"]):
        write_image(root / f"{name}.png", i)
    (root / "notes.txt").write_text("ignored")
    dataset = load_dataset(root, shots=1, seed=1)
    assert dataset.layout == "named"
    assert dataset.classnames == ["koala", "red panda"]
    assert per_class(dataset.items("train")) == {0: 1, 1: 1}
    assert dataset.has_split("test") and not dataset.has_split("val")  # smallest class has 2 images


def test_named_class_name_and_counter(tmp_path: Path):
    root = tmp_path / "pets"
    for cls in ("Abyssinian", "american_bulldog"):
        for i in range(1, 6):
            write_image(root / f"{cls}_{i}.jpg", i)
    dataset = load_dataset(root, shots=2, seed=3, layout="named")
    assert dataset.classnames == ["Abyssinian", "american bulldog"]
    assert all(dataset.has_split(s) for s in ("train", "val", "test"))


def test_named_unknown_wordnet_ids_use_file_names(tmp_path: Path):
    root = tmp_path / "d"
    write_image(root / "n99999998_crane.jpg", 1)
    write_image(root / "n99999999_crane.jpg", 2)
    write_image(root / "n01440764_tench.jpg", 3)
    dataset = load_dataset(root, shots=1, seed=1)
    assert dataset.classnames == ["tench", "crane (n99999998)", "crane (n99999999)"]


def test_named_imagenet_style_counters_get_clip_names(tmp_path: Path):
    root = tmp_path / "d"
    for i in range(3):
        write_image(root / f"n01440764_{10026 + i}.JPEG", i)
        write_image(root / f"n03126707_{i}.JPEG", 10 + i)
    dataset = load_dataset(root, shots=1, seed=1)
    assert dataset.classnames == ["tench", "construction crane"]


# -------------------------------------------------------------------------------------- class names


def test_clean_classnames():
    assert clean_classnames(["t-shirt", "long_sleeve", "AnnualCrop", "iPod", "CD player"]) == [
        "t-shirt",
        "long sleeve",
        "Annual Crop",
        "iPod",
        "CD player",
    ]
    assert clean_classnames(["001.Black_footed_Albatross", "002.Laysan_Albatross"]) == [
        "Black footed Albatross",
        "Laysan Albatross",
    ]
    # A prefix only some classes have is part of the name.
    assert clean_classnames(["7-eleven", "shop"]) == ["7-eleven", "shop"]
    # Names that would collide after clean-up stay as they were.
    assert clean_classnames(["red_fox", "red fox", "owl"]) == ["red_fox", "red fox", "owl"]


# ----------------------------------------------------------------------------------------- detection


def test_auto_detection_picks_each_layout(tmp_path: Path):
    folders = make_folders_dataset(tmp_path / "a")
    flat = make_class_folders(tmp_path / "b", {"x": 4, "y": 4})
    named = tmp_path / "c"
    for i in range(3):
        write_image(named / f"{i}_thing.jpg", i)
        write_image(named / f"{i + 3}_other.jpg", i + 3)  # two classes: a one-class dataset is an error
    assert load_dataset(folders, shots=1, seed=1).layout == "folders"
    assert load_dataset(flat, shots=1, seed=1).layout == "flat"
    assert load_dataset(named, shots=1, seed=1).layout == "named"


def test_explicit_layout_overrides_detection(tmp_path: Path):
    # A folders tree read as flat: train/, val/, test/ become three "classes" of... no images -> error;
    # read with the right layout it works.
    root = make_folders_dataset(tmp_path / "d")
    assert load_dataset(root, shots=1, seed=1, layout="folders").classnames == ["cat", "dog", "red fox"]
    with pytest.raises(ValueError, match="class folder has no images"):
        load_dataset(root, shots=1, seed=1, layout="flat")


def test_image_extensions_are_case_insensitive_and_hidden_files_skipped(tmp_path: Path):
    names = ["a.JPG", "b.Jpeg", "c.PNG", "d.bmp", "e.gif", "f.webp", "g.TIF", "h.tiff"]
    cls = tmp_path / "d" / "train" / "cls"
    cls.mkdir(parents=True)
    for i, name in enumerate(names):
        Image.new("RGB", (4, 4), (i, i, i)).save(cls / name, format=_pil_format(name))
    write_image(cls / "._a.jpg", 99)  # macOS resource-fork twin
    (cls / "readme.txt").write_text("x")
    write_image(cls / "sub" / "nested.jpg", 5)  # sub-folders of a class are not searched
    make_class_folders(tmp_path / "d" / "train", {"other": 8})
    dataset = load_dataset(tmp_path / "d", shots=8, seed=1)
    assert sorted(Path(i.path).name for i in dataset.items("train") if i.label == 0) == names


def _pil_format(name: str) -> str:
    ext = name.rsplit(".", 1)[1].lower()
    return {"jpg": "JPEG", "jpeg": "JPEG", "tif": "TIFF", "tiff": "TIFF"}.get(ext, ext.upper())


def test_wordnet_id_folders_get_imagenet_names_and_an_unknown_id_is_refused(tmp_path):
    from promptclimb.evaluators.classify.data import load_dataset
    from promptclimb.evaluators.classify.errors import DataError
    from tests.data_fixtures import write_image

    known = tmp_path / "known"
    for index, wnid in enumerate(("n01440764", "n01443537")):
        write_image(known / wnid / "a.JPEG", index)
    assert load_dataset(str(known), shots=1, seed=1).classnames == ["tench", "goldfish"]
    unknown = tmp_path / "unknown"
    for index, wnid in enumerate(("n01440764", "n09999999")):
        write_image(unknown / wnid / "a.JPEG", index)
    with pytest.raises(DataError, match="n09999999.*rename the folder"):
        load_dataset(str(unknown), shots=1, seed=1)
