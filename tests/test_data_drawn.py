"""A resumed run refuses a dataset whose drawn items changed under the same class names and split sizes:
swapped class folders, swapped file contents, a file replaced by another, an edited CSV row."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from promptclimb.evaluators.classify.drawn import describe_drawn_change
from tests.conftest import DEMO_DATA
from tests.graph_helpers import cli, only_run, run_args


def paused_on_a_copy(tmp_path: Path, tiny_clip: Path) -> tuple[Path, Path, Path]:
    """(data, runs, run): a run paused after one LLM call, on a copy of the demo data it may change."""
    data = tmp_path / "data"
    shutil.copytree(DEMO_DATA, data)
    runs = tmp_path / "runs"
    options = ("--iterations", "2", "--restarts", "1", "--max-llm-calls", "1")
    assert cli(*run_args(runs, tiny_clip, *options, data=data)) == 3
    return data, runs, only_run(runs)


def drawn(run_dir: Path, split: str = "train") -> list[str]:
    return [entry[0] for entry in json.loads((run_dir / "data.json").read_text())["drawn"][split]]


def swap_folders(data: Path, _: list[str]) -> None:
    train = data / "train"
    (train / "hat").rename(train / "swap")
    (train / "skirt").rename(train / "hat")
    (train / "swap").rename(train / "skirt")


def swap_contents(data: Path, places: list[str]) -> None:
    first, second = (data / places[0], data / places[-1])  # two drawn files of different classes
    a, b = first.read_bytes(), second.read_bytes()
    first.write_bytes(b)
    second.write_bytes(a)


def replace_a_file(data: Path, places: list[str]) -> None:
    gone = data / places[0]
    shutil.copy(data / places[-1], gone.with_name("new-" + gone.name))
    gone.unlink()


@pytest.mark.parametrize("change", [swap_folders, swap_contents, replace_a_file])
def test_resume_refuses_swapped_or_replaced_training_images(
    tmp_path: Path, tiny_clip, capsys, change
) -> None:
    data, runs, run_dir = paused_on_a_copy(tmp_path, tiny_clip)
    places = drawn(run_dir)
    assert places and all(not Path(p).is_absolute() and (data / p).is_file() for p in places)
    change(data, places)
    capsys.readouterr()
    assert cli("--runs-dir", str(runs), "resume", run_dir.name, "--max-llm-calls", "5") == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: the dataset changed") and "train split: " in err, err
    assert any(p in err for p in places), err  # names what changed


def test_an_edited_csv_row_is_named_by_its_row_number() -> None:
    saved = {"train": [["row 1", 0, "aaa"], ["row 2", 1, "bbb"]]}
    now = {"train": [["row 1", 0, "aaa"], ["row 2", 1, "ccc"]]}
    assert describe_drawn_change(saved, now) == "train split: 1 content changed (row 2)"
    assert describe_drawn_change(saved, saved) is None


def test_a_moved_dataset_is_given_anew_on_resume_and_still_checked(tmp_path: Path, tiny_clip, capsys) -> None:
    data, runs, run_dir = paused_on_a_copy(tmp_path, tiny_clip)
    moved = data.rename(tmp_path / "moved")
    capsys.readouterr()
    assert cli("--runs-dir", str(runs), "resume", run_dir.name, "--max-llm-calls", "5") == 2
    other = tmp_path / "other"
    shutil.copytree(moved, other)
    swap_folders(other, [])
    again = ("resume", run_dir.name, "--max-llm-calls", "5", "--data")
    assert cli("--runs-dir", str(runs), *again, str(other)) == 2  # another dataset: refused as before
    assert "the dataset changed" in capsys.readouterr().err
    assert cli("--runs-dir", str(runs), *again, str(moved)) == 0
    assert json.loads((run_dir / "config.json").read_text())["data"] == str(moved)
