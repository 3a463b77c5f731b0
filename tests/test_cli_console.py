"""The command line as a user meets it: fast --help, text from outside printed as text, plain lines in logs.

Runs here are real (tiny random CLIP, the scripted LLM); capsys is not a terminal, so every in-process run
below also exercises the non-TTY output (plain progress lines, no 80-column wrapping).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from promptclimb.cli.console import escape
from promptclimb.cli.main import parser
from tests.conftest import ROOT
from tests.data_fixtures import make_folders_dataset
from tests.graph_helpers import cli, only_run, run_args

# Class names and templates a user, a dataset or an LLM may bring: rich markup, a hyperlink, terminal
# escapes, a one-byte CSI and a right-to-left override (class names are folder names: no `/`).
HOSTILE_CLASSES = ("[bold]cat", "[red]dog", "[link=mailto:x]hat", "bi\u202edi", "esc\x1b[31mape", "c1\x9bx")
HOSTILE_POOL = [
    "a [/] photo of a {}.",
    "a [link=http://x]photo[/link] of a {}.",
    "[bold]a {}[/bold]",
    "{} [red]",
]
HOSTILE_REPLIES = [
    {"templates": ["a [/]{} [i]", "a photo\x1b]8;;http://x\x07 of a {}", "a \u202e{} photo", "a [b]{}"]},
    {"templates": ["an [link=http://y]image[/link] of a {}", "a c1\x9b31m {}", "[/][/] {}"]},
]


def python(code: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, env={**os.environ, **env}
    )


def test_the_cli_module_imports_neither_torch_nor_transformers():
    code = (
        "import sys, promptclimb.cli.main\n"
        "print([m for m in ('torch', 'transformers', 'langgraph', 'diffusers') if m in sys.modules])"
    )
    result = python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_version_and_help_answer_without_the_heavy_stack():
    result = subprocess.run(
        [sys.executable, "-m", "promptclimb", "--version"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0 and re.fullmatch(r"promptclimb \d+\.\d+\.\d+\s*", result.stdout)


def subparsers() -> dict:
    root = parser()
    (sub,) = [a for a in root._actions if a.choices and isinstance(a.choices, dict)]
    return sub.choices


@pytest.mark.parametrize("command", sorted(subparsers()))
def test_every_option_has_help_and_shows_its_default(command, capsys):
    sub = subparsers()[command]
    for action in sub._actions:
        if action.help == "==SUPPRESS==" or action.dest == "help":
            continue
        assert action.help, f"{command} {action.option_strings or action.dest} has no help"
    with pytest.raises(SystemExit):
        parser().parse_args([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for action in sub._actions:
        if action.option_strings and action.default not in (None, False, "==SUPPRESS==") and action.help:
            assert f"{action.default}" in text, f"{command} {action.option_strings[0]}: default not shown"


@pytest.fixture
def hostile_run(tmp_path, tiny_clip):
    data = make_folders_dataset(tmp_path / "data", classes=HOSTILE_CLASSES, train=2, val=None, test=2)
    pool = tmp_path / "pool.txt"
    pool.write_text("\n".join(HOSTILE_POOL) + "\n")
    replies = tmp_path / "replies.jsonl"
    replies.write_text("".join(json.dumps(json.dumps(r)) + "\n" for r in HOSTILE_REPLIES))
    runs = tmp_path / "runs"
    args = run_args(runs, tiny_clip, "--iterations", "2", "--restarts", "1", data=data)
    args[args.index("caption")] = str(pool)
    args[args.index("scripted:")] = f"scripted:{replies}"
    return runs, args


def test_hostile_text_is_printed_literally_and_escaped(hostile_run, capsys):
    runs, args = hostile_run
    assert cli(*args) == 0
    run_dir = only_run(runs)
    outputs = [capsys.readouterr()]
    for command in (["show", run_dir.name], ["list"], ["report", run_dir.name], ["show", run_dir.name]):
        assert cli("--runs-dir", str(runs), *command) == 0, command
        outputs.append(capsys.readouterr())
    text = "".join(o.out + o.err for o in outputs)
    for raw in ("\x1b", "\x9b", "\u202e", "\x07"):
        assert raw not in text, f"{raw!r} reached the terminal"
    assert "[finished]" in text  # the run title's status is not swallowed as markup
    for template in HOSTILE_POOL:
        assert template in text
    assert "\\u202e" in text and "\\x9b" in text  # rejected proposals and class names, escaped
    report = (run_dir / "report.md").read_text()
    assert "[link=http://x]photo[/link]" in report


def test_non_terminal_output_is_one_plain_line_per_iteration(tmp_path, tiny_clip, capsys):
    runs = tmp_path / "runs" / ("a-long-directory-name-" * 5)
    assert cli(*run_args(runs, tiny_clip, "--iterations", "3", "--restarts", "2")) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if " iteration " in line]
    assert len(lines) == 6, err
    last = r"restart 2/2 iteration 3/3 selection \d+\.\d% LLM calls 6 cost \$0\.0000 ETA \d+m\d\ds$"
    assert re.search(last, lines[-1]), lines[-1]  # a free model (scripted) costs a known $0
    run_dir = only_run(runs)
    assert f"run {run_dir.name} in {run_dir}\n" in err  # the path is not wrapped at 80 columns
    assert "\x1b" not in err and "━" not in err  # no progress bar redraws in a log


def test_list_json_and_show_number_restarts_like_the_progress(tmp_path, tiny_clip, capsys):
    runs = tmp_path / "runs"
    assert cli(*run_args(runs, tiny_clip, "--iterations", "1", "--restarts", "2")) == 0
    capsys.readouterr()
    assert cli("--runs-dir", str(runs), "list", "--json") == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["run_id"] == only_run(runs).name and row["status"] == "finished" and row["kind"] == "classify"
    assert 0 <= row["best"] <= 1
    assert cli("--runs-dir", str(runs), "show", row["run_id"]) == 0
    shown = capsys.readouterr().out
    steps = set(re.findall(r"\br(\d+)\.i\d+\b", shown))
    assert steps and steps <= {"1", "2"}, shown  # restart 1 is the first, as the progress says


def test_random_weights_warning_is_printed_once(tmp_path, tiny_clip, capsys):
    assert cli(*run_args(tmp_path / "runs", tiny_clip, "--iterations", "1", "--restarts", "1")) == 0
    assert capsys.readouterr().err.count("RANDOM WEIGHTS") == 1


def test_dry_run_prints_a_dollar_estimate_when_the_price_is_known(tmp_path, tiny_clip, capsys):
    args = run_args(tmp_path / "runs", tiny_clip, "--dry-run", "--iterations", "10", "--restarts", "3")
    args[args.index("scripted:")] = "openai:gpt-4o-mini"
    assert cli(*args) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["llm_calls"] == 30 and 0 < plan["estimated_cost_usd"] < 1
    args[args.index("openai:gpt-4o-mini")] = "openai:no-such-model"
    assert cli(*args) == 0
    assert json.loads(capsys.readouterr().out)["estimated_cost_usd"] is None
    assert not (tmp_path / "runs").exists()


def test_an_unreachable_llm_endpoint_is_refused_before_a_run_exists(tmp_path, tiny_clip, capsys):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = run_args(tmp_path / "runs", tiny_clip)
    args[args.index("scripted:")] = "openai:gpt-4o-mini"
    args += ["--llm-base-url", f"http://127.0.0.1:{port}/v1"]
    assert cli(*args) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the random-weights warning
    assert last.startswith("error: LLM endpoint") and "unreachable" in last
    runs = tmp_path / "runs"
    assert not runs.exists() or not any(runs.iterdir())


def test_a_failure_leaves_its_traceback_in_run_log(tmp_path, tiny_clip, capsys, monkeypatch):
    import promptclimb.graph.wiring

    def broken(state):
        raise RuntimeError("boom in rank")

    monkeypatch.setattr(promptclimb.graph.wiring, "rank", broken)
    runs = tmp_path / "runs"
    assert cli("--debug", *run_args(runs, tiny_clip, "--iterations", "1", "--restarts", "1")) == 1
    log = (only_run(runs) / "run.log").read_text()
    assert "Traceback (most recent call last)" in log and "boom in rank" in log
    err = capsys.readouterr().err
    assert "run.log" in err and "Traceback" in err  # --debug shows it on the terminal too


def test_escape_shows_controls_and_bidi_as_python_escapes():
    assert escape("a\x1b[31mb\u202ec\x9bd\te") == "a\\x1b[31mb\\u202ec\\x9bd\te"
