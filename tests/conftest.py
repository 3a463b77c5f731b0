"""Shared fixtures: a tiny random-weight CLIP built from a config, the demo dataset, an isolated cache."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Started in the background of a non-interactive shell (`cmd &`, nohup), this process inherits SIGINT
# ignored, and so would every child (a CLI under test, Ray's workers): the Ctrl-C tests could never
# interrupt anything. A handler, unlike "ignored", is reset to the default in an exec'd child.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

ROOT = Path(__file__).resolve().parents[1]
# `python -m pytest` puts the working directory first on sys.path, where ./llm (or ./graph) would shadow a
# same-named PyPI project: the folders import only as promptclimb.* (pyproject: --import-mode=importlib,
# which finds tests.* without the repository root on sys.path).
sys.path[:] = [p for p in sys.path if p not in ("", ".") and Path(p).resolve() != ROOT]
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


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A real PostgreSQL server started for this test session (tests/pg_fixtures.py), stopped at its end."""
    from tests.pg_fixtures import find_binaries, postgres_server

    pytest.importorskip("langgraph.checkpoint.postgres", reason="needs the postgres extra (scripts/setup.sh)")
    if find_binaries() is None:
        pytest.skip("no PostgreSQL binaries here (initdb, pg_ctl): apt-get install postgresql")
    with postgres_server() as url:
        yield url


@pytest.fixture
def pg_store(
    postgres_server_url: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> str:
    """A fresh database of that server, chosen as the checkpoint store through $PROMPTCLIMB_CHECKPOINTS."""
    import re

    from tests.pg_fixtures import fresh_database

    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:50]
    url = fresh_database(postgres_server_url, name)
    monkeypatch.setenv("PROMPTCLIMB_CHECKPOINTS", url)
    return url
