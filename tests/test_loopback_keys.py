"""A run's config.json never chooses where a key goes, not even a server on this machine: any local user can
listen on another loopback port and harvest what arrives there."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from tests.fake_openai_server import FakeOpenAIServer, templates_reply
from tests.graph_helpers import cli, only_run, run_args

SECRET = "AKIA-VICTIM-SECRET"


@pytest.fixture
def paused_run(tmp_path: Path, tiny_clip: Path) -> tuple[Path, Path]:
    runs = tmp_path / "runs"
    assert (
        cli(*run_args(runs, tiny_clip, "--iterations", "2", "--restarts", "1", "--max-llm-calls", "1")) == 3
    )
    return runs, only_run(runs)


def edit_config(run_dir: Path, **changes: object) -> None:
    path = run_dir / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.mark.parametrize("key_env", ["AWS_SECRET_ACCESS_KEY", None])
def test_resume_sends_nothing_to_a_loopback_server_named_by_config_json(
    paused_run, monkeypatch, capsys, key_env: str | None
) -> None:
    runs, run_dir = paused_run
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with FakeOpenAIServer() as harvester:
        edit_config(run_dir, llm="openai:m", llm_base_url=harvester.base_url, llm_api_key_env=key_env)
        before = (run_dir / "config.json").read_text()
        capsys.readouterr()
        assert cli("--runs-dir", str(runs), "resume", run_dir.name) == 2
        assert harvester.requests == [], "the server named by config.json was contacted"
    err = capsys.readouterr().err.strip().splitlines()[-1]
    port = harvester.base_url.split(":")[2].split("/")[0]
    assert err.startswith("error:") and f"127.0.0.1:{port}" in err and "--trust-run-llm" in err
    assert (f"${key_env}" in err) if key_env else ("requests would be sent" in err)
    assert (run_dir / "config.json").read_text() == before


def test_trust_run_llm_lets_the_user_accept_a_loopback_server(paused_run, monkeypatch) -> None:
    runs, run_dir = paused_run
    monkeypatch.setenv("MY_LOCAL_KEY", "sk-local")
    numbers = itertools.count()
    with FakeOpenAIServer() as server:
        server.default_chat = lambda _: templates_reply(
            *(f"a {{}} seen {next(numbers)} times." for _ in "abc")
        )
        edit_config(run_dir, llm="openai:m", llm_base_url=server.base_url, llm_api_key_env="MY_LOCAL_KEY")
        argv = ["resume", run_dir.name, "--max-llm-calls", "3", "--trust-run-llm"]
        assert cli("--runs-dir", str(runs), *argv) == 0
        assert {r.headers["authorization"] for r in server.chat_requests()} == {"Bearer sk-local"}


def test_resume_with_only_the_key_variable_given_still_refuses_the_runs_server(
    paused_run, monkeypatch
) -> None:
    runs, run_dir = paused_run
    monkeypatch.setenv("MY_KEY", SECRET)
    with FakeOpenAIServer() as harvester:
        edit_config(run_dir, llm="openai:m", llm_base_url=harvester.base_url)
        assert cli("--runs-dir", str(runs), "resume", run_dir.name, "--llm-api-key-env", "MY_KEY") == 2
        assert harvester.requests == []
