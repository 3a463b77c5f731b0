"""Arguments as a user types them: strict flags, one-line errors with the nearest flag, grouped help, and
nothing heavy loaded before the arguments are checked."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys

import pytest

from promptclimb.cli.main import RUN_EXAMPLES, RUN_GROUPS, main, parser
from promptclimb.graph.config import RunConfig
from tests.conftest import ROOT

HEAVY = ("torch", "transformers", "langgraph", "langchain_core", "langchain", "numpy", "PIL")


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one stderr line of an argument error (exit 2)."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "usage:" not in captured.out + captured.err
    return lines[0]


def test_a_typo_is_refused_by_its_command_with_the_nearest_flag(capsys):
    line = refused(["run", "--data", "x", "--itrations", "2"], capsys)
    assert "promptclimb run:" in line and "--itrations" in line and "did you mean --iterations?" in line
    # before argparse's "required: --data", which would hide the typo
    assert "did you mean --iterations?" in refused(["run", "--itrations", "2"], capsys)
    assert "did you mean --json?" in refused(["list", "--jsn"], capsys)
    assert "did you mean --debug?" in refused(["--debgu", "list"], capsys)


def test_abbreviations_are_refused_not_guessed(capsys):
    line = refused(["run", "--data", "x", "--iter", "2", "--dry-run"], capsys)
    assert "unknown option --iter" in line and "--iterations" in line and "never abbreviated" in line
    assert "unknown option --dry" in refused(["run", "--data", "x", "--dry"], capsys)
    assert "--restart" in refused(["rewind", "r", "--rest", "1"], capsys)


def test_a_wrong_choice_names_the_nearest_one(capsys):
    assert "did you mean liu2024?" in refused(["run", "--data", "x", "--meta", "liu"], capsys)
    assert "did you mean run?" in refused(["rn"], capsys)


def test_negative_numbers_and_equals_forms_are_values_not_flags():
    args = parser().parse_args(["run", "--data", "x", "--temperature", "-0.5", "--iterations=2"])
    assert args.temperature == -0.5 and args.iterations == 2


def test_options_after_the_command_replace_those_before_it_only_when_given():
    assert parser().parse_args(["--runs-dir", "A", "run", "--data", "x"]).runs_dir == "A"
    assert parser().parse_args(["--runs-dir", "A", "run", "--data", "x", "--runs-dir", "B"]).runs_dir == "B"
    assert parser().parse_args(["--runs-dir", "A", "show", "r"]).runs_dir == "A"
    assert parser().parse_args(["list"]).runs_dir == "runs"


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env={**os.environ}
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--data", "x", "--itrations", "2"],
        ["run", "--data", "x", "--shots", "0"],  # RunConfig's own check
        ["t2i", "a cube", "--iterations", "-1"],
        ["show", "--jsn", "r"],
    ],
)
def test_bad_arguments_are_refused_before_any_heavy_import(argv):
    code = (
        "import sys\nfrom promptclimb.cli.main import main\n"
        f"try:\n    code = main({argv!r})\nexcept SystemExit as exit_:\n    code = exit_.code\n"
        f"print(code, [m for m in {HEAVY!r} if m in sys.modules])"
    )
    result = python(code)
    assert result.stdout.split("\n")[-2] == "2 []", result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def help_text(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        parser().parse_args([*argv, "--help"])
    return capsys.readouterr().out


def test_run_help_is_grouped_with_every_default_and_examples(capsys):
    text = help_text(["run"], capsys)
    for title in [*RUN_GROUPS, "examples:"]:
        assert f"\n{title}" in text, title
    assert "other options" not in text  # every RunConfig field has its group
    for flag, default in [
        ("--meta", "compact"),
        ("--tie-break", "order"),
        ("--max-unusable-steps", "3"),
        ("--patience", "none"),
        ("--max-cost", "none"),
    ]:
        entry = re.search(rf"\n  {flag}[ \n].*?(?=\n  -|\n\n)", text, re.S)
        assert entry and f"(default: {default})" in " ".join(entry.group().split()), flag
    grouped = [name for names in RUN_GROUPS.values() for name in names]
    assert sorted(grouped) == sorted(RunConfig.model_fields)  # each field once, none misspelt


def test_run_examples_parse():
    examples = [line.split("#")[0] for line in RUN_EXAMPLES.splitlines() if "promptclimb run" in line]
    assert len(examples) >= 2
    for line in examples:
        argv = shlex.split(line)[1:]
        assert parser().parse_args(argv).command == "run", line


def test_top_level_help_puts_text_to_image_commands_under_their_heading(capsys):
    text = help_text([], capsys)
    head, t2i = text.split("\ntext-to-image", 1)
    for command in ("t2i", "invert", "personalize", "t2i-report"):
        assert f"\n  {command} " in t2i and f"\n  {command} " not in head, command
    assert "\n  run " in head and "\n  show " in head and "\n  graph " in head
    assert "COMMAND ..." in text.split("\n\n")[0]  # the usage still names the command


def test_graph_prints_langgraphs_mermaid_of_each_graph(capsys):
    from promptclimb.graph.t2i.wiring import build_t2i_graph
    from promptclimb.graph.wiring import build_graph

    assert main(["graph"]) == 0
    text = capsys.readouterr().out
    assert text.count("```mermaid\n") == 3
    assert build_graph().get_graph(xray=True).draw_mermaid() in text
    assert build_t2i_graph().get_graph(xray=True).draw_mermaid() in text
    for node in ("class_propose", "finalize", "subgraph climb", "start_edit", "questions"):
        assert node in text, node
    assert main(["graph", "t2i"]) == 0
    only = capsys.readouterr().out
    assert only.startswith("---") and "questions" in only and "class_propose" not in only


def test_graph_loads_no_model():
    code = (
        "import sys\nfrom promptclimb.cli.main import main\nmain(['graph'])\n"
        "import json\nprint(json.dumps([m for m in ('promptclimb.session.classify', "
        "'promptclimb.evaluators.classify.sentence', 'llama_cpp') if m in sys.modules]))"
    )
    result = python(code)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []
