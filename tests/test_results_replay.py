"""promptclimb replay: the leaderboard rebuilt from stored replies, with no LLM and no network."""

from __future__ import annotations

import json
import shutil
import socket

import pytest

import promptclimb.llm.backends
import promptclimb.llm.scripted
import promptclimb.session.classify
from promptclimb.graph.runs import read_calls
from promptclimb.results.replay import COMPARED
from promptclimb.results.summary import summarize
from tests.graph_helpers import cli
from tests.results_fixtures import results_run  # noqa: F401  (session fixture)


@pytest.fixture
def no_llm(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No network, no generated reply; returns the LLM specs opened (the test checks them)."""
    opened: list[str] = []
    real = promptclimb.llm.backends.open_backend

    def only_replays(spec, **options):
        opened.append(spec)
        assert spec and spec.startswith("scripted:") and spec != "scripted:", f"replay opened LLM {spec!r}"
        return real(spec, **options)

    def no_network(*args, **kwargs):
        raise AssertionError("replay tried to open a network connection")

    def no_invention(*args, **kwargs):
        raise AssertionError("replay asked the scripted model to invent a reply")

    monkeypatch.setattr(promptclimb.session.classify, "open_backend", only_replays)
    monkeypatch.setattr(promptclimb.llm.backends, "open_backend", only_replays)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(promptclimb.llm.scripted, "invent_reply", no_invention)
    return opened


def board(summary: dict) -> list[tuple]:
    return [tuple(row.get(k) for k in COMPARED) for row in summary["leaderboard"]]


def test_replay_reproduces_the_leaderboard_exactly_without_an_llm(results_run, no_llm, capsys):  # noqa: F811
    run_dir = results_run.run_dir
    capsys.readouterr()
    assert cli("--runs-dir", str(results_run.runs), "replay", run_dir.name) == 0
    assert "reproduced exactly" in capsys.readouterr().out
    replay_dir = run_dir.parent / f"{run_dir.name}-replay"
    assert no_llm == [f"scripted:{(replay_dir / 'replies.jsonl').resolve()}"]

    original, replayed = summarize(run_dir), summarize(replay_dir)
    assert replayed["status"] == "finished"
    assert board(replayed) == board(original) and len(board(original)) > 6
    assert replayed["final"] == original["final"]
    assert replayed["rejections"] == original["rejections"]
    stored = [c.reply for c in read_calls(run_dir) if c.reply is not None]
    assert [c.reply for c in read_calls(replay_dir)] == stored

    # Replaying again rebuilds the replay directory from scratch.
    assert cli("--runs-dir", str(results_run.runs), "replay", str(run_dir)) == 0
    assert board(summarize(replay_dir)) == board(original)


def test_replay_skips_the_orphan_call_of_a_killed_attempt(results_run, tmp_path, no_llm, capsys):  # noqa: F811
    # What a kill -9 during an LLM call leaves: the call logged, its step never checkpointed, and the
    # resumed run asking again (here with a different reply, as a real model would give).
    run_dir = tmp_path / "killed"
    shutil.copytree(
        results_run.run_dir, run_dir, ignore=shutil.ignore_patterns("export", "report*", "transfer*")
    )
    lines = (run_dir / "llm_calls.jsonl").read_text().splitlines()
    orphan = json.loads(lines[2])
    orphan["reply"] = json.dumps({"templates": ["an orphan CLASSNAME that was never scored."]})
    lines.insert(2, json.dumps(orphan))
    (run_dir / "llm_calls.jsonl").write_text("\n".join(lines) + "\n")

    assert cli("--runs-dir", str(tmp_path), "replay", str(run_dir)) == 0
    replayed = summarize(tmp_path / "killed-replay")
    assert board(replayed) == board(summarize(results_run.run_dir))
    assert not any("orphan" in row["template"] for row in replayed["leaderboard"])


def test_replay_refuses_to_overwrite_a_foreign_directory(results_run, tmp_path, capsys):  # noqa: F811
    run_dir = tmp_path / "run"
    shutil.copytree(
        results_run.run_dir, run_dir, ignore=shutil.ignore_patterns("export", "report*", "transfer*")
    )
    (tmp_path / "run-replay").mkdir()
    (tmp_path / "run-replay" / "precious.txt").write_text("keep me")
    assert cli("--runs-dir", str(tmp_path), "replay", str(run_dir)) == 2
    assert "not a replay made by promptclimb" in capsys.readouterr().err
    assert (tmp_path / "run-replay" / "precious.txt").exists()
