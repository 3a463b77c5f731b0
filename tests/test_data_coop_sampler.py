"""sampler="coop": CoOp's exact few-shot draw, checked against draws CoOp's protocol released for Pets."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from promptclimb.evaluators.classify.data import load_dataset
from promptclimb.evaluators.classify.errors import DataError
from promptclimb.evaluators.classify.fewshot import coop_fewshot
from tests.data_fixtures import make_coop_aircraft, make_coop_json_dataset

REFERENCE = json.loads((Path(__file__).parent / "reference" / "coop_pets_fewshot.json").read_text())
DTD = json.loads((Path(__file__).parent / "reference" / "coop_dtd_fewshot.json").read_text())


def make_pets_split(root: Path) -> tuple[Path, dict[str, list[str]]]:
    """A CoOp Oxford Pets folder whose split file has the real file's per-label sizes and order (labels
    grouped, in label order); the images the released seed-1 1-shot draw names sit at its positions, the
    others get made-up names. Files are empty: the sampler never opens them."""
    folder = root / "oxford_pets"
    images = folder / "images"
    images.mkdir(parents=True)
    classes = REFERENCE["classnames"]
    draw, files = REFERENCE["draws"]["shot_1-seed_1"], REFERENCE["shot_1-seed_1_files"]
    named = {split: dict(zip(draw[split], files[split], strict=True)) for split in ("train", "val")}
    split: dict[str, list] = {"train": [], "val": [], "test": []}
    rel_paths: dict[str, list[str]] = {"train": [], "val": []}
    for part in ("train", "val"):
        for label, count in enumerate(REFERENCE["counts_per_label"][part]):
            for _ in range(count):
                position = len(split[part])
                rel = named[part].get(position, f"{classes[label]}_{part}{position}.jpg")
                split[part].append([rel, label, classes[label]])
                rel_paths[part].append(rel)
                (images / rel).touch()
    for label, name in enumerate(classes):
        split["test"].append([f"{name}_test.jpg", label, name])
        (images / f"{name}_test.jpg").touch()
    (folder / "split_zhou_OxfordPets.json").write_text(json.dumps(split))
    return folder, rel_paths


@pytest.fixture(scope="module")
def pets(tmp_path_factory) -> tuple[Path, dict[str, list[str]]]:
    return make_pets_split(tmp_path_factory.mktemp("pets"))


def positions(items, rel_paths: list[str], folder: Path) -> list[int]:
    index = {str(folder / "images" / rel): i for i, rel in enumerate(rel_paths)}
    return [index[item.path] for item in items]


@pytest.mark.parametrize("draw", sorted(REFERENCE["draws"]))
def test_coop_draw_reproduces_the_released_pets_draws(pets, draw: str):
    folder, rel_paths = pets
    shots, seed = (int(part.split("_")[1]) for part in draw.split("-"))
    dataset = load_dataset(folder, shots=shots, seed=seed, sampler="coop")
    expected = REFERENCE["draws"][draw]
    assert positions(dataset.items("train"), rel_paths["train"], folder) == expected["train"]
    assert positions(dataset.items("val"), rel_paths["val"], folder) == expected["val"]
    assert Counter(i.label for i in dataset.items("val")) == dict.fromkeys(range(37), min(shots, 4))


def test_seed_1_one_shot_pets_images_by_name(pets):
    folder, _ = pets
    dataset = load_dataset(folder, shots=1, seed=1, sampler="coop")
    for split in ("train", "val"):
        names = [Path(item.path).name for item in dataset.items(split)]
        assert names == REFERENCE["shot_1-seed_1_files"][split]
    assert names[0] == "Abyssinian_109.jpg"  # val, label 0
    assert dataset.sampler == "coop" and "CoOp's draw" in dataset.summary()


def test_promptclimb_sampler_is_still_the_default_and_draws_otherwise(pets):
    folder, _ = pets
    default = load_dataset(folder, shots=1, seed=1)
    coop = load_dataset(folder, shots=1, seed=1, sampler="coop")
    assert default.sampler == "promptclimb"
    same = {i.path for i in default.items("train")} & {i.path for i in coop.items("train")}
    assert len(same) < 37  # two different draws (on CoOp's real split they share 0 of 37 images)


@pytest.fixture(scope="module")
def dtd(tmp_path_factory) -> tuple[Path, dict[str, list[str]]]:
    """CoOp's DTD split as far as the draw sees it: 47 classes of 60 train and 24 val images, class by class
    (sizes known from DTD itself, nothing inferred); the seed-1 1-shot images carry their real names."""
    folder = tmp_path_factory.mktemp("data") / "dtd"
    images = folder / "images"
    draw, files = DTD["draws"]["shot_1-seed_1"], DTD["shot_1-seed_1_files"]
    named = {split: dict(zip(draw[split], files[split], strict=True)) for split in ("train", "val")}
    split: dict[str, list] = {"train": [], "val": [], "test": []}
    for part, per_class in (("train", DTD["train_per_class"]), ("val", DTD["val_per_class"])):
        for label, name in enumerate(DTD["classnames"]):
            (images / name).mkdir(parents=True, exist_ok=True)
            for _ in range(per_class):
                position = len(split[part])
                rel = named[part].get(position, f"{name}/{part}_{position}.jpg")
                split[part].append([rel, label, name])
                (images / rel).touch()
    (folder / "split_zhou_DescribableTextures.json").write_text(json.dumps(split))
    return folder, {part: [rel for rel, _, _ in split[part]] for part in ("train", "val")}


@pytest.mark.parametrize("draw", sorted(DTD["draws"]))
def test_coop_draw_reproduces_the_released_dtd_draws(dtd, draw: str):
    folder, rel_paths = dtd
    shots, seed = (int(part.split("_")[1]) for part in draw.split("-"))
    dataset = load_dataset(folder, shots=shots, seed=seed, sampler="coop")
    assert dataset.name == "dtd"
    for split in ("train", "val"):
        assert positions(dataset.items(split), rel_paths[split], folder) == DTD["draws"][draw][split]
    if draw == "shot_1-seed_1":
        names = [str(Path(i.path).relative_to(folder / "images")) for i in dataset.items("train")]
        assert names == DTD["shot_1-seed_1_files"]["train"]


class Row:
    def __init__(self, name: str, label: int) -> None:
        self.name, self.label = name, label

    def __repr__(self) -> str:
        return self.name


def test_dassl_rules_first_seen_labels_small_classes_and_one_stream():
    # Label 2 appears first, label 0 has fewer items than k (all kept, as Dassl without repeat).
    train = [Row(f"c{i}", 2) for i in range(5)] + [Row("a0", 0)] + [Row(f"b{i}", 1) for i in range(4)]
    val = [Row(f"v{i}", i % 2) for i in range(8)]
    picked, picked_val = coop_fewshot(train, val, 2, seed=3)
    assert [r.label for r in picked] == [2, 2, 0, 1, 1]
    assert Counter(r.label for r in picked_val or []) == {0: 2, 1: 2}
    # val continues train's stream: the same val pool with another train pool can draw otherwise.
    _, alone = coop_fewshot(train[:1] + train[5:6] + train[6:8], val, 2, seed=3)
    again, again_val = coop_fewshot(train, val, 2, seed=3)
    assert (again, again_val) == (picked, picked_val)
    assert alone is not None


def test_coop_draw_follows_split_row_order(tmp_path: Path):
    """Unlike promptclimb's sampler, CoOp's draw picks positions: reordering the split file changes it."""
    dataset_dir = make_coop_json_dataset(tmp_path, "oxford_flowers", counts=(9, 5, 1))
    before = load_dataset(dataset_dir, shots=3, seed=2, sampler="coop")
    path = dataset_dir / "split_zhou_OxfordFlowers.json"
    split = json.loads(path.read_text())
    for entries in split.values():
        entries.reverse()
    path.write_text(json.dumps(split))
    after = load_dataset(dataset_dir, shots=3, seed=2, sampler="coop")
    assert after.items("train") != before.items("train")
    assert [i.label for i in after.items("train")][:3] == [2, 2, 2]  # labels in first-seen order


def test_coop_draw_on_aircraft_and_errors(tmp_path: Path):
    dataset_dir = make_coop_aircraft(tmp_path, counts=(5, 3, 4))
    dataset = load_dataset(dataset_dir, shots=4, seed=1, sampler="coop")
    assert Counter(i.label for i in dataset.items("train")) == {0: 4, 1: 4, 2: 4}
    assert Counter(i.label for i in dataset.items("val")) == {0: 3, 1: 3, 2: 3}
    with pytest.raises(DataError, match="unknown sampler 'dassl'"):
        load_dataset(dataset_dir, shots=1, seed=1, sampler="dassl")
