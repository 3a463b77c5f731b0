"""Report files are replaced whole: a kill -9 during ``report`` leaves the old file or the new one, never a
truncated or 0-byte one. The temporary file is created afresh and the rename replaces a link at ``path``
itself: a symlink planted in a run directory never leads a write out of it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; moved over ``path`` only when the block succeeds."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.unlink(missing_ok=True)  # a link planted at the name goes, its target untouched
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644))
        yield tmp
        with open(tmp, "rb+") as handle:  # on disk before the rename makes it visible
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> Path:
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_with(path: Path, writer: Callable[[Path], object]) -> Path:
    """``writer(tmp)`` writes the file (e.g. matplotlib's savefig); then it replaces ``path``."""
    with replacing(path) as tmp:
        writer(tmp)
    return path
