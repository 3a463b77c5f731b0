"""Images and folders that used to crash or exhaust memory: decompression bombs, symlink loops."""

from __future__ import annotations

import json
import logging
import os
import struct
import zlib
from pathlib import Path

import pytest

from promptclimb.evaluators.classify.data import load_dataset
from promptclimb.evaluators.classify.errors import DataError
from promptclimb.evaluators.images import MAX_DECODED_PIXELS, UnreadableImage, open_rgb
from tests.data_fixtures import make_class_folders, make_coop_json_dataset, make_folders_dataset, write_image


def png_header_only(path: Path, width: int, height: int, bit_depth: int = 16) -> Path:
    """A tiny PNG whose header claims width x height grey pixels (what a 328 KB 13000 px PNG looks like)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


def test_an_image_too_large_to_decode_is_refused_from_its_header(tmp_path: Path) -> None:
    assert MAX_DECODED_PIXELS < 13_000 * 13_000
    with pytest.raises(UnreadableImage, match=r"too large to decode \(13000x13000 pixels"):
        open_rgb(str(png_header_only(tmp_path / "bomb.png", 13_000, 13_000)))


def test_a_symlink_loop_in_a_class_folder_is_skipped_with_a_warning(tmp_path: Path, caplog) -> None:
    root = make_folders_dataset(tmp_path / "data")
    train = root / "train"
    first_class = sorted(p for p in train.iterdir() if p.is_dir())[0]
    os.symlink("loop.jpg", first_class / "loop.jpg")  # points at itself
    os.symlink("circle", train / "circle")
    with caplog.at_level(logging.WARNING):
        dataset = load_dataset(root, shots=1, seed=1)
    assert "circle" not in dataset.classnames
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "loop.jpg" in warned and "circle" in warned and "Too many levels of symbolic links" in warned


def raises_data_error(match: str) -> pytest.RaisesContext:
    return pytest.raises(DataError, match=match)


@pytest.mark.parametrize(
    ("folder", "expected"),
    [("flowers-102", r"has 1 class \['jpg'\]"), ("oxford_flowers", "split_zhou_OxfordFlowers.json")],
)
def test_a_torchvision_flowers102_download_is_not_a_one_class_dataset(
    tmp_path: Path, folder: str, expected: str
) -> None:
    root = tmp_path / folder
    make_class_folders(root, {"jpg": 12})  # jpg/image_00001.jpg ... next to the labels in .mat files
    (root / "imagelabels.mat").write_bytes(b"MATLAB 5.0")
    (root / "setid.mat").write_bytes(b"MATLAB 5.0")
    with raises_data_error(expected) as raised:
        load_dataset(root, shots=1, seed=1)
    assert "\n" not in str(raised.value)


def imagenet_folders(root: Path, val_flat: bool = False) -> Path:
    make_class_folders(root / "train", {"n01440764": 3, "n01443537": 3})
    if val_flat:
        for i in range(4):
            write_image(root / "val" / f"ILSVRC2012_val_{i:08d}.JPEG", i)
    else:
        make_class_folders(root / "val", {"n01440764": 2, "n01443537": 2}, start=100)
    return root


def test_imagenet_in_wnid_folders_gets_clip_names_and_its_val_split_as_test(tmp_path: Path) -> None:
    dataset = load_dataset(imagenet_folders(tmp_path / "imagenet"), shots=1, seed=1)
    assert dataset.classnames == ["tench", "goldfish"]
    assert not dataset.has_split("val") and len(dataset.items("test")) == 4


def test_a_flat_imagenet_val_folder_is_not_an_empty_test_split(tmp_path: Path) -> None:
    dataset = load_dataset(imagenet_folders(tmp_path / "imagenet", val_flat=True), shots=1, seed=1)
    with raises_data_error("test split of 'imagenet' .* holds no images in class folders"):
        dataset.items("test")


def test_a_missing_test_image_is_an_error_not_a_smaller_benchmark(tmp_path: Path) -> None:
    folder = make_coop_json_dataset(tmp_path, "oxford_flowers")
    dataset = load_dataset(folder, shots=1, seed=1)
    split = json.loads((folder / "split_zhou_OxfordFlowers.json").read_text())
    missing = folder / "jpg" / split["test"][0][0]
    missing.unlink()
    with raises_data_error(f"test image not found: {missing}"):
        dataset.items("test")


def test_a_large_16_bit_image_decodes_within_bounded_memory(tmp_path):
    """A small file of 6320x6320 16-bit pixels (under the 40 Mpx cap): the conversion to 8 bits must not
    hold float64 copies of it (it doubled the peak RSS, 1.08 to 2.25 GB)."""
    import subprocess
    import sys

    import numpy as np
    from PIL import Image

    path = tmp_path / "deep.png"
    gradient = (np.arange(6320, dtype=np.uint32) * 10).astype(np.uint16)
    Image.fromarray(np.broadcast_to(gradient, (6320, 6320)).copy()).save(path)
    script = (
        "import resource, sys\n"
        "from promptclimb.evaluators.images import open_rgb\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "image = open_rgb(sys.argv[1])\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(image.size, image.getpixel((6319, 0)), (after - before) // 1024)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True
    )
    grown_mb = int(done.stdout.split()[-1])
    assert done.stdout.startswith("(6320, 6320) (246, 246, 246)")  # scaled to 8 bits, not clipped to white
    # The 16-bit pixels (80 MB), the 8-bit result and its RGB copy (160 MB), and PIL's decode buffers.
    assert grown_mb < 600, f"decoding grew the peak RSS by {grown_mb} MB"
