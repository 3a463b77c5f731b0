"""`promptclimb score` and `promptclimb models`, in-process."""

from __future__ import annotations

import json

from tests.conftest import DEMO_DATA
from tests.graph_helpers import cli


def test_score_prints_json_rows_and_reuses_the_cache(tmp_path, tiny_clip, capsys, isolated_cache):
    args = [
        "score",
        "--data",
        str(DEMO_DATA),
        "--clip",
        str(tiny_clip),
        "--json",
        "a photo of a {}.",
        "a {} here",
    ]
    assert cli(*args) == 0
    first = json.loads(capsys.readouterr().out)
    assert [r["template"] for r in first] == ["a photo of a {}.", "a {} here"]
    assert all(r["split"] == "train" and r["n_images"] == 10 and 0 <= r["accuracy"] <= 1 for r in first)
    assert cli(*args) == 0
    again = json.loads(capsys.readouterr().out)
    assert [r["accuracy"] for r in again] == [r["accuracy"] for r in first]


def test_score_baselines_and_template_file(tmp_path, tiny_clip, capsys):
    templates = tmp_path / "t.txt"
    templates.write_text("# mine\na sketch of a {}.\n")
    args = ["score", "--data", str(DEMO_DATA), "--clip", str(tiny_clip), "--split", "val"]
    assert cli(*args, "--templates", str(templates), "--baselines", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["template"] for r in rows] == [
        "a sketch of a {}.",
        "baseline: a photo of a {}.",
        "baseline: hand-made ensemble",
    ]
    assert all(r["split"] == "val" and r["n_images"] == 10 for r in rows)


def test_score_rejects_a_template_without_placeholder(tiny_clip, capsys):
    assert cli("score", "--data", str(DEMO_DATA), "--clip", str(tiny_clip), "no placeholder") == 2
    assert "placeholder" in capsys.readouterr().err


def test_models_lists_both_bundled_models(capsys):
    assert cli("models") == 0
    out = capsys.readouterr().out
    assert "qwen2.5-coder-1.5b" in out and "smollm2-135m" in out and "Apache-2.0" in out


def test_runs_dir_is_accepted_after_the_subcommand(tmp_path, capsys):
    assert cli("list", "--runs-dir", str(tmp_path / "elsewhere")) == 0
    assert "elsewhere" in capsys.readouterr().out
