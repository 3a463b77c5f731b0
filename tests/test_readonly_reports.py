"""report, export and t2i-report on a run directory the user cannot write: one line, or --out elsewhere."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.graph_helpers import cli, only_run, run_args
from tests.test_storage_faults import as_other_user


@pytest.fixture
def shared(tmp_path: Path, tiny_clip: Path) -> Iterator[tuple[Path, Path, Path, Path]]:
    """(a read-only runs directory holding a finished run, the run, a writable home, a readable CLIP)."""
    assert cli(*run_args(tmp_path / "runs", tiny_clip, "--iterations", "1", "--restarts", "1")) == 0
    top = Path(tempfile.mkdtemp(prefix="promptclimb-ro-"))
    runs, clip, home = top / "runs", top / "clip", top / "home"
    shutil.copytree(tmp_path / "runs", runs)
    shutil.copytree(tiny_clip, clip)
    for path in [top, *runs.rglob("*"), *clip.rglob("*"), clip]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    home.mkdir()
    home.chmod(0o777)
    try:
        yield runs, only_run(runs), home, clip
    finally:
        for path in [top, *top.rglob("*")]:
            path.chmod(0o755)
        shutil.rmtree(top, ignore_errors=True)


def one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if not line.startswith("WARNING")]
    assert len(lines) == 1 and lines[0].startswith("error: cannot write"), stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_report_on_a_read_only_run_is_one_line(shared) -> None:
    runs, run_dir, home, _ = shared
    done = as_other_user(["--runs-dir", str(runs), "report", run_dir.name], home)
    assert done.returncode == 2
    assert str(run_dir) in one_line_error(done.stderr)


def test_export_on_a_read_only_run_is_one_line_or_writes_to_out(shared) -> None:
    runs, run_dir, home, clip = shared
    argv = ["--runs-dir", str(runs), "export", run_dir.name, "--clip", str(clip)]
    done = as_other_user(argv, home)
    assert done.returncode == 2
    assert "--out" in one_line_error(done.stderr)
    done = as_other_user([*argv, "--out", str(home / "export")], home)
    assert done.returncode == 0, done.stderr
    assert any((home / "export").iterdir())
