"""Proposer against a fake OpenAI-compatible server, through the real ChatOpenAI client path.

The server misbehaves on purpose (timeouts, 429 with Retry-After, 5xx, 4xx, dropped connections, non-JSON
bodies, empty, garbage and hostile replies); the tests check retries and delays (a fake ``sleep`` records
them), one-line errors, re-asks, validation and that every attempt is recorded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest
from langchain_openai import ChatOpenAI

from promptclimb.llm.backends import ChatBackend, open_backend
from promptclimb.llm.pricing import ModelPrice
from promptclimb.llm.proposer import (
    LLMContextOverflow,
    LLMUnavailable,
    Proposer,
    message_text,
    reask_message,
    reply_in_error,
)
from promptclimb.llm.records import MAX_RECORDED_REPLY_CHARS, LLMCall, Usage
from promptclimb.llm.server import free_port
from promptclimb.prompts.template import validate
from tests.fake_openai_server import FakeOpenAIServer, Response, chat_reply, error_reply, templates_reply

MESSAGES = [
    {"role": "system", "content": "You write CLIP prompt templates. Use CLASSNAME for the class."},
    {"role": "user", "content": "Best so far: a photo of a CLASSNAME. 61%\nWrite 3 new templates."},
]
KEY_ENV = "FAKE_OPENAI_KEY"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    monkeypatch.setenv(KEY_ENV, "sk-test-123")
    with FakeOpenAIServer() as fake:
        yield fake


class Harness:
    """A proposer on the fake server, with recorded sleeps and calls."""

    def __init__(self, backend: ChatBackend, **options: object) -> None:
        self.delays: list[float] = []
        self.recorded: list[LLMCall] = []
        self.proposer = Proposer(backend, sleep=self.delays.append, recorder=self.recorded.append, **options)

    def propose(self, n: int = 3, seen: set[str] | None = None, seed: int | None = 7):
        return self.proposer.propose(MESSAGES, n, seen or set(), seed=seed)


@pytest.fixture
def harness(server: FakeOpenAIServer) -> Iterator[type[Harness]]:
    yield Harness


def open_fake(server: FakeOpenAIServer, timeout_s: float = 5.0):
    return open_backend(
        "openai:fake-model", base_url=server.base_url, api_key_env=KEY_ENV, timeout_s=timeout_s
    )


def test_good_reply_goes_through_the_real_client(server: FakeOpenAIServer) -> None:
    server.script_chat(
        templates_reply("a photo of a CLASSNAME.", "a sketch of a CLASSNAME.", prompt_tokens=40)
    )
    with open_fake(server) as backend:
        h = Harness(backend)
        proposal = h.propose(seen={"a photo of a {}."})
    assert proposal.templates == ["a sketch of a {}."]
    assert proposal.rejections == [("a photo of a CLASSNAME.", "duplicate of a template already tried")]
    assert json.loads(proposal.reply)["templates"][1] == "a sketch of a CLASSNAME."
    (request,) = server.chat_requests()
    assert request.headers["authorization"] == "Bearer sk-test-123"
    assert request.json["messages"] == MESSAGES
    assert request.json["model"] == "fake-model" and request.json["seed"] == 7
    (call,) = proposal.calls
    assert h.recorded == [call]
    assert (call.model, call.error, call.input_tokens, call.output_tokens) == (
        "openai:fake-model",
        None,
        40,
        7,
    )
    assert call.request == MESSAGES and call.reply == proposal.reply and call.latency_s > 0
    assert h.delays == []


def test_retry_after_is_honoured_then_exponential_backoff(server: FakeOpenAIServer) -> None:
    in_30_s = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    server.script_chat(
        error_reply(429, "Rate limit reached", headers={"Retry-After": "2"}),
        error_reply(500, "boom"),
        error_reply(503, "overloaded", headers={"Retry-After": in_30_s}),
        error_reply(429, "again", headers={"retry-after-ms": "1500", "Retry-After": "9"}),
        templates_reply("a {} at dusk."),
    )
    with open_fake(server) as backend:
        h = Harness(backend, backoff_s=1.0)
        proposal = h.propose()
    assert proposal.templates == ["a {} at dusk."]
    assert len(server.chat_requests()) == 5  # ChatOpenAI's own retries are off: every try is ours
    assert h.delays[0] == 2.0
    assert 2.0 <= h.delays[1] <= 3.0  # 1 s * 2**1, plus up to 50 % jitter
    assert 28.0 <= h.delays[2] <= 30.0  # an HTTP date
    assert h.delays[3] == 1.5  # retry-after-ms wins over Retry-After
    errors = [c.error for c in proposal.calls]
    assert errors == [
        "HTTP 429: Rate limit reached",
        "HTTP 500: boom",
        "HTTP 503: overloaded",
        "HTTP 429: again",
        None,
    ]
    assert h.recorded == proposal.calls


def test_timeouts_dropped_connections_and_non_json_bodies_are_retried(server: FakeOpenAIServer) -> None:
    server.script_chat(
        Response(delay_s=2.0),  # past the client's 0.3 s timeout
        Response(drop=True),
        Response(body="<html>502 Bad Gateway</html>"),
        Response(body={"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []}),
        templates_reply("a {} seen from above."),
    )
    with open_fake(server, timeout_s=0.3) as backend:
        h = Harness(backend, backoff_s=0.5, max_retries=4)
        proposal = h.propose()
    assert proposal.templates == ["a {} seen from above."]
    first, second, third, fourth, _ = proposal.calls
    assert first.error == "request timed out" and first.latency_s >= 0.3
    assert second.error and "\n" not in second.error
    assert third.error and third.error.startswith("the server's answer is not JSON")
    assert fourth.error and fourth.error.startswith("the server's answer holds no reply")
    assert len(h.delays) == 4
    assert all(0.5 * 2**i <= d <= 0.75 * 2**i for i, d in enumerate(h.delays))


def test_exhausted_retries_raise_one_line_and_every_attempt_is_recorded(server: FakeOpenAIServer) -> None:
    server.default_chat = lambda request: error_reply(500, "internal\nerror\ttrace")
    with open_fake(server) as backend:
        h = Harness(backend, max_retries=2)
        with pytest.raises(LLMUnavailable) as raised:
            h.propose()
    message = str(raised.value)
    assert (
        message
        == f"LLM server at {server.base_url} unreachable after 3 attempts: HTTP 500: internal error trace"
    )
    assert len(server.chat_requests()) == 3
    assert len(h.recorded) == 3 and all(c.reply is None and c.error for c in h.recorded)
    assert len(h.delays) == 2


def test_unreachable_server_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-test")
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    with open_backend("openai:fake-model", base_url=url, api_key_env=KEY_ENV) as backend:
        h = Harness(backend)
        with pytest.raises(LLMUnavailable) as raised:
            h.propose()
    assert str(raised.value) == f"LLM server at {url} unreachable after 6 attempts: Connection refused"
    assert len(h.recorded) == 6
    for i, delay in enumerate(h.delays):  # 1, 2, 4, 8, 16 s, each with up to 50 % jitter
        assert 2**i <= delay <= 1.5 * 2**i


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (401, "Incorrect API key provided"),
        (404, "The model `fake-model` does not exist"),
        (400, "bad request"),
    ],
)
def test_other_4xx_fail_fast(server: FakeOpenAIServer, status: int, message: str) -> None:
    server.script_chat(error_reply(status, message))
    with open_fake(server) as backend:
        h = Harness(backend)
        with pytest.raises(LLMUnavailable) as raised:
            h.propose()
    assert (
        str(raised.value) == f"LLM server at {server.base_url} refused the request: HTTP {status}: {message}"
    )
    assert len(server.chat_requests()) == 1 and h.delays == [] and len(h.recorded) == 1


def test_context_overflow_is_its_own_error(server: FakeOpenAIServer) -> None:
    server.script_chat(error_reply(400, "Requested tokens (5000) exceed context window of 4096"))
    with open_fake(server) as backend, pytest.raises(LLMContextOverflow):
        Harness(backend).propose()


def test_unusable_replies_are_reasked_then_given_up(server: FakeOpenAIServer) -> None:
    server.script_chat(
        chat_reply(""),
        chat_reply("I am sorry, I cannot help with that."),
        templates_reply("{0.__class__.__mro__}", "a photo of a dog.", "{}{}{}{}{}"),
    )
    with open_fake(server) as backend:
        h = Harness(backend, max_reasks=2)
        proposal = h.propose(seed=10)
    assert proposal.templates == []
    assert proposal.reply == json.dumps(
        {"templates": ["{0.__class__.__mro__}", "a photo of a dog.", "{}{}{}{}{}"]}
    )
    assert [reason for _, reason in proposal.rejections] == [
        "no {} placeholder for the class name",
        "no {} placeholder for the class name",
        "more than 3 {} placeholders",
    ]
    assert len(proposal.calls) == 3 and h.recorded == proposal.calls
    first, second, third = (r.json for r in server.chat_requests())
    assert [first["seed"], second["seed"], third["seed"]] == [10, 11, 12]
    assert second["messages"][:2] == MESSAGES
    assert second["messages"][2] == {"role": "assistant", "content": "(empty reply)"}
    assert second["messages"][3] == {"role": "user", "content": reask_message("the reply was empty", 3)}
    assert third["messages"][4]["content"] == "I am sorry, I cannot help with that."
    assert "no templates found" in third["messages"][5]["content"]


def test_hostile_reply_yields_only_validated_templates(server: FakeOpenAIServer) -> None:
    hostile = [
        "{0.__class__}",
        "a {} of {0.__init__.__globals__}",
        "{}{}{}{}{}",
        "a {} " + "z" * 100_000,
        "a photo\x1b[31m of a {}.",
        "a photo of a CLASSNAME, a type of pet.",
        "<CLASSNAME> in the snow",
    ]
    server.script_chat(templates_reply(*hostile))
    with open_fake(server) as backend:
        proposal = Harness(backend).propose(n=5)
    assert proposal.templates == ["a photo of a {}, a type of pet.", "{} in the snow"]
    assert all(validate(t) == t for t in proposal.templates)
    assert len(proposal.rejections) == 5
    assert all(len(text) <= 120 and "\x1b" not in text and reason for text, reason in proposal.rejections)


def test_huge_reply_is_recorded_clipped(server: FakeOpenAIServer) -> None:
    server.script_chat(chat_reply("- a {} photo\n" + "blah " * 300_000), templates_reply("a {} at noon."))
    with open_fake(server) as backend:
        proposal = Harness(backend).propose()
    assert proposal.templates == ["a {} photo"]
    (call,) = proposal.calls
    assert call.reply is not None and len(call.reply) < MAX_RECORDED_REPLY_CHARS + 100


def test_costs_come_from_the_price_table(
    server: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"openai:fake-model": {"input": 2.0, "output": 8.0}}))
    monkeypatch.setenv("PROMPTCLIMB_PRICES", str(prices))
    server.script_chat(
        error_reply(500, "x"), templates_reply("a {}.", prompt_tokens=1000, completion_tokens=500)
    )
    with open_fake(server) as backend:
        assert backend.price == ModelPrice(input_per_mtok=2.0, output_per_mtok=8.0)
        proposal = Harness(backend).propose()
    failed, ok = proposal.calls
    assert failed.cost_usd == 0.0
    assert ok.cost_usd == pytest.approx((1000 * 2.0 + 500 * 8.0) / 1e6)
    usage = Usage()
    for call in proposal.calls:
        usage = usage.add(call)
    assert (usage.calls, usage.input_tokens, usage.output_tokens) == (2, 1000, 500)
    assert usage.cost_usd == pytest.approx(0.006)
    assert usage.latency_s == pytest.approx(sum(c.latency_s for c in proposal.calls))


def test_structured_output_request_bodies(server: FakeOpenAIServer) -> None:
    chat = ChatOpenAI(model="fake-model", base_url=server.base_url, api_key="k", max_retries=0, timeout=5)
    server.script_chat(templates_reply("a {}."), templates_reply("a {} again."))
    Proposer(ChatBackend(chat, name="openai:fake-model", structured="json_schema")).propose(
        MESSAGES, 4, set()
    )
    embedded_like = ChatBackend(
        chat, name="local:x", structured="json_object_schema", supports_seed=True, max_tokens_per_template=60
    )
    Proposer(embedded_like).propose(MESSAGES, 4, set(), seed=3)
    openai_body, local_body = (r.json for r in server.chat_requests())
    assert openai_body["response_format"]["type"] == "json_schema"
    assert openai_body["response_format"]["json_schema"]["strict"] is True
    assert "seed" not in openai_body  # supports_seed is False for that backend
    assert local_body["response_format"]["type"] == "json_object"
    array = local_body["response_format"]["schema"]["properties"]["templates"]
    assert array["minItems"] == array["maxItems"] == 4
    assert array["items"]["pattern"].startswith("^[") and "CLASSNAME" in array["items"]["pattern"]
    assert local_body["seed"] == 3 and local_body["max_tokens"] == 40 + 4 * 60


def test_slow_good_reply_within_timeout_is_not_retried(server: FakeOpenAIServer) -> None:
    server.script_chat(Response(delay_s=0.2, body=templates_reply("a {} slowly.").body))
    with open_fake(server, timeout_s=3.0) as backend:
        start = time.monotonic()
        proposal = Harness(backend).propose()
    assert proposal.templates == ["a {} slowly."] and len(proposal.calls) == 1
    assert time.monotonic() - start >= 0.2


def test_reply_cut_by_the_token_limit_is_still_a_reply(server: FakeOpenAIServer) -> None:
    """Structured output must not go through the client's parse(), which raises on finish_reason=length."""
    cut = '{"templates": ["a photo of a CLASSNAME.", "a close-up of a CLASSNAME.", "a pho'
    server.script_chat(chat_reply(cut, completion_tokens=220, finish_reason="length"))
    chat = ChatOpenAI(model="fake-model", base_url=server.base_url, api_key="k", max_retries=0, timeout=5)
    backend = ChatBackend(chat, name="local:x", structured="json_object_schema", max_tokens_per_template=60)
    proposal = Proposer(backend, max_reasks=0).propose(MESSAGES, 3, set())
    assert proposal.templates == ["a photo of a {}.", "a close-up of a {}."]
    assert proposal.calls[0].error is None and proposal.calls[0].output_tokens == 220


def test_length_error_of_the_parse_path_carries_the_reply(server: FakeOpenAIServer) -> None:
    """Code that does send a top-level response_format (JSON mode) can recover the cut reply."""
    server.script_chat(chat_reply('{"templates": ["a {}', completion_tokens=9, finish_reason="length"))
    chat = ChatOpenAI(model="fake-model", base_url=server.base_url, api_key="k", max_retries=0, timeout=5)
    with pytest.raises(Exception) as raised:
        chat.invoke("hi", response_format={"type": "json_object"})
    message = reply_in_error(raised.value)
    assert message is not None and message_text(message) == '{"templates": ["a {}'
    assert message.usage_metadata["output_tokens"] == 9
    assert reply_in_error(RuntimeError("no reply here")) is None


def test_an_html_error_page_says_what_it_says(server: FakeOpenAIServer) -> None:
    page = "<html><head><title>500 Internal Server Error</title></head><body><h1>Oops</h1></body></html>"
    html = {"Content-Type": "text/html"}
    server.default_chat = lambda request: Response(status=500, body=page, headers=html)
    with open_fake(server) as backend, pytest.raises(LLMUnavailable) as info:
        Harness(backend, max_retries=0).propose()
    assert "HTTP 500: 500 Internal Server Error Oops" in str(info.value)
