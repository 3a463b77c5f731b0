"""Bad input gets a clear one-line error and a non-zero exit status, and nothing already computed is lost."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from promptclimb.graph.checkpoint import run_lock
from tests.conftest import DEMO_DATA
from tests.graph_helpers import cli, only_run, run_args


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:"), err
    assert len(err.splitlines()) == 1, err
    return err


def image_tree(root: Path, counts: dict[str, int]) -> Path:
    for split in ("train", "test"):
        for cls, n in counts.items():
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (16, 16), (i * 40, 0, 0)).save(folder / f"{i}.jpg")
    return root


@pytest.mark.parametrize(
    ("make_data", "shots", "expected"),
    [
        (lambda tmp: tmp / "missing", 1, "missing"),
        (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", 1, "empty"),
        (lambda tmp: image_tree(tmp / "d", {"cat": 2, "dog": 0}), 1, "dog"),
        (lambda tmp: image_tree(tmp / "d", {"cat": 2, "dog": 1}), 2, "dog"),
    ],
    ids=["missing-dir", "empty-dir", "class-without-images", "fewer-images-than-shots"],
)
def test_bad_data_is_a_one_line_error(tmp_path, tiny_clip, capsys, make_data, shots, expected):
    data = make_data(tmp_path)
    runs = tmp_path / "runs"
    code = cli(*run_args(runs, tiny_clip, "--shots", str(shots), data=data))
    assert code == 2
    assert expected in one_line_error(capsys).lower()
    assert not runs.exists(), "a run directory was created for input that cannot run"


def test_pool_file_template_without_placeholder(tmp_path, tiny_clip, capsys):
    pool = tmp_path / "pool.txt"
    pool.write_text("a photo of a {}.\n# a comment\na photo without a placeholder\n")
    args = run_args(tmp_path / "runs", tiny_clip)
    args[args.index("caption")] = str(pool)
    assert cli(*args) == 2
    message = one_line_error(capsys)
    assert "pool.txt:3" in message and "placeholder" in message


def test_unknown_pool_name(tmp_path, tiny_clip, capsys):
    args = run_args(tmp_path / "runs", tiny_clip)
    args[args.index("caption")] = "no-such-pool"
    assert cli(*args) == 2
    assert "no-such-pool" in one_line_error(capsys)


def test_unknown_run_id(tmp_path, capsys):
    assert cli("--runs-dir", str(tmp_path), "resume", "nope") == 2
    assert "nope" in one_line_error(capsys)
    assert cli("--runs-dir", str(tmp_path), "show", "nope") == 2
    one_line_error(capsys)


def test_clip_id_that_cannot_load_offline_says_how_to_pass_a_directory(tmp_path, capsys):
    args = run_args(tmp_path / "runs", Path("openai/clip-vit-base-patch32"))
    assert cli(*args) == 2
    assert "local directory" in one_line_error(capsys)


@pytest.fixture
def finished_run(tmp_path, tiny_clip) -> tuple[Path, Path]:
    runs = tmp_path / "runs"
    assert cli(*run_args(runs, tiny_clip, "--iterations", "1", "--restarts", "1")) == 0
    return runs, only_run(runs)


def test_resuming_a_finished_run_says_so_and_exits_0(finished_run, capsys):
    runs, run_dir = finished_run
    capsys.readouterr()
    assert cli("--runs-dir", str(runs), "resume", run_dir.name) == 0
    assert "already finished" in capsys.readouterr().out


def test_corrupted_checkpoint_names_the_file(finished_run, capsys):
    runs, run_dir = finished_run
    saved = run_dir / "saved.sqlite"
    shutil.copy(run_dir / "checkpoints.sqlite", saved)
    (run_dir / "checkpoints.sqlite").write_bytes(b"this is not a database" * 100)
    capsys.readouterr()
    assert cli("--runs-dir", str(runs), "show", run_dir.name) == 2
    assert "checkpoints.sqlite" in one_line_error(capsys)


def test_second_process_on_a_run_is_refused(finished_run, capsys):
    runs, run_dir = finished_run
    (run_dir / "run.json").write_text('{"status": "paused", "reason": "test"}')
    capsys.readouterr()
    with run_lock(run_dir):
        assert cli("--runs-dir", str(runs), "resume", run_dir.name) == 2
    assert "in use" in one_line_error(capsys)


def test_demo_data_exists():
    assert (DEMO_DATA / "train").is_dir() and (DEMO_DATA / "test").is_dir()
