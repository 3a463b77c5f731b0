"""Shared fixtures: a tiny random-weight CLIP built from a config, the demo dataset, an isolated cache."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared"
DEMO_DATA = ROOT / "examples" / "clothing-mini"


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.clip_fixtures import make_tiny_clip_dir

    return make_tiny_clip_dir(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own feature cache, so no test sees another's cached scores."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("PROMPTCLIMB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache
