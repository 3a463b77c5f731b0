"""Listing image folders: image files by extension, visible sub-folders, class folders holding images."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from promptclimb.evaluators.classify.dataset import ImageItem
from promptclimb.evaluators.classify.errors import DataError

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
_IGNORED_DIRS = {"__MACOSX"}


def is_image_name(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def image_files(folder: str) -> list[str]:
    """Sorted absolute paths of the image files directly inside folder (hidden files skipped)."""
    with os.scandir(folder) as entries:
        names = [e.name for e in entries if is_image_name(e.name) and _entry_is(e, "file")]
    return [os.path.join(folder, name) for name in sorted(names)]


def subdirs(folder: str) -> list[str]:
    """Sorted names of the visible sub-folders of folder."""
    with os.scandir(folder) as entries:
        names = [
            e.name
            for e in entries
            if not e.name.startswith(".") and e.name not in _IGNORED_DIRS and _entry_is(e, "dir")
        ]
    return sorted(names)


def _entry_is(entry: os.DirEntry, kind: str) -> bool:
    """entry.is_file() / is_dir(), skipping with a warning what cannot be followed (a symlink loop)."""
    try:
        return entry.is_file() if kind == "file" else entry.is_dir()
    except OSError as error:
        logger.warning("skipping %s: %s", entry.path, error.strerror or error)
        return False


def find_child_dir(root: str, candidates: Sequence[str]) -> str | None:
    """The first sub-folder of root whose lower-cased name is in candidates (in candidates' order)."""
    by_lower = {name.lower(): name for name in subdirs(root)}
    for candidate in candidates:
        if candidate in by_lower:
            return os.path.join(root, by_lower[candidate])
    return None


def class_images(class_dir: str) -> list[str]:
    images = image_files(class_dir)
    if not images:
        extensions = ", ".join(sorted(ext.lstrip(".") for ext in IMAGE_EXTENSIONS))
        raise DataError(f"class folder has no images ({extensions}): {class_dir}")
    return images


def list_split_dir(split_dir: str, index: dict[str, int]) -> list[ImageItem]:
    """Images of a val/test folder whose class sub-folders must all be train classes (some may be absent)."""
    items = []
    for name in subdirs(split_dir):
        if name not in index:
            raise DataError(f"class folder {os.path.join(split_dir, name)} is not a class of the train split")
        items.extend(ImageItem(path, index[name]) for path in image_files(os.path.join(split_dir, name)))
    return items
