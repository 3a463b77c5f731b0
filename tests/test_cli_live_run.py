"""A real run through the CLI, piped: one plain line per event and no carriage return, a stop's reason said
once, a resume that starts from its counts, a model without a price never shown as $0.0000, and no
third-party bar while a model loads."""

from __future__ import annotations

import json

import promptclimb.graph.wiring
import promptclimb.llm.backends
from tests.graph_helpers import cli, only_run, run_args

GARBAGE = "I am sorry, but I cannot help with writing templates today."


def test_ctrl_c_then_resume_piped_with_an_unpriced_model(tmp_path, tiny_clip, monkeypatch, capsys):
    monkeypatch.setattr(promptclimb.llm.backends, "price_for", lambda provider, model: None)
    real_evaluate, calls = promptclimb.graph.wiring.evaluate, []

    def interrupting(state, runtime):  # Ctrl-C while restart 1 scores its second iteration
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_evaluate(state, runtime)

    monkeypatch.setattr(promptclimb.graph.wiring, "evaluate", interrupting)
    runs = tmp_path / "runs"
    assert cli(*run_args(runs, tiny_clip, "--iterations", "2", "--restarts", "2")) == 130
    err = capsys.readouterr().err
    assert "\r" not in err
    assert err.count("interrupted by the user") == 1
    assert "starting pool: 8/8 templates scored" in err  # 6 drawn + 2 hand-made baselines
    assert "restart 1/2 iteration 1/2 selection" in err and "cost unknown" in err and "$0.0000" not in err

    monkeypatch.setattr(promptclimb.graph.wiring, "evaluate", real_evaluate)
    run_dir = only_run(runs)
    assert cli("--runs-dir", str(runs), "resume", run_dir.name) == 0
    err = capsys.readouterr().err
    first = next(line for line in err.splitlines() if "resumed at" in line)
    assert "iterations done 1" in first and "LLM calls 2" in first and "cost unknown" in first
    assert "restart 2/2 iteration 2/2" in err and "final test evaluation done" in err

    assert cli("--runs-dir", str(runs), "show", run_dir.name) == 0
    assert "cost unknown" in capsys.readouterr().out
    assert cli("--runs-dir", str(runs), "report", run_dir.name) == 0
    report = (run_dir / "report.md").read_text()
    assert "unknown" in report and "$0.0000" not in report


def test_a_garbage_llm_pause_is_said_once(tmp_path, tiny_clip, capsys):
    replies = tmp_path / "replies.jsonl"
    replies.write_text("\n".join(json.dumps(GARBAGE) for _ in range(6)) + "\n")
    runs = tmp_path / "runs"
    args = run_args(runs, tiny_clip, "--iterations", "3", "--restarts", "1", "--max-unusable-steps", "2")
    args[args.index("scripted:")] = f"scripted:{replies}"
    assert cli(*args) == 3
    err = capsys.readouterr().err
    assert err.count("no usable template in 2 steps") == 1 and "resume with: promptclimb resume" in err


def test_loading_a_model_with_weights_draws_no_third_party_bar(tmp_path, capfd):
    from transformers import CLIPModel
    from transformers.utils import logging as hf_logging

    from promptclimb.evaluators.classify.registry import load_backbone
    from tests.clip_fixtures import make_tiny_clip_dir, tiny_clip_config

    clip = make_tiny_clip_dir(tmp_path / "clip")
    CLIPModel(tiny_clip_config()).save_pretrained(clip)
    capfd.readouterr()
    load_backbone(f"hf:{clip}", device="cpu")
    err = capfd.readouterr().err
    assert "Loading weights" not in err and "\r" not in err
    assert hf_logging.is_progress_bar_enabled()  # put back as it was, for code outside ours
