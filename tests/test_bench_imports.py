"""The bench scripts run outside the suite: every project name they import must still exist."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def project_imports(script: Path) -> list[tuple[str, str]]:
    tree = ast.parse(script.read_text(encoding="utf-8"))
    return [
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("promptclimb")
        for alias in node.names
    ]


def test_every_name_a_bench_script_imports_from_the_project_exists():
    scripts = sorted(BENCH.glob("*.py"))
    assert len(scripts) >= 10
    missing = [
        f"{script.name}: {module}.{name}"
        for script in scripts
        for module, name in project_imports(script)
        if not hasattr(importlib.import_module(module), name)
    ]
    assert not missing
