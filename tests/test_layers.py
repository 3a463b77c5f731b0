"""Imports point one way: every ``promptclimb.*`` import in the package folders goes to its own layer or a
lower one (README, "Layout"), and nothing imports a folder by its bare name (``import llm`` would find the
./llm folder from the repository root, or PyPI's llm, never ours).

Imports under ``if TYPE_CHECKING:`` are annotations only and not checked.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import ROOT

# Highest first. A layer may import itself and any layer below it. The session layer (one owner of a run's
# life, above results) goes between "cli" and "results" once it exists.
LAYERS: list[tuple[str, ...]] = [
    ("promptclimb",),  # the package root: __version__, python -m promptclimb
    ("cli",),
    ("session",),  # owns a run's life: start, resume, drive, supervise, plan, read back, replay, cells
    ("results",),
    # graph <-> nodes: graph/ holds each graph's state and its wiring, nodes/ the steps that read that
    # state and that the wiring puts together: one layer, both ways.
    ("graph", "nodes"),
    ("evaluators",),
    ("llm",),
    ("prompts",),
]
FOLDERS = [folder for layer in LAYERS for folder in layer]
# (importing file, imported module) -> why the arrow runs up. Each must still be needed (checked below).
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("evaluators/t2i/scores.py", "promptclimb.graph.t2i.state"): (
        "the DSG parser builds Question, a checkpointed state model whose module path is part of every "
        "stored t2i checkpoint (moving it would orphan them)"
    ),
}
BARE = ("cli", "session", "results", "graph", "nodes", "evaluators", "llm", "prompts")


def layer_of(folder: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if folder in layer)


def runtime_imports(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, module) of every import not under ``if TYPE_CHECKING:``."""

    def visit(node: ast.AST) -> Iterator[tuple[int, str]]:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (item for child in node.orelse for item in visit(child))
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        for child in ast.iter_child_nodes(node):
            yield from visit(child)

    yield from visit(tree)


def package_files() -> Iterator[tuple[str, Path]]:
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield folder, path


def test_the_layers_name_every_package_folder():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    package_dir = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    mapped = set(package_dir.values())
    assert mapped == set(FOLDERS), "a package folder is missing from LAYERS (or LAYERS names a stale one)"


def test_imports_point_down_the_layers():
    up: list[str] = []
    used: set[tuple[str, str]] = set()
    for folder, path in package_files():
        relative = path.relative_to(ROOT).as_posix()
        for line, module in runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
            parts = module.split(".")
            if parts[0] != "promptclimb" or len(parts) < 2 or parts[1] not in FOLDERS:
                continue
            if layer_of(parts[1]) >= layer_of(folder):
                continue
            if (relative, module) in EXCEPTIONS:
                used.add((relative, module))
                continue
            up.append(f"{relative}:{line} imports {module} ({folder} is below {parts[1]})")
    assert not up, "imports against the layers:\n" + "\n".join(up)
    assert used == set(EXCEPTIONS), f"exceptions no longer needed: {set(EXCEPTIONS) - used}"


def test_nothing_imports_a_folder_by_its_bare_name():
    bare: list[str] = []
    paths = [p for _, p in package_files()]
    paths += [*sorted((ROOT / "tests").glob("*.py")), *sorted((ROOT / "bench").glob("*.py"))]
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            bare += [
                f"{path.relative_to(ROOT)}:{node.lineno} {name}"
                for name in names
                if name.split(".")[0] in BARE
            ]
    assert not bare, "import these as promptclimb.<folder>:\n" + "\n".join(bare)


def test_the_check_finds_an_upward_import():
    tree = ast.parse("from promptclimb.graph.state import X\nif TYPE_CHECKING:\n    import promptclimb.cli\n")
    assert [module for _, module in runtime_imports(tree)] == ["promptclimb.graph.state"]
    assert layer_of("graph") < layer_of("evaluators") and layer_of("graph") == layer_of("nodes")
