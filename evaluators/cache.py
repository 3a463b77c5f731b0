"""On-disk feature cache: one SQLite file of CLIP text and image features, shared by runs and processes.

Keys:

- text: (model identity, exact prompt string). The identity (classify/clip.py) covers the model source,
  config, tokenizer, preprocessor, weights and precision, so any change to those misses the cache.
- image: sha256 of (model identity, real path, file size, mtime in ns). Stat-based, like make or ccache's
  direct mode: a run checks 16,000 images with 16,000 stat calls instead of re-reading ~2 GB to hash their
  contents, and any rewrite of a file (new size or mtime) misses. The cost of the choice: a copy of a dataset
  at another path is encoded again.

Vectors are stored as float16 (1 KiB for a 512-d feature, half of float32; the rounding moves a cosine by
~1e-4 at most). Callers use the vectors *as read back from the store* on both the fresh and the cached path,
so a cached score equals a fresh one exactly. Rows are insert-or-ignore: when two processes race on the same
key the first row wins and both read that one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from promptclimb.errors import UserError

logger = logging.getLogger(__name__)

STORE_NAME = "clip-features-v1.sqlite"
_CORRUPT = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)  # the only errors that mean a damaged file
_CHUNK = 900  # SQL parameters per query: below the 999 of SQLite < 3.32
# Rowid tables with a unique index, not WITHOUT ROWID: with 1 KiB rows the latter is 6x slower to read
# 1,000 prompts and 3x larger on disk (bench/RESULTS.md).
_SCHEMA = """
CREATE TABLE IF NOT EXISTS models (id INTEGER PRIMARY KEY, identity TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS texts (
    model INTEGER NOT NULL, prompt TEXT NOT NULL, truncated INTEGER NOT NULL, vector BLOB NOT NULL,
    UNIQUE (model, prompt));
CREATE TABLE IF NOT EXISTS images (key BLOB NOT NULL UNIQUE, vector BLOB NOT NULL);
"""


class CacheUnavailable(UserError, OSError):
    """The cache is intact but cannot be opened now (disk full, read-only, locked); one-line message."""


def image_key(identity: str, path: str) -> bytes | None:
    """The cache key of one image under one model, or None when the file cannot be stat-ed."""
    try:
        real = os.path.realpath(path)
        info = os.stat(real)
    except OSError:
        return None
    text = f"{identity}\0{real}\0{info.st_size}\0{info.st_mtime_ns}"
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()


def encode_vector(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).astype(np.float16).tobytes()


def decode_vectors(blobs: Sequence[bytes]) -> np.ndarray:
    """float32 [n, d], each row renormalised after the float16 rounding. Every path (fresh, cached) goes
    through this one function, so equal blobs give bit-equal vectors."""
    if not blobs:
        return np.zeros((0, 0), np.float32)
    matrix = np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(blobs), -1).astype(np.float32)
    norms = np.sqrt((matrix * matrix).sum(axis=1, keepdims=True))  # numpy reduces each row alone
    return matrix / np.where(norms > 0, norms, 1.0)


@dataclass
class TextRows:
    """Features of a list of prompts: found[i] says whether vectors[i] and truncated[i] hold anything."""

    found: np.ndarray  # [n] bool
    vectors: np.ndarray  # [n, d] float32 (zeros where not found)
    truncated: np.ndarray  # [n] bool

    @classmethod
    def empty(cls, n: int) -> TextRows:
        return cls(np.zeros(n, bool), np.zeros((n, 0), np.float32), np.zeros(n, bool))


class FeatureStore:
    """The SQLite feature cache in cache_dir (created on first use)."""

    def __init__(self, cache_dir: str | Path) -> None:
        directory = Path(cache_dir).expanduser()
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / STORE_NAME
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as error:
            if getattr(error, "sqlite_errorcode", None) not in _CORRUPT:
                # A full disk, a read-only or locked file: the cache is fine, only unusable now. Moving it
                # aside would make every later run start empty.
                raise CacheUnavailable(f"feature cache {self.path} cannot be used: {error}") from None
            # Not a database (a truncated copy, another file): start anew.
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            logger.warning("feature cache %s is unreadable (%s); moved to %s", self.path, error, aside.name)
            self.path.replace(aside)
            self._db = self._open()
        self._model_ids: dict[str, int] = {}

    def _open(self) -> sqlite3.Connection:
        # Concurrent restarts score from LangGraph's worker threads; the scorer serializes its calls.
        db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=False)
        try:
            _use_wal(db)
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def close(self) -> None:
        self._db.close()

    def model_id(self, identity: str) -> int:
        if identity not in self._model_ids:
            self._db.execute("INSERT OR IGNORE INTO models (identity) VALUES (?)", (identity,))
            row = self._db.execute("SELECT id FROM models WHERE identity = ?", (identity,)).fetchone()
            self._model_ids[identity] = int(row[0])
        return self._model_ids[identity]

    # ------------------------------------------------------------------------------------------- texts

    def get_texts(self, identity: str, prompts: Sequence[str]) -> TextRows:
        """The cached features of `prompts` (a list without repeats), aligned with it."""
        model = self.model_id(identity)
        position = {prompt: i for i, prompt in enumerate(prompts)}
        rows: list[tuple[str, int, bytes]] = []
        for chunk in _chunks(list(position)):
            marks = ",".join("?" * len(chunk))
            rows += self._db.execute(
                f"SELECT prompt, truncated, vector FROM texts WHERE model = ? AND prompt IN ({marks})",
                (model, *chunk),
            ).fetchall()
        result = TextRows.empty(len(prompts))
        if rows:
            at = np.array([position[prompt] for prompt, _, _ in rows])
            vectors = decode_vectors([blob for _, _, blob in rows])
            if result.vectors.shape[1] != vectors.shape[1]:
                result.vectors = np.zeros((len(prompts), vectors.shape[1]), np.float32)
            result.vectors[at] = vectors
            result.found[at] = True
            result.truncated[at] = [bool(truncated) for _, truncated, _ in rows]
        return result

    def put_texts(self, identity: str, rows: Iterable[tuple[str, np.ndarray, bool]]) -> None:
        model = self.model_id(identity)
        values = [(model, prompt, int(truncated), encode_vector(v)) for prompt, v, truncated in rows]
        with self._transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO texts (model, prompt, truncated, vector) VALUES (?, ?, ?, ?)", values
            )

    # ------------------------------------------------------------------------------------------ images

    def get_images(self, keys: Iterable[bytes]) -> dict[bytes, np.ndarray]:
        rows: list[tuple[bytes, bytes]] = []
        for chunk in _chunks(list(dict.fromkeys(keys))):
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, vector FROM images WHERE key IN ({marks})"
            rows += self._db.execute(query, chunk).fetchall()
        vectors = decode_vectors([blob for _, blob in rows])
        return {bytes(key): vectors[i] for i, (key, _) in enumerate(rows)}

    def put_images(self, rows: Iterable[tuple[bytes, np.ndarray]]) -> None:
        values = [(key, encode_vector(v)) for key, v in rows]
        with self._transaction():
            self._db.executemany("INSERT OR IGNORE INTO images (key, vector) VALUES (?, ?)", values)

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db, self.path)


def _use_wal(db: sqlite3.Connection, wait_s: float = 60.0) -> None:
    """WAL journal mode, waiting out a concurrent opener: switching modes answers "database is locked"
    at once, without the busy timeout, while another connection (a concurrent bench cell) opens the file."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error): one fsync per batch of rows, not per row. A write the
    disk refuses (full, read-only) is CacheUnavailable naming the cache file."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db, self._path = db, path

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        try:
            if kind is None:
                self._db.execute("COMMIT")
                return
        except sqlite3.OperationalError as commit_error:
            error = commit_error
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")
        if isinstance(error, sqlite3.OperationalError):
            raise CacheUnavailable(f"feature cache {self._path} cannot be written: {error}") from None


def _chunks(items: Sequence) -> Iterator[Sequence]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
