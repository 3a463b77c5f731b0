"""The embedded llama.cpp server child, with a stand-in script: its environment, key, errors and log."""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

import pytest

from promptclimb.llm import server
from promptclimb.llm.errors import BackendError

# Like uvicorn on a taken port: the real error, then the shutdown lines that used to hide it.
FAKE_SERVER = textwrap.dedent(
    """
    import json, os, sys, tempfile
    args = sys.argv[1:]
    folder = os.path.dirname(args[args.index("--model") + 1])
    seen = {"env": dict(os.environ), "argv": args, "tmp": os.listdir(tempfile.gettempdir())}
    with open(os.path.join(folder, "launches.jsonl"), "a") as handle:
        handle.write(json.dumps(seen) + "\\n")
    print("ERROR:    [Errno 98] error while attempting to bind on address: address already in use")
    print("INFO:     Waiting for application shutdown.")
    print("INFO:     Application shutdown complete.")
    sys.exit(3)
    """
)


@pytest.fixture
def fake_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "fake_server.py"
    script.write_text(FAKE_SERVER)
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(server, "_SERVER_MAIN", script)
    monkeypatch.setattr(server, "llama_cpp_available", lambda: True)
    monkeypatch.setattr(server.tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    for name, value in {
        "PORT": "8000",
        "HOST": "0.0.0.0",
        "API_KEY": "x",
        "OPENAI_API_KEY": "sk-user",
    }.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def test_the_child_gets_a_clean_environment_a_random_key_and_leaves_no_log(fake_child: Path) -> None:
    with pytest.raises(BackendError) as raised:
        server.EmbeddedServer(fake_child / "model.gguf", alias="m").start()
    launches = [json.loads(line) for line in (fake_child / "launches.jsonl").read_text().splitlines()]
    env, argv = launches[0]["env"], launches[0]["argv"]
    assert not {"PORT", "HOST", "API_KEY", "OPENAI_API_KEY"} & set(env) and "PATH" in env
    (key,) = [arg.removeprefix("--api_key=") for arg in argv if arg.startswith("--api_key=")]
    assert len(key) >= 24 and key != "embedded"
    assert launches[0]["tmp"] == [], "the log must not be a file a killed parent leaves behind"
    assert list((fake_child / "tmp").iterdir()) == []
    # The real error is shown, and a lost port race is retried.
    assert "address already in use" in str(raised.value)
    assert len(launches) == server._PORT_ATTEMPTS


def test_a_key_that_starts_with_a_dash_reaches_the_real_server_parser(tmp_path: Path) -> None:
    """secrets.token_urlsafe starts with "-" once in 64 keys: "--api_key -x" made the server exit."""
    cli = pytest.importorskip("llama_cpp.server.cli", reason="needs llama-cpp-python's server extras")
    settings = pytest.importorskip("llama_cpp.server.settings")
    embedded = server.EmbeddedServer(tmp_path / "model.gguf", alias="m", n_threads=1)
    embedded.api_key, embedded.port = "-leading-dash-key", 8000
    parser = argparse.ArgumentParser()
    cli.add_args_from_model(parser, settings.Settings)  # as llama_cpp.server's __main__ builds it
    parsed = parser.parse_args(embedded._server_args())
    assert parsed.api_key == "-leading-dash-key"
