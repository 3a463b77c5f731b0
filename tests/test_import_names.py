"""Under pytest, from the repository root, a top-level name such as ``llm`` is PyPI's (or absent), never the
./llm folder: the folders import only as promptclimb.* (pyproject's pytest ``--import-mode=importlib`` keeps
the repository root off sys.path)."""

from __future__ import annotations

import importlib.util
import sys

from tests.conftest import ROOT


def test_the_repository_root_is_not_on_sys_path():
    assert str(ROOT) not in sys.path and "" not in sys.path
    for name in ("llm", "graph", "nodes", "prompts"):
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None and spec.origin else ""
        assert not origin.startswith(str(ROOT / name)), f"`import {name}` finds the ./{name} folder"
