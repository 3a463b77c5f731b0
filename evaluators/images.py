"""Decode any image file the loaders list into an 8-bit RGB PIL image, or say clearly that it cannot be read.

No EXIF rotation is applied: CLIP and CoOp feed PIL's decoded pixels as stored, and so do we.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

# Modes that carry transparency; they are composited on white, as a viewer would show them on a page.
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_WHITE = (255, 255, 255, 255)


# CLIP looks at 224 px: 40 Mpx (e.g. 6300x6300) is more than any photo needs. A 16-bit 13000x13000 PNG of
# 328 KB would otherwise take 5.6 GB to decode and convert.
MAX_DECODED_PIXELS = 40_000_000
LARGE_PIXELS = 8_000_000
ROWS_PER_BLOCK = 1 << 20  # pixels converted at a time from high bit depths
_LARGE_DECODE = threading.Lock()


class UnreadableImage(Exception):
    """An image file that cannot be decoded (corrupt, truncated, not an image); the message names it."""


class UnsafePath(ValueError):
    """A path read from a run's files that leads out of the run directory; the message names it."""


def inside(root: Path, relative: str) -> Path:
    """``root / relative``, refusing absolute paths, ``..`` and symlinks that lead out of ``root``.

    Paths in checkpoints and call logs are data someone else may have written: they never choose which file
    outside the run directory is read, sent to a server or overwritten.
    """
    base = root.resolve()
    if Path(relative).is_absolute() or not (base / relative).resolve().is_relative_to(base):
        raise UnsafePath(f"{relative!r} points outside the run directory {root}")
    return root / relative


def open_rgb(path: str) -> Image.Image:
    """Fully decode ``path`` and return it as an RGB image (first frame of animations).

    Grayscale, palette, CMYK, YCbCr, 1-bit and 16/32-bit/float images are converted to 8-bit RGB;
    transparent images are composited on white. Raises UnreadableImage for anything that does not decode
    completely (PIL's truncated-image tolerance is never switched on).
    """
    try:
        with warnings.catch_warnings():
            # A decompression-bomb *warning* is only about size; real bombs raise and are caught below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                pixels = image.width * image.height  # from the header: nothing decoded yet
                if pixels > MAX_DECODED_PIXELS:
                    raise UnreadableImage(
                        f"{path}: too large to decode ({image.width}x{image.height} pixels, "
                        f"limit {MAX_DECODED_PIXELS:,})"
                    )
                # Decoder threads run side by side: one large image at a time bounds their memory.
                with _LARGE_DECODE if pixels > LARGE_PIXELS else contextlib.nullcontext():
                    image.load()
                    return _to_rgb(image)
    except FileNotFoundError as exc:
        raise UnreadableImage(f"{path}: file not found") from exc
    except (OSError, SyntaxError, ValueError, TypeError, Image.DecompressionBombError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise UnreadableImage(f"{path}: cannot decode image ({reason})") from exc


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        image = _high_depth_to_l(image)
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _WHITE)
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _high_depth_to_l(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float grayscale to 8 bits by scaling, not clipping (PIL's convert clips,
    which turns most 16-bit photos white). Converted in blocks of rows, in float32: a 40 Mpx 16-bit image
    needs its own array and the 8-bit result, not four float64 copies of it."""
    values = np.asarray(image)
    if image.mode == "F":
        # Float images are either in [0, 1] or in pixel units.
        scale = 255.0 if values.size and np.nanmax(values) <= 1.0 else 1.0
    elif image.mode.startswith("I;16") or (values.size and values.max() > 255):
        scale = 255.0 / 65535.0
    else:
        scale = 1.0
    out = np.empty(values.shape, dtype=np.uint8)
    rows = max(1, ROWS_PER_BLOCK // max(1, values.shape[1] if values.ndim > 1 else 1))
    for start in range(0, values.shape[0], rows):
        block = values[start : start + rows].astype(np.float32) * np.float32(scale)
        np.nan_to_num(block, copy=False)
        np.clip(block, 0, 255, out=block)
        out[start : start + rows] = np.rint(block)
    return Image.fromarray(out)  # 2-D uint8 -> mode "L"
