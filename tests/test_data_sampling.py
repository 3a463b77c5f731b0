"""k-shot sampling: seeded, listing-order independent, val min(k, 4); lazy test split; fingerprints."""

from __future__ import annotations

import builtins
import os
import random
from pathlib import Path

import pytest

from promptclimb.evaluators.classify.data import load_dataset
from tests.data_fixtures import (
    CLOTHING,
    make_class_folders,
    make_coop_json_dataset,
    make_folders_dataset,
    relative_items,
    write_image,
)


class _Listing:
    """What os.scandir returns, with entries in a chosen order."""

    def __init__(self, entries):
        self._entries = entries

    def __enter__(self):
        return iter(self._entries)

    def __exit__(self, *exc):
        return False

    def __iter__(self):
        return iter(self._entries)


def _scramble_listings(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    real_scandir, real_listdir = os.scandir, os.listdir
    rng = random.Random(seed)

    def scandir(path="."):
        with real_scandir(path) as entries:
            listed = list(entries)
        rng.shuffle(listed)
        return _Listing(listed)

    def listdir(path="."):
        names = real_listdir(path)
        rng.shuffle(names)
        return names

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "listdir", listdir)


def test_same_seed_same_items_whatever_the_listing_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = make_folders_dataset(tmp_path / "d", train=15, val=8, test=4)
    reference = load_dataset(root, shots=4, seed=2)
    expected = {s: reference.items(s) for s in ("train", "val", "test")}
    for scramble in (1, 2):
        _scramble_listings(monkeypatch, scramble)
        again = load_dataset(root, shots=4, seed=2)
        for split in ("train", "val", "test"):
            assert again.items(split) == expected[split]
        assert again.fingerprint("train") == reference.fingerprint("train")


def test_same_seed_same_items_whatever_the_creation_order(tmp_path: Path):
    names = [f"img_{i:02d}.jpg" for i in range(20)]
    for folder, order in (("a", names), ("b", list(reversed(names)))):
        for name in order:
            write_image(tmp_path / folder / "train" / "cls" / name, int(name[4:6]))
            write_image(tmp_path / folder / "train" / "other" / name, 50 + int(name[4:6]))
    first = load_dataset(tmp_path / "a", shots=5, seed=1)
    second = load_dataset(tmp_path / "b", shots=5, seed=1)
    assert relative_items(first, "train") == relative_items(second, "train")


def test_different_seeds_give_different_samples(tmp_path: Path):
    root = make_folders_dataset(tmp_path / "d", train=30, val=20, test=2)
    samples = {seed: load_dataset(root, shots=4, seed=seed) for seed in (1, 2, 3)}
    trains = {seed: tuple(d.items("train")) for seed, d in samples.items()}
    assert len(set(trains.values())) == 3
    vals = {seed: tuple(d.items("val")) for seed, d in samples.items()}
    assert len(set(vals.values())) == 3
    fingerprints = {d.fingerprint("train") for d in samples.values()}
    assert len(fingerprints) == 3


def test_seed_paper_protocol_real_data_is_stable():
    first = load_dataset(CLOTHING, shots=8, seed=3)
    second = load_dataset(CLOTHING, shots=8, seed=3)
    assert first.items("train") == second.items("train")
    assert first.fingerprint("val") == second.fingerprint("val")


@pytest.mark.parametrize(("shots", "val_per_class"), [(1, 1), (2, 2), (4, 4), (8, 4), (16, 4)])
def test_val_takes_min_k_4_per_class(tmp_path: Path, shots: int, val_per_class: int):
    root = make_folders_dataset(tmp_path / "d", train=16, val=6, test=None)
    dataset = load_dataset(root, shots=shots, seed=1)
    labels = [item.label for item in dataset.items("val")]
    assert all(labels.count(label) == val_per_class for label in range(3))
    assert len(dataset.items("train")) == 3 * shots


def test_val_class_with_fewer_images_keeps_them_all(tmp_path: Path):
    root = make_folders_dataset(tmp_path / "d", train=8, val=None, test=None)
    make_class_folders(root / "val", {"cat": 1, "dog": 6})
    dataset = load_dataset(root, shots=8, seed=1)
    labels = [item.label for item in dataset.items("val")]
    assert labels.count(0) == 1 and labels.count(1) == 4 and labels.count(2) == 0


def test_train_sample_is_a_subset_in_stable_order(tmp_path: Path):
    root = make_folders_dataset(tmp_path / "d", train=10)
    dataset = load_dataset(root, shots=3, seed=1)
    train = dataset.items("train")
    assert train == sorted(train, key=lambda item: (item.label, item.path))
    assert all(Path(item.path).is_file() for item in train)
    # items() hands out copies: callers cannot change the dataset.
    train.clear()
    assert len(dataset.items("train")) == 9


# --------------------------------------------------------------------------------------- lazy test


class _Spy:
    """Records every file-system access (listing, stat, open) at or under the given folders/files."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, folders: list[str], files: set[str] = frozenset()):
        self.touched: list[tuple[str, str]] = []
        self._folders = [os.path.abspath(f) for f in folders]
        self._files = {os.path.abspath(f) for f in files}
        for name in ("scandir", "listdir", "stat", "lstat"):
            monkeypatch.setattr(os, name, self._wrap(name, getattr(os, name)))
        monkeypatch.setattr(builtins, "open", self._wrap("open", builtins.open))

    def _watched(self, path) -> bool:
        if isinstance(path, int):
            return False
        full = os.path.abspath(os.fspath(path))
        return full in self._files or any(full == f or full.startswith(f + os.sep) for f in self._folders)

    def _wrap(self, name, real):
        def wrapper(path=".", *args, **kwargs):
            if self._watched(path):
                self.touched.append((name, os.fspath(path)))
            return real(path, *args, **kwargs)

        return wrapper


def test_folders_test_split_is_not_touched_before_items_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = make_folders_dataset(tmp_path / "d", train=10, val=6, test=5)
    spy = _Spy(monkeypatch, [str(root / "test")])
    dataset = load_dataset(root, shots=4, seed=1)
    assert dataset.has_split("test")
    dataset.items("train")
    dataset.items("val")
    dataset.fingerprint("train")
    dataset.fingerprint("val")
    dataset.summary()
    repr(dataset)
    assert spy.touched == []
    assert len(dataset.items("test")) == 15
    assert spy.touched  # now it was listed


def test_real_clothing_test_split_is_lazy(monkeypatch: pytest.MonkeyPatch):
    spy = _Spy(monkeypatch, [str(CLOTHING / "test")])
    dataset = load_dataset(CLOTHING, shots=16, seed=1)
    dataset.fingerprint("train")
    dataset.fingerprint("val")
    assert spy.touched == []


def test_coop_test_images_are_not_touched_before_items_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    dataset_dir = make_coop_json_dataset(tmp_path, "dtd", counts=(5, 3, 4))
    test_files = {str(p) for p in (dataset_dir / "images").rglob("test_*.jpg")}
    assert len(test_files) == 12
    spy = _Spy(monkeypatch, [], files=test_files)
    dataset = load_dataset(dataset_dir, shots=2, seed=1)
    dataset.items("train")
    dataset.fingerprint("val")
    assert spy.touched == []
    dataset.fingerprint("test")
    assert {path for _, path in spy.touched} == test_files


# ------------------------------------------------------------------------------------- fingerprint


def test_fingerprint_tracks_items_classnames_and_sizes(tmp_path: Path):
    root = make_folders_dataset(tmp_path / "d", train=3, val=None, test=None)
    dataset = load_dataset(root, shots=3, seed=1)
    before = dataset.fingerprint("train")
    assert len(before) == 64 and int(before, 16) >= 0
    assert load_dataset(root, shots=3, seed=1).fingerprint("train") == before
    # Same paths, one file rewritten with a different size.
    victim = Path(dataset.items("train")[0].path)
    write_image(victim, 7, size=(32, 32))
    assert load_dataset(root, shots=3, seed=1).fingerprint("train") != before
    # Same files, a renamed class.
    (root / "train" / "cat").rename(root / "train" / "kitten")
    assert load_dataset(root, shots=3, seed=1).fingerprint("train") != before


def test_fingerprints_differ_between_splits(tmp_path: Path):
    dataset = load_dataset(make_folders_dataset(tmp_path / "d"), shots=2, seed=1)
    prints = {dataset.fingerprint(s) for s in ("train", "val", "test")}
    assert len(prints) == 3
