"""promptclimb transfer: the run's templates and baselines scored with a second CLIP, side by side."""

from __future__ import annotations

import json

from promptclimb.results.summary import summarize
from promptclimb.results.transfer import TRANSFER_FILE
from tests.graph_helpers import cli
from tests.results_fixtures import make_other_clip, results_run  # noqa: F401  (session fixture)


def test_transfer_scores_both_clips_on_train_and_test_and_logs_the_test_access(results_run, tmp_path, capsys):  # noqa: F811
    other = make_other_clip(tmp_path / "other-clip")
    run_dir = results_run.run_dir
    capsys.readouterr()
    assert cli("--runs-dir", str(results_run.runs), "transfer", run_dir.name, "--clip", str(other)) == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert "source" in printed and "target" in printed and "hand-made" in printed
    assert captured.err.count("RANDOM WEIGHTS") == 2, captured.err  # each random CLIP announced once

    s = summarize(run_dir)
    final = s["final"]
    records = json.loads((run_dir / TRANSFER_FILE).read_text())["transfers"]
    (record,) = [r for r in records if r["target_clip"] == str(other)]
    assert record["source_clip"] == str(results_run.clip) and record["target_clip"] == str(other)
    assert record["splits"] == ["train", "test"]
    rows = {row["name"]: row for row in record["rows"]}
    k = len(final["ensemble_templates"])
    assert list(rows) == [
        *(f"#{i}" for i in range(1, k + 1)),
        f"top-{k} ensemble",
        "a photo of a {}.",
        "hand-made ensemble",
    ]

    # The source side reproduces the run's own numbers (same CLIP, same splits, cached features).
    train = {r["template"]: r["train_acc"] for r in s["leaderboard"]}
    for i, template in enumerate(final["ensemble_templates"], 1):
        assert rows[f"#{i}"]["templates"] == [template]
        assert rows[f"#{i}"]["source"]["train"]["acc"] == train[template]
    assert rows["#1"]["source"]["test"]["acc"] == final["test_acc"]
    assert rows[f"top-{k} ensemble"]["source"]["test"]["acc"] == final["ensemble_test_acc"]
    assert rows["a photo of a {}."]["source"]["test"]["acc"] == final["baselines"]["a photo of a {}."]
    assert rows["hand-made ensemble"]["source"]["test"]["acc"] == final["baselines"]["hand-made ensemble"]

    # The target side is another model: scored on the same images, and not a copy of the source.
    for row in rows.values():
        for split in ("train", "test"):
            acc, n = row["target"][split]["acc"], row["target"][split]["n"]
            low, high = row["target"][split]["ci95"]
            assert 0.0 <= low <= acc <= high <= 1.0 and n == record["n"][split]
    assert record["n"]["test"] == 60
    assert [r["target"] for r in rows.values()] != [r["source"] for r in rows.values()]
    assert record["random_weights"] == {str(results_run.clip): True, str(other): True}

    log = (run_dir / "run.log").read_text()
    assert f"test split read by transfer: {results_run.clip} scores" in log
    assert log.count(f"test split read by transfer: {other} scores") == 1

    # A second transfer to the same CLIP replaces its record instead of piling up.
    assert (
        cli("--runs-dir", str(results_run.runs), "transfer", run_dir.name, "--clip", str(other), "--top", "2")
        == 0
    )
    records = json.loads((run_dir / TRANSFER_FILE).read_text())["transfers"]
    (record,) = [r for r in records if r["target_clip"] == str(other)]
    assert len(records) == len({r["target_clip"] for r in records})
    assert [r["name"] for r in record["rows"]][:3] == ["#1", "#2", "top-2 ensemble"]
