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


# The unit tier (`pytest -m "not e2e"`, under 30 s): pure functions (message building, ranking, selection,
# parsing, sampling, statistics) and static checks. Every other file runs models, runs or processes: e2e.
UNIT_FILES = frozenset({
    "test_import_names.py", "test_layers.py", "test_prompts_messages.py", "test_prompts_template.py",
    "test_llm_parsing.py", "test_data_sampling.py", "test_data_classnames.py", "test_data_pools.py",
    "test_results_stats.py", "test_t2i_scores.py", "test_t2i_critic_prompts.py", "test_rank_selection.py",
    "test_class_search.py", "test_confusion.py",
})  # fmt: skip


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Under -m "not e2e", e2e files are not even imported: collecting them (torch, transformers) would cost
    more than the whole unit tier."""
    fast = config.getoption("markexpr", "").replace(" ", "") == "note2e"
    if fast and collection_path.name.startswith("test_") and collection_path.name not in UNIT_FILES:
        return True
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name not in UNIT_FILES:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.clip_fixtures import make_tiny_clip_dir

    return make_tiny_clip_dir(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(autouse=True)
def fresh_store_choice() -> Iterator[None]:
    """A test's in-process `--checkpoints URL` is the process's store choice until the next main(): reset it,
    so no later test reads through a store another test named."""
    yield
    checkpoint = sys.modules.get("promptclimb.graph.checkpoint")
    if checkpoint is not None:
        checkpoint.use_store(None)


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
