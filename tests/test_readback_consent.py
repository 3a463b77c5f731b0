"""Every command that rebuilds a run from its files passes resume's consent gate: a scorer checkpoint file
named by config.json (a TorchScript archive may carry code) is never loaded without --trust-run-plugin."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

from tests.graph_helpers import cli, only_run, run_args

COMMANDS = (["replay"], ["report"], ["export"], ["transfer", "--clip", "x"], ["rewind", "--restart", "1"])


@pytest.fixture
def hostile_run(tmp_path: Path, tiny_clip: Path) -> tuple[Path, Path, Path]:
    """A real finished run whose config.json was then edited to name a TorchScript archive as its scorer."""
    runs = tmp_path / "runs"
    assert cli(*run_args(runs, tiny_clip, "--iterations", "1", "--restarts", "1")) == 0
    run_dir = only_run(runs)
    evil = tmp_path / "x" / "evil.pt"
    evil.parent.mkdir()
    with warnings.catch_warnings():  # torch.jit is deprecated, and what OpenAI's checkpoints are
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(torch.nn.Linear(1, 1)).save(str(evil))
    config = json.loads((run_dir / "config.json").read_text())
    (run_dir / "config.json").write_text(json.dumps({**config, "scorer": f"openai:{evil}"}))
    return runs, run_dir, evil


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every TorchScript or torch file a command tries to load (refused: the test only needs to know)."""
    seen: list[str] = []

    def spy(path, *args, **kwargs):
        seen.append(str(path))
        raise RuntimeError("loading refused by the test")

    monkeypatch.setattr(torch.jit, "load", spy)
    monkeypatch.setattr(torch, "load", spy)
    return seen


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_commands_that_rebuild_a_run_refuse_its_scorer_file(hostile_run, loads, capsys, command) -> None:
    runs, run_dir, evil = hostile_run
    before = sorted(p.name for p in runs.iterdir())
    capsys.readouterr()
    assert cli("--runs-dir", str(runs), command[0], run_dir.name, *command[1:]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1, err
    assert "--trust-run-plugin" in err and str(evil) in err
    assert loads == []
    assert sorted(p.name for p in runs.iterdir()) == before  # no replay directory either


def test_the_gate_is_what_stops_the_load(hostile_run, loads, capsys) -> None:
    """With the user's consent, replay does load the file: the spy above would have seen it."""
    runs, run_dir, evil = hostile_run
    assert cli("--runs-dir", str(runs), "replay", run_dir.name, "--trust-run-plugin") == 2  # the spy refuses
    assert loads == [str(evil)]


@pytest.mark.parametrize("command", [*COMMANDS, ["resume"]], ids=lambda c: c[0])
def test_a_clip_field_naming_a_checkpoint_file_never_loads_it(hostile_run, loads, capsys, command) -> None:
    """--clip is CLIP through transformers in every command: a config.json that puts ``openai:FILE`` there
    (no scorer) gets no command to read FILE as a checkpoint, with or without consent."""
    runs, run_dir, evil = hostile_run
    config = json.loads((run_dir / "config.json").read_text())
    (run_dir / "config.json").write_text(json.dumps({**config, "scorer": None, "clip": f"openai:{evil}"}))
    capsys.readouterr()
    code = cli("--runs-dir", str(runs), command[0], run_dir.name, *command[1:], "--trust-run-plugin")
    err = capsys.readouterr().err
    assert loads == []
    assert "Traceback" not in err and code in (0, 2), err  # a command that needs CLIP fails in one line
