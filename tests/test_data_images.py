"""open_rgb: every pixel format to 8-bit RGB, transparency on white, unreadable files rejected."""

from __future__ import annotations

import contextlib
import io
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from promptclimb.evaluators.images import UnreadableImage, open_rgb
from tests.data_fixtures import CLOTHING, IMAGENET_SAMPLES


def _check_rgb(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    assert image.mode == "RGB" and image.size == size
    return np.asarray(image)


def test_rgb_jpeg(tmp_path: Path):
    path = tmp_path / "x.jpg"
    Image.new("RGB", (10, 6), (200, 40, 10)).save(path)
    pixels = _check_rgb(open_rgb(str(path)), (10, 6))
    assert abs(int(pixels[0, 0, 0]) - 200) < 6


def test_grayscale_l(tmp_path: Path):
    path = tmp_path / "gray.png"
    Image.new("L", (5, 5), 77).save(path)
    assert _check_rgb(open_rgb(str(path)), (5, 5))[2, 2].tolist() == [77, 77, 77]


def test_one_bit(tmp_path: Path):
    path = tmp_path / "bw.png"
    Image.new("1", (4, 4), 1).save(path)
    assert _check_rgb(open_rgb(str(path)), (4, 4))[0, 0].tolist() == [255, 255, 255]


def test_palette(tmp_path: Path):
    path = tmp_path / "pal.gif"
    Image.new("RGB", (6, 6), (0, 128, 255)).convert("P", palette=Image.Palette.ADAPTIVE).save(path)
    assert Image.open(path).mode == "P"
    assert _check_rgb(open_rgb(str(path)), (6, 6))[0, 0].tolist() == [0, 128, 255]


def test_palette_with_transparency_goes_on_white(tmp_path: Path):
    path = tmp_path / "pal_t.png"
    image = Image.new("P", (4, 4), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.putpixel((1, 1), 1)
    image.save(path, transparency=0)
    pixels = _check_rgb(open_rgb(str(path)), (4, 4))
    assert pixels[0, 0].tolist() == [255, 255, 255]  # transparent black -> white page
    assert pixels[1, 1].tolist() == [255, 0, 0]


def test_cmyk_jpeg(tmp_path: Path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(path)  # pure red in ink
    assert Image.open(path).mode == "CMYK"
    red, green, blue = _check_rgb(open_rgb(str(path)), (8, 8))[4, 4].tolist()
    assert red > 200 and green < 50 and blue < 50


def test_rgba_is_composited_on_white(tmp_path: Path):
    path = tmp_path / "alpha.png"
    image = Image.new("RGBA", (4, 4), (0, 0, 255, 0))  # fully transparent blue
    image.putpixel((1, 1), (0, 0, 255, 255))
    image.putpixel((2, 2), (0, 0, 0, 128))  # half-transparent black
    image.save(path)
    pixels = _check_rgb(open_rgb(str(path)), (4, 4))
    assert pixels[0, 0].tolist() == [255, 255, 255]
    assert pixels[1, 1].tolist() == [0, 0, 255]
    assert all(120 <= v <= 135 for v in pixels[2, 2].tolist())


def test_gray_alpha(tmp_path: Path):
    path = tmp_path / "la.png"
    Image.new("LA", (3, 3), (0, 0)).save(path)
    assert _check_rgb(open_rgb(str(path)), (3, 3))[1, 1].tolist() == [255, 255, 255]


def test_16_bit_grayscale_is_scaled_not_clipped(tmp_path: Path):
    path = tmp_path / "deep.png"
    values = np.array([[0, 257 * 64], [32896, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")
    pixels = _check_rgb(open_rgb(str(path)), (2, 2))
    assert pixels[:, :, 0].tolist() == [[0, 64], [128, 255]]


def test_32_bit_integer_and_float_tiff(tmp_path: Path):
    integer = tmp_path / "int.tif"
    Image.fromarray(np.array([[0, 100], [200, 255]], dtype=np.int32)).save(integer)
    assert Image.open(integer).mode == "I"
    assert _check_rgb(open_rgb(str(integer)), (2, 2))[:, :, 0].tolist() == [[0, 100], [200, 255]]
    floating = tmp_path / "float.tif"
    Image.fromarray(np.array([[0.0, 0.5], [1.0, 0.25]], dtype=np.float32)).save(floating)
    assert Image.open(floating).mode == "F"
    assert _check_rgb(open_rgb(str(floating)), (2, 2))[:, :, 0].tolist() == [[0, 128], [255, 64]]


def test_animated_gif_first_frame(tmp_path: Path):
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert _check_rgb(open_rgb(str(path)), (4, 4))[0, 0].tolist() == [255, 0, 0]


@pytest.mark.parametrize("fmt", ["BMP", "WEBP", "TIFF"])
def test_other_formats(tmp_path: Path, fmt: str):
    path = tmp_path / f"x.{fmt.lower()}"
    Image.new("RGB", (7, 3), (10, 20, 30)).save(
        path, format=fmt, **({"lossless": True} if fmt == "WEBP" else {})
    )
    assert _check_rgb(open_rgb(str(path)), (7, 3))[0, 0].tolist() == [10, 20, 30]


def test_returned_image_is_independent_of_the_file(tmp_path: Path):
    path = tmp_path / "x.png"
    Image.new("RGB", (4, 4), (1, 2, 3)).save(path)
    image = open_rgb(str(path))
    path.unlink()
    assert image.getpixel((0, 0)) == (1, 2, 3)


# ------------------------------------------------------------------------------------ unreadable


def _noisy_bytes(fmt: str) -> bytes:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=(128, 128, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files_are_unreadable(tmp_path: Path, fmt: str):
    data = _noisy_bytes(fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: len(data) // 2])
    # The header alone parses: only a real decode finds the damage.
    assert Image.open(path).size == (128, 128)
    with pytest.raises(UnreadableImage, match=f"{path.name}: cannot decode image"):
        open_rgb(str(path))


def test_corrupt_middle_of_jpeg_is_unreadable_or_decodes(tmp_path: Path):
    data = bytearray(_noisy_bytes("JPEG"))
    path = tmp_path / "garbled.jpg"
    rng = random.Random(1)
    for i in range(len(data) // 3, len(data) - 2):
        data[i] = rng.randrange(256)
    path.write_bytes(bytes(data))
    # A garbled entropy-coded stream either raises UnreadableImage or decodes to some RGB image; never
    # another exception type.
    with contextlib.suppress(UnreadableImage):
        assert open_rgb(str(path)).mode == "RGB"


@pytest.mark.parametrize("content", [b"", b"not an image at all", bytes(range(256)) * 4])
def test_non_images_are_unreadable(tmp_path: Path, content: bytes):
    path = tmp_path / "fake.jpg"
    path.write_bytes(content)
    with pytest.raises(UnreadableImage) as info:
        open_rgb(str(path))
    assert "\n" not in str(info.value)


def test_missing_file_is_unreadable(tmp_path: Path):
    with pytest.raises(UnreadableImage, match="file not found"):
        open_rgb(str(tmp_path / "gone.jpg"))


def test_unreadable_is_not_pil_specific():
    assert not issubclass(UnreadableImage, OSError)


# ------------------------------------------------------------------------------------------ real


def test_real_photos_and_grayscale_imagenet_samples():
    clothing = sorted((CLOTHING / "train" / "dress").iterdir())[:3]
    for path in clothing:
        assert open_rgb(str(path)).mode == "RGB"
    grayscale = []
    for path in sorted(IMAGENET_SAMPLES.glob("*.JPEG")):
        with Image.open(path) as image:
            if image.mode == "L":
                grayscale.append(path)
    assert len(grayscale) == 23  # as documented in ../shared/README.md
    for path in grayscale[:3]:
        image = open_rgb(str(path))
        pixels = np.asarray(image)
        assert image.mode == "RGB" and (pixels[:, :, 0] == pixels[:, :, 2]).all()
