"""Helpers for the text-to-image tests: the fake images server as a fixture, CLI runs in-process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promptclimb.cli.t2i import main
from promptclimb.graph.t2i.session import current_t2i_state
from tests.fake_images_server import FakeImagesServer
from tests.fake_scene import render

KEY_ENV = "PROMPTCLIMB_TEST_IMAGES_KEY"
QUERY = "a crimson cube on top of a blue sphere, left of a dog"  # "crimson" is unknown to the toy generator


def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeImagesServer]:
    """The body of each test module's ``server`` fixture: the fake server and its key in the environment."""
    monkeypatch.setenv(KEY_ENV, "sk-test")
    with FakeImagesServer() as fake:
        yield fake


def endpoints(server: FakeImagesServer) -> list[str]:
    return [
        "--generator-base-url", server.base_url, "--generator-api-key-env", KEY_ENV,
        "--llm-base-url", server.base_url, "--llm-api-key-env", KEY_ENV,
    ]  # fmt: skip


def t2i(runs: Path, *argv: str) -> int:
    return main(["--runs-dir", str(runs), *argv])


def only_run(runs: Path) -> Path:
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    return run_dir


def state(run_dir: Path) -> dict[str, Any]:
    return current_t2i_state(run_dir) or {}


def show(runs: Path, run_dir: Path, capsys: Any) -> dict[str, Any]:
    capsys.readouterr()
    assert t2i(runs, "show", str(run_dir), "--json") == 0
    return json.loads(capsys.readouterr().out)


def reference_image(
    path: Path, prompt: str = "a red cube on top of a blue sphere, two yellow pyramids"
) -> Path:
    render(prompt).save(path)
    return path


def chat_messages(request: Any) -> list[dict[str, Any]]:
    return request.json["messages"]


def image_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message["content"]
    return [] if isinstance(content, str) else [b for b in content if b.get("type") == "image_url"]
