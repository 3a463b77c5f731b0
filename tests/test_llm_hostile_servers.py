"""Hostile or broken LLM servers: a huge reply is not carried along, a trickling reply does not hang a run."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from promptclimb.graph.runs import read_status
from promptclimb.llm.backends import open_backend
from promptclimb.llm.proposer import LLMUnavailable, Proposer
from tests.fake_header_trickler import HeaderTrickler, SlowServer
from tests.fake_openai_server import FakeOpenAIServer, chat_reply
from tests.graph_helpers import only_run, run_args, start_cli

MESSAGES = [
    {"role": "system", "content": "You write CLIP prompt templates. Use CLASSNAME for the class."},
    {"role": "user", "content": "Write 3 new templates."},
]
KEY_ENV = "FAKE_OPENAI_KEY"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    monkeypatch.setenv(KEY_ENV, "sk-test-123")
    with FakeOpenAIServer() as fake:
        yield fake


def open_fake(server: FakeOpenAIServer, timeout_s: float = 5.0):
    return open_backend(
        "openai:fake-model", base_url=server.base_url, api_key_env=KEY_ENV, timeout_s=timeout_s
    )


def test_a_100_kb_reply_is_neither_resent_nor_kept_whole(server: FakeOpenAIServer) -> None:
    junk = "Let me think. " * 8_000  # ~110 KB
    server.script_chat(
        chat_reply(junk),  # nothing usable: re-asked
        chat_reply(json.dumps({"templates": ["a photo of a CLASSNAME, zoomed in."]}) + junk),
    )
    with open_fake(server) as backend:
        proposal = Proposer(backend, sleep=lambda _: None).propose(MESSAGES, 3, set(), seed=1)
    assert proposal.templates == ["a photo of a {}, zoomed in."]
    resent = server.chat_requests()[1].json["messages"][2]
    assert resent["role"] == "assistant" and len(resent["content"]) < 200
    assert len(proposal.reply) < 1_000  # what the conversation, and so every checkpoint, keeps
    logged = sum(len(c.model_dump_json()) for c in proposal.calls)
    assert logged < 50_000


class TricklingServer(SlowServer):
    """Sends a 200 OK with its headers at once, then the body one byte every 0.2 s (for at most ~20 s)."""

    def trickle(self, conn: socket.socket) -> None:
        self.requests += 1
        with conn:
            conn.recv(65536)
            body = json.dumps({"choices": []}).ljust(100).encode()
            head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            try:
                conn.sendall(head.encode())
                for byte in body:
                    conn.sendall(bytes([byte]))
                    time.sleep(0.2)
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()


def test_a_server_that_trickles_its_reply_hits_an_overall_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-test-123")
    trickling = TricklingServer()
    started = time.monotonic()
    try:
        with open_backend(
            "openai:m", base_url=trickling.base_url, api_key_env=KEY_ENV, timeout_s=1.0
        ) as backend:
            proposer = Proposer(backend, max_retries=1, sleep=lambda _: None)
            with pytest.raises(LLMUnavailable, match="unreachable after 2 attempts"):
                proposer.propose(MESSAGES, 3, set())
    finally:
        trickling.close()
    assert time.monotonic() - started < 8, "each read came within the timeout, but the reply never ended"
    assert trickling.requests == 2  # retried like any timeout


def test_a_server_that_trickles_its_headers_hits_the_same_deadline(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-test-123")
    started = time.monotonic()
    with (
        HeaderTrickler(every_s=0.3, for_s=20) as trickling,
        open_backend("openai:m", base_url=trickling.base_url, api_key_env=KEY_ENV, timeout_s=1.0) as backend,
    ):
        proposer = Proposer(backend, max_retries=1, sleep=lambda _: None)
        with pytest.raises(LLMUnavailable, match="unreachable after 2 attempts"):
            proposer.propose(MESSAGES, 3, set())
    assert time.monotonic() - started < 8, "each header byte came within the timeout, but they never ended"
    assert trickling.requests == 2  # retried like any timeout
    assert "(attempt 1 of 2); retrying in" in caplog.text  # a slow server is not minutes of silence


def test_ctrl_c_pauses_a_run_whose_server_trickles_its_status_line(tmp_path: Path, tiny_clip: Path) -> None:
    runs = tmp_path / "runs"
    with HeaderTrickler(every_s=1.0, for_s=90) as trickling:
        argv = run_args(runs, tiny_clip, "--iterations", "2", "--restarts", "1")
        argv[argv.index("scripted:")] = "openai:m"
        argv += ["--llm-base-url", trickling.base_url, "--llm-api-key-env", KEY_ENV]
        proc = start_cli("promptclimb.cli.main", argv, env={KEY_ENV: "sk-test-123"})
        try:
            deadline = time.monotonic() + 120
            while trickling.requests == 0:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.1)
            time.sleep(2.5)  # well into the status line
            proc.send_signal(signal.SIGINT)
            took = seconds_until_paused(only_run(runs), limit_s=20)
            code = proc.wait(timeout=60)  # the interpreter's own exit (torch's teardown) takes a while more
        finally:
            proc.kill()
    assert took < 5, f"Ctrl-C took {took:.1f} s to pause the run"  # ~0.1 s alone; CI machines are shared
    assert code == 130, proc.stderr.read()
    assert read_status(only_run(runs)) == ("paused", "interrupted by the user")


def seconds_until_paused(run_dir: Path, limit_s: float) -> float:
    """Until run.json itself says paused (read_status also calls a dead process's run paused)."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        if json.loads((run_dir / "run.json").read_text())["status"] == "paused":
            break
        time.sleep(0.05)
    return time.monotonic() - started


def test_ctrl_c_ends_a_backoff_sleep_in_a_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Python delivers no KeyboardInterrupt to a worker thread: the retry backoff watches Ctrl-C itself."""
    from promptclimb.llm import deadline

    worker, ended, started = sleeping_worker()
    monkeypatch.setattr(deadline, "_interrupts", deadline._interrupts + 1)  # what the SIGINT handler does
    worker.join(timeout=10)
    assert time.monotonic() - started < 3
    assert len(ended) == 1 and isinstance(ended[0], deadline.RequestInterrupted)
    import inspect

    assert inspect.signature(Proposer).parameters["sleep"].default is deadline.interruptible_sleep


def test_sigterm_ends_a_wait_in_a_worker_thread() -> None:
    """The embedded server's SIGTERM net ends a request in flight too: the thread pool would wait for it."""
    from promptclimb.llm import deadline, server

    worker, ended, started = sleeping_worker()  # a request's socket reads watch the same counter
    with pytest.raises(SystemExit) as exit_info:
        server._exit_on_signal(signal.SIGTERM, None)
    worker.join(timeout=10)
    assert exit_info.value.code == 128 + signal.SIGTERM
    assert time.monotonic() - started < 3
    assert len(ended) == 1 and isinstance(ended[0], deadline.RequestInterrupted)


def sleeping_worker() -> tuple[threading.Thread, list[BaseException | None], float]:
    """A worker thread in a 30 s interruptible sleep (what ended it lands in the list), well started."""
    from promptclimb.llm import deadline

    ended: list[BaseException | None] = []

    def sleep() -> None:
        try:
            deadline.interruptible_sleep(30)
            ended.append(None)
        except BaseException as exc:  # noqa: BLE001 - the test wants to see what ended it
            ended.append(exc)

    worker = threading.Thread(target=sleep)
    started = time.monotonic()
    worker.start()
    time.sleep(0.3)
    return worker, ended, started
