"""An LLM that gives nothing usable: every dud is recorded, the run pauses (resumable) instead of
"finishing" on the pool alone, and resume asks the same step again."""

from __future__ import annotations

import json

from promptclimb.graph.runs import read_calls
from tests.graph_helpers import cli, only_run, run_args, show_json

GARBAGE = "I am sorry, but I cannot help with writing templates today."


def test_garbage_llm_pauses_with_a_reason_then_resume_goes_on(tmp_path, tiny_clip, capsys):
    good = json.dumps({"templates": ["a sketch of a CLASSNAME.", "a drawing of a CLASSNAME."]})
    replies = tmp_path / "replies.jsonl"
    # Two steps of three asks each (the ask and two re-asks) get garbage.
    replies.write_text("\n".join(json.dumps(GARBAGE) for _ in range(6)) + "\n")
    runs = tmp_path / "runs"
    args = run_args(runs, tiny_clip, "--iterations", "3", "--restarts", "1", "--max-unusable-steps", "2")
    args[args.index("scripted:")] = f"scripted:{replies}"
    assert cli(*args) == 3  # paused, resumable
    run_dir = only_run(runs)
    s = show_json(runs, run_dir, capsys)
    assert s["status"] == "paused" and "no usable template in 2 steps" in s["reason"]
    assert s["llm_templates_scored"] == 0 and s["llm_calls"] == 6
    assert len(s["rejections"]) == 2 and all("no templates found" in r["reason"] for r in s["rejections"])
    assert "sorry" in s["rejections"][0]["text"]

    replies.write_text("\n".join(json.dumps(good) for _ in range(4)) + "\n")  # the model is fixed
    again = ("resume", run_dir.name, "--llm", f"scripted:{replies}")  # a replies file: the user names it
    assert cli("--runs-dir", str(runs), *again) == 0
    s = show_json(runs, run_dir, capsys)
    assert s["status"] == "finished" and s["llm_templates_scored"] == 2
    assert s["final"]["llm_templates_scored"] == 2
    steps = [c.step for c in read_calls(run_dir)]
    assert steps[6] == "restart 0, iteration 3", "resume asks the paused step, not an earlier one"


def test_reasks_never_overrun_the_call_budget(tmp_path, tiny_clip, capsys):
    replies = tmp_path / "replies.jsonl"
    replies.write_text("\n".join(json.dumps(GARBAGE) for _ in range(10)) + "\n")
    runs = tmp_path / "runs"
    args = run_args(runs, tiny_clip, "--iterations", "3", "--restarts", "1", "--max-llm-calls", "2")
    args[args.index("scripted:")] = f"scripted:{replies}"
    assert cli(*args) == 3
    err = capsys.readouterr().err  # the same budget would pause it again: the hint says to raise it
    assert "--max-llm-calls N (N above the budget it reached)" in err
    assert "gave nothing usable" not in err  # paused: its replies may still be used
    s = show_json(runs, only_run(runs), capsys)
    assert s["llm_calls"] == 2 and "budget" in s["reason"]


def test_a_short_run_whose_llm_gave_nothing_usable_says_so(tmp_path, tiny_clip, capsys):
    import json

    from tests.graph_helpers import cli, run_args

    replies = tmp_path / "garbage.jsonl"
    replies.write_text("\n".join(json.dumps("no templates here, sorry") for _ in range(12)) + "\n")
    runs = tmp_path / "runs"
    args = run_args(runs, tiny_clip, "--iterations", "2", "--restarts", "1")
    args[args.index("scripted:")] = f"scripted:{replies}"
    assert cli(*args) == 0  # shorter than the 3-step pause: it finishes
    assert "the LLM gave nothing usable in" in capsys.readouterr().err


def test_a_temperature_that_is_not_a_number_is_refused_before_the_run(tmp_path, tiny_clip, capsys):
    runs = tmp_path / "runs"
    for bad in ("nan", "inf", "-1"):
        assert cli(*run_args(runs, tiny_clip, "--temperature", bad)) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "temperature" in err and len(err.splitlines()) == 1
    assert not runs.exists() or not any(runs.iterdir())  # nothing written that could not be read back
