"""End-to-end runs of the graph on a tiny random-weight CLIP, real demo images and the scripted LLM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import promptclimb.evaluators.classify.dataset
from promptclimb.graph.runs import read_calls
from promptclimb.prompts.template import normalize
from tests.graph_helpers import cli, only_run, run_args, show_json


def test_full_run_ranks_scores_every_proposal_once_and_finalizes(tmp_path, tiny_clip, capsys):
    runs = tmp_path / "runs"
    assert cli(*run_args(runs, tiny_clip, "--iterations", "3", "--restarts", "2")) == 0
    run_dir = only_run(runs)
    s = show_json(runs, run_dir, capsys)

    assert s["status"] == "finished"
    assert s["iterations_done"] == 6 and s["restarts_done"] == 2
    board = s["leaderboard"]
    assert s["selection"] == "train+val"  # the default loop selects on train and val pooled
    keys = [r["selection_acc"] for r in board]
    assert keys == sorted(keys, reverse=True)
    templates = [normalize(r["template"]) for r in board]
    assert len(templates) == len(set(templates)), "a template was scored twice"
    assert s["candidates_scored"] == len(board)
    llm_rows = [r for r in board if r["source"] == "llm"]
    assert llm_rows, "the scripted LLM's proposals were never scored"
    assert all("{}" in r["template"] for r in board)

    calls = read_calls(run_dir)
    assert s["llm_calls"] == len(calls) == 6
    assert [c.step for c in calls[:4]] == [f"restart {r}, iteration {i}" for r in (0,) for i in (1, 2, 3)] + [
        "restart 1, iteration 1"
    ]
    replies = " ".join(c.reply or "" for c in calls)
    for row in llm_rows:  # every scored LLM template comes from a stored reply (CLASSNAME mapped back to {})
        assert row["template"].replace("{}", "CLASSNAME").lower() in replies.lower()

    final = s["final"]
    assert final["template"] == board[0]["template"]
    assert final["test_acc"] is not None and 0.0 <= final["test_acc"] <= 1.0
    assert final["ensemble_templates"] == [r["template"] for r in board[:5]]
    assert set(final["baselines"]) == {"a photo of a {}.", "hand-made ensemble", "CoOp's template", "{}"}


@pytest.mark.parametrize("mode", ["pos+neg", "pos", "neg", "none"])
def test_chat_feedback_modes_show_exactly_their_kind_of_feedback(tmp_path, tiny_clip, mode):
    runs = tmp_path / "runs"
    args = run_args(
        runs, tiny_clip, "--iterations", "2", "--restarts", "1", "--feedback", mode, "--meta", "chat"
    )
    assert cli(*args) == 0
    calls = read_calls(only_run(runs))
    second = calls[1].request  # system, user, assistant, user: the feedback on the first proposals
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    feedback = second[-1]["content"]
    assert ("best templates" in feedback) == (mode in ("pos+neg", "pos"))
    assert ("worst templates" in feedback) == (mode in ("pos+neg", "neg"))
    # The last proposals' scores mix good and bad ones: only the method that shows both shows them.
    assert ("Your last templates scored" in feedback) == (mode == "pos+neg")
    assert ("%" in feedback) == (mode != "none")
    assert ("from the scores" in second[0]["content"]) == (mode != "none")


@pytest.mark.parametrize("mode", ["pos+neg", "pos", "neg", "none"])
def test_compact_feedback_modes_show_exactly_their_kind_of_feedback(tmp_path, tiny_clip, mode):
    runs = tmp_path / "runs"
    args = run_args(runs, tiny_clip, "--iterations", "2", "--restarts", "1", "--feedback", mode)
    assert cli(*args) == 0
    calls = read_calls(only_run(runs))
    second = calls[1].request  # compact: every request is the system prompt and one self-contained turn
    assert [m["role"] for m in second] == ["system", "user"]
    feedback = second[-1]["content"]
    assert feedback.startswith("Task: zero-shot classification of images")
    assert ("Templates tried so far" in feedback) == (mode == "pos+neg")
    assert ("The best templates so far" in feedback) == (mode == "pos")
    assert ("The worst templates so far" in feedback) == (mode == "neg")
    assert ("classified correctly" in feedback) == (mode != "none")
    assert ("/" in feedback.split("Write")[0]) == (mode != "none")  # scores are shown as correct/N
    assert ("from the scores" in second[0]["content"]) == (mode != "none")


def test_chat_restart_starts_a_fresh_conversation_from_a_resampled_pool(tmp_path, tiny_clip):
    runs = tmp_path / "runs"
    args = run_args(runs, tiny_clip, "--iterations", "2", "--restarts", "2", "--meta", "chat")
    assert cli(*args) == 0
    requests = [c.request for c in read_calls(only_run(runs))]
    assert [len(r) for r in requests] == [2, 4, 2, 4]
    assert requests[2][1] != requests[0][1], "restarts start from different pool samples"


def test_compact_turns_are_self_contained_and_restarts_differ(tmp_path, tiny_clip):
    runs = tmp_path / "runs"
    assert cli(*run_args(runs, tiny_clip, "--iterations", "2", "--restarts", "2")) == 0
    requests = [c.request for c in read_calls(only_run(runs))]
    assert [len(r) for r in requests] == [2, 2, 2, 2]
    assert requests[2][1] != requests[0][1]


def test_test_split_is_read_only_by_finalize(tmp_path, tiny_clip, monkeypatch):
    readers: list[str] = []
    original = promptclimb.evaluators.classify.dataset.FewShotDataset.items

    def spy(self, split):
        if split == "test":
            import inspect

            readers.append(" ".join(f.filename for f in inspect.stack()))
        return original(self, split)

    monkeypatch.setattr(promptclimb.evaluators.classify.dataset.FewShotDataset, "items", spy)
    assert cli(*run_args(tmp_path / "runs", tiny_clip, "--iterations", "2", "--restarts", "2")) == 0
    assert readers, "the final evaluation never read the test split"
    assert all("nodes/finalize.py" in stack for stack in readers)


def test_early_stop_ends_a_restart_without_improvement(tmp_path, tiny_clip, capsys):
    runs = tmp_path / "runs"
    assert cli(*run_args(runs, tiny_clip, "--iterations", "30", "--restarts", "1", "--patience", "1")) == 0
    s = show_json(runs, only_run(runs), capsys)
    assert s["status"] == "finished" and s["iterations_done"] < 30


def test_injection_proposals_are_inert(tmp_path, tiny_clip, capsys):
    replies = tmp_path / "replies.jsonl"
    texts = [
        json.dumps({"templates": ["{0.__class__.__mro__}", "{}{}{}", "a {} photo {x}"]}),
        json.dumps({"templates": ["a photo of {0.__init__.__globals__}", "a sketch of a {}."]}),
    ]
    replies.write_text("\n".join(json.dumps(t) for t in texts) + "\n")
    runs = tmp_path / "runs"
    args = run_args(runs, tiny_clip, "--iterations", "2", "--restarts", "1")
    args[args.index("scripted:")] = f"scripted:{replies}"
    assert cli(*args) == 0
    s = show_json(runs, only_run(runs), capsys)
    scored = [r["template"] for r in s["leaderboard"]]
    assert "{}{}{}" in scored  # three placeholders: every one is the class name, plain text
    assert "a sketch of a {}." in scored
    assert not any("__" in t or "{x}" in t for t in scored)
    reasons = " ".join(r["reason"] for r in s["rejections"])
    assert "braces" in reasons and len(s["rejections"]) >= 3


def test_budget_stops_resumably_then_resume_finishes(tmp_path, tiny_clip, capsys):
    runs = tmp_path / "runs"
    args = run_args(runs, tiny_clip, "--iterations", "3", "--restarts", "1", "--max-llm-calls", "2")
    assert cli(*args) == 3
    run_dir = only_run(runs)
    s = show_json(runs, run_dir, capsys)
    assert s["status"] == "paused" and "budget" in s["reason"] and s["llm_calls"] == 2
    assert cli("--runs-dir", str(runs), "resume", run_dir.name, "--max-llm-calls", "10") == 0
    s = show_json(runs, run_dir, capsys)
    assert s["status"] == "finished" and s["llm_calls"] == 3 and len(read_calls(run_dir)) == 3


def test_dry_run_plans_without_spending(tmp_path, tiny_clip, capsys):
    runs = tmp_path / "runs"
    assert cli(*run_args(runs, tiny_clip, "--iterations", "4", "--restarts", "2", "--dry-run")) == 0
    plan = json.loads(capsys.readouterr().out)
    # compact asks 8 a call; "{}" and the hand-made template join the pool of 6
    assert plan["llm_calls"] == 8 and plan["template_evaluations"] == 6 + 2 + 8 * 8
    assert not runs.exists()
    assert cli(*run_args(runs, tiny_clip, "--iterations", "4", "--restarts", "2", "--space", "classes",
                         "--dry-run")) == 0  # fmt: skip
    plan = json.loads(capsys.readouterr().out)
    assert plan["llm_calls"] == 8 and plan["template_evaluations"] == 6 + 2 + 24
    assert plan["class_texts_at_most"] == 8 * 6 * 2 * 2


def test_zero_iterations_make_no_llm_call_as_the_plan_says(tmp_path, tiny_clip, capsys):
    runs = tmp_path / "runs"
    args = run_args(runs, tiny_clip, "--iterations", "0", "--restarts", "3")
    assert cli(*args, "--dry-run") == 0
    assert json.loads(capsys.readouterr().out)["llm_calls"] == 0
    assert cli(*args) == 0
    s = show_json(runs, only_run(runs), capsys)
    assert s["status"] == "finished" and s["llm_calls"] == 0 and read_calls(only_run(runs)) == []
    assert s["final"]["llm_templates_scored"] == 0


def test_list_shows_runs(tmp_path, tiny_clip, capsys):
    runs = tmp_path / "runs"
    assert cli(*run_args(runs, tiny_clip, "--iterations", "1", "--restarts", "1")) == 0
    capsys.readouterr()
    assert cli("--runs-dir", str(runs), "list") == 0
    out = capsys.readouterr().out
    assert only_run(runs).name[:15] in out and "finished" in out


def test_run_dir_holds_everything_a_resume_needs(tmp_path, tiny_clip):
    runs = tmp_path / "runs"
    assert cli(*run_args(runs, tiny_clip, "--iterations", "1", "--restarts", "1")) == 0
    run_dir: Path = only_run(runs)
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.json", "run.json", "checkpoints.sqlite", "llm_calls.jsonl"} <= names
    config = json.loads((run_dir / "config.json").read_text())
    assert config["clip"] == str(tiny_clip) and config["seed"] == 1 and config["llm"] == "scripted:"


def test_long_run_keeps_checkpoints_and_prompts_bounded(tmp_path, tiny_clip):
    import sqlite3

    runs = tmp_path / "runs"
    args = run_args(
        runs, tiny_clip, "--iterations", "40", "--restarts", "1", "--history-turns", "3", "--meta", "chat"
    )
    assert cli(*args) == 0
    run_dir = only_run(runs)
    with sqlite3.connect(run_dir / "checkpoints.sqlite") as conn:
        (rows,) = conn.execute("SELECT count(*) FROM checkpoints").fetchone()
    # The newest 3, the input and first checkpoints, the scored pool, one per iteration (rewind --to) and the
    # finalize step's restart boundary: one of the four or more each iteration writes.
    assert rows <= 3 + 3 + 40 + 1, "old checkpoints are pruned: a resume needs the latest, a rewind the rest"
    assert (run_dir / "checkpoints.sqlite").stat().st_size < 2_000_000
    requests = [c.request for c in read_calls(run_dir)]
    assert max(len(r) for r in requests) == 1 + 2 * 3 + 1  # system + 3 exchanges + the newest user turn
    assert all(r[1]["role"] == "user" for r in requests)
