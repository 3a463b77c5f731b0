"""The installed package claims only `promptclimb`: it lives beside PyPI's `llm` in one venv, and the
repository's folders (graph/, llm/, ...) import only as promptclimb.* sub-packages.

Nothing is downloaded: the wheel is built with the setuptools of the test venv (dev extra), and a fresh venv
reaches the dependencies, PyPI's `llm` included, through a .pth file naming the test venv's site-packages.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

SOURCES = ["promptclimb", "cli", "session", "results", "graph", "nodes", "evaluators", "llm", "prompts"]
MOVED = ["graph", "nodes", "llm", "evaluators", "prompts", "results", "session", "cli"]
HAS_PYPI_LLM = importlib.util.find_spec("llm") is not None


def run(*argv: str | Path, cwd: Path) -> str:
    result = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{argv}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def build_wheel(tmp: Path) -> Path:
    """A wheel of a copy of the sources (the build leaves build/ and egg-info behind: not in the repo)."""
    src = tmp / "src"
    for name in SOURCES:
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    dist = tmp / "dist"
    offline = ["--no-deps", "--no-build-isolation", "--no-index"]
    run(sys.executable, "-m", "pip", "wheel", *offline, "-w", dist, src, cwd=tmp)
    (wheel,) = dist.glob("promptclimb-*.whl")
    return wheel


def dependency_paths() -> list[str]:
    """The test venv's site-packages, and what its .pth files add: the dependencies, never the sources."""
    return [p for p in sys.path if "site-packages" in p and Path(p).is_dir()]


@pytest.mark.skipif(not HAS_PYPI_LLM, reason="PyPI's llm is in the dev extra: pip install -e '.[dev]'")
def test_promptclimb_and_pypi_llm_install_and_run_side_by_side(tmp_path):
    wheel = build_wheel(tmp_path)
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert tops == {"promptclimb", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}, tops

    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path)
    Path(purelib.strip(), "_test_dependencies.pth").write_text("\n".join(dependency_paths()) + "\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel,
        cwd=tmp_path)  # fmt: skip

    bin_dir = python.parent
    assert run(bin_dir / "promptclimb", "--version", cwd=tmp_path).startswith("promptclimb ")
    assert run(python, "-m", "llm", "--version", cwd=tmp_path).strip()
    code = (
        "import llm, promptclimb.llm.backends, promptclimb\n"
        "from pathlib import Path\n"
        "assert hasattr(llm, 'get_model'), llm.__file__  # PyPI's llm, not ours\n"
        f"assert not Path(llm.__file__).resolve().is_relative_to({str(ROOT / 'llm')!r}), llm.__file__\n"
        f"installed = Path({purelib.strip()!r}).resolve()\n"
        "assert installed in Path(promptclimb.__file__).resolve().parents, promptclimb.__file__\n"
        "from promptclimb.results.render import Block, render_html\n"  # the report templates are installed
        "assert '<h1>x</h1>' in render_html([Block('h1', ['x'])], 't')\n"
    )
    run(python, "-c", code, cwd=tmp_path)


@pytest.mark.parametrize("name", MOVED)
def test_moved_folders_import_only_as_promptclimb_subpackages(tmp_path, name):
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.find_spec({name!r})\n"
        "print(spec.origin if spec else '')\n"
    )
    origin = run(sys.executable, "-c", code, cwd=tmp_path).strip()
    if origin:  # another project's package of that name may exist (PyPI's llm): it must not be ours
        assert not Path(origin).resolve().is_relative_to(ROOT / name), f"import {name} finds our {origin}"
    run(sys.executable, "-c", f"import promptclimb.{name}", cwd=tmp_path)
