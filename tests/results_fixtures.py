"""Shared by tests/test_results_*.py: one finished run on the demo data, made once per session.

Import the fixture into a test module (``from tests.results_fixtures import results_run  # noqa: F401``).
The run has its own feature cache (``--cache-dir``), so commands on it read cached features whatever
PROMPTCLIMB_CACHE a test sets. Tests may add files to the run directory, never change what it holds.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.clip_fixtures import PROCESSING_FILES, SHARED_CLIP, tiny_clip_config
from tests.graph_helpers import cli, only_run, run_args


@dataclass(frozen=True)
class ResultsRun:
    runs: Path
    run_dir: Path
    clip: Path
    cache: Path


_MADE: dict[Path, ResultsRun] = {}  # one run per session: a fixture imported into several modules is
# registered once per module, so the session scope alone would make one run per module


@pytest.fixture(scope="session")
def results_run(tmp_path_factory: pytest.TempPathFactory, tiny_clip: Path) -> ResultsRun:
    if tiny_clip not in _MADE:
        _MADE[tiny_clip] = make_results_run(tmp_path_factory, tiny_clip)
    return _MADE[tiny_clip]


def make_results_run(tmp_path_factory: pytest.TempPathFactory, tiny_clip: Path) -> ResultsRun:
    root = tmp_path_factory.mktemp("results-run")
    runs, cache = root / "runs", root / "cache"
    args = run_args(runs, tiny_clip, "--iterations", "2", "--restarts", "2", "--cache-dir", str(cache))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        assert cli(*args) == 0
    return ResultsRun(runs, only_run(runs), tiny_clip, cache)


def make_other_clip(path: Path, *, hidden: int = 48, layers: int = 1) -> Path:
    """A second config-only tiny CLIP with another architecture, hence other (random) weights."""
    path.mkdir(parents=True, exist_ok=True)
    tiny_clip_config(hidden=hidden, layers=layers).save_pretrained(path)
    for name in PROCESSING_FILES:
        shutil.copyfile(SHARED_CLIP / name, path / name)
    return path


def make_weighted_clip(path: Path) -> Path:
    """A tiny CLIP saved WITH weights and a 32-px preprocessor: loadable by plain transformers."""
    import torch
    from transformers import CLIPModel, CLIPProcessor

    path.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        CLIPModel(tiny_clip_config()).save_pretrained(path)
    processor = CLIPProcessor.from_pretrained(
        SHARED_CLIP, size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    processor.save_pretrained(path)
    return path
