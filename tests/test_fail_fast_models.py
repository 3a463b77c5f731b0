"""Model errors that used to cost a minute: the wrong scorer for CSV texts is told before any model loads,
and an unreachable hub sends a model load to the local cache at once instead of the hub client's retries."""

from __future__ import annotations

import csv
import socket
from pathlib import Path

import pytest

from promptclimb.evaluators.classify import model_loading
from promptclimb.evaluators.classify.sentence import load_sentence_encoder
from promptclimb.evaluators.classify.specs import ModelLoadError
from tests.graph_helpers import cli

CLOSED_PORT_URL = "http://127.0.0.1:9"  # the discard port: nothing listens there on a test machine


def write_text_data(root: Path) -> Path:
    for split, per_class in (("train", 2), ("val", 1), ("test", 1)):
        root.mkdir(parents=True, exist_ok=True)
        with open(root / f"{split}.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["text", "category"])
            writer.writeheader()
            for label in ("card_lost", "refund"):
                for k in range(per_class):
                    writer.writerow({"text": f"{split} message {k} about {label}", "category": label})
    return root


def test_csv_texts_with_the_default_clip_get_the_text_scorer_hint_before_any_model_loads(
    tmp_path, capsys, monkeypatch
):
    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr("promptclimb.session.classify.load_backbone", no_model)
    data = write_text_data(tmp_path / "texts")
    runs = tmp_path / "runs"
    assert cli("--runs-dir", str(runs), "run", "--data", str(data), "--llm", "scripted:") == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "--scorer text:" in err and "holds texts" in err
    assert "local directory" not in err and not runs.exists()


@pytest.fixture
def unreachable_hub(monkeypatch, tmp_path):
    for name in ("HF_HUB_OFFLINE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", CLOSED_PORT_URL)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    model_loading.hub_answers.cache_clear()
    yield
    model_loading.hub_answers.cache_clear()


def test_an_unreachable_hub_means_the_local_cache_only(unreachable_hub):
    assert model_loading.hub_address() == ("127.0.0.1", 9)
    assert model_loading.hub_offline()
    with pytest.raises(ModelLoadError, match="hub is offline or unreachable"):
        load_sentence_encoder("no-such-org/no-such-encoder")


def test_a_hub_that_answers_is_tried(monkeypatch):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
        model_loading.hub_answers.cache_clear()
        try:
            assert not model_loading.hub_offline()
        finally:
            model_loading.hub_answers.cache_clear()
