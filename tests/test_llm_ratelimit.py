"""The shared rate limiter: even spacing by requests and tokens per minute, usage corrections, and a 429 that
pauses every concurrent caller; then several threads against a fake server that answers 429 above a rate."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from promptclimb.llm.backends import BackendError, open_backend
from promptclimb.llm.proposer import Proposer
from promptclimb.llm.ratelimit import RateLimiter, env_limits, estimate_tokens
from tests.fake_openai_server import FakeOpenAIServer, RateLimited, Response, templates_reply

MESSAGES = [{"role": "user", "content": "Write 1 new template."}]
KEY_ENV = "FAKE_OPENAI_KEY"


class FakeTime:
    """A clock that moves only when slept on: every wait the limiter asks for is recorded."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def test_requests_per_minute_are_spaced_evenly() -> None:
    t = FakeTime()
    limiter = RateLimiter("x", rpm=120, clock=t.clock)
    starts = [limiter.acquire(10, t.sleep).start for _ in range(4)]
    assert starts == [100.0, 100.5, 101.0, 101.5]  # 60 s / 120: one every 0.5 s, the first at once
    t.now += 10  # idle time is not saved up into a burst
    assert limiter.acquire(10, t.sleep).start == t.now
    assert limiter.acquire(10, t.sleep).start == pytest.approx(t.now)
    assert t.sleeps[-1] == 0.5


def test_tokens_per_minute_with_usage_corrections() -> None:
    t = FakeTime()
    limiter = RateLimiter("x", tpm=6000, clock=t.clock)  # 100 tokens a second
    first = limiter.acquire(200, t.sleep)
    assert first.start == 100.0 and t.sleeps == []
    limiter.settle(first, 50)  # it used only 50: the next may start 0.5 s after it, not 2 s
    assert limiter.acquire(300, t.sleep).start == pytest.approx(100.5)
    assert limiter.acquire(10, t.sleep).start == pytest.approx(103.5)  # 300 tokens = 3 s
    limiter.settle(first, 0)  # no usage reported: the estimate stands
    assert estimate_tokens(["x" * 400], 40) == 101 + 40 and estimate_tokens([], None) == 1 + 512


def test_a_pause_holds_every_caller_but_the_one_that_slept_it() -> None:
    t = FakeTime()
    limiter = RateLimiter("x", clock=t.clock)  # no rate: only the shared pause
    assert limiter.acquire(1, t.sleep).start == 100.0 and t.sleeps == []
    until = limiter.pause(2.0)
    assert until == 102.0
    assert limiter.acquire(1, t.sleep, waited_until=until).start == 100.0  # it slept the pause itself
    assert t.sleeps == []
    assert limiter.acquire(1, t.sleep).start == 102.0 and t.sleeps == [2.0]  # any other caller waits
    t.now = 105.0
    limiter.pause(1.0)
    limiter.pause(0.5)  # a shorter pause never shortens a longer one
    limiter.acquire(1, t.sleep, waited_until=until)  # an older pause it waited out does not excuse it
    assert t.sleeps == [2.0, 1.0]


def test_a_pause_that_begins_while_a_caller_waits_for_its_turn_holds_it(monkeypatch) -> None:
    t = FakeTime()
    limiter = RateLimiter("x", rpm=60, clock=t.clock)
    limiter.acquire(1, t.sleep)

    def sleep_then_someone_gets_a_429(seconds: float) -> None:
        t.sleep(seconds)
        if len(t.sleeps) == 1:
            limiter.pause(3.0)

    limiter.acquire(1, sleep_then_someone_gets_a_429)
    assert t.sleeps == [1.0, 3.0]


def test_limits_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("PROMPTCLIMB_LLM_RPM", raising=False)
    monkeypatch.setenv("PROMPTCLIMB_LLM_TPM", "90000")
    assert env_limits() == (None, 90000.0)
    monkeypatch.setenv("PROMPTCLIMB_LLM_RPM", "0")
    with pytest.raises(BackendError, match="PROMPTCLIMB_LLM_RPM must be a number > 0, got '0'"):
        env_limits()


# -- several threads against a server that refuses requests above its rate ---------------------------


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    monkeypatch.setenv(KEY_ENV, "sk-test")
    monkeypatch.delenv("PROMPTCLIMB_LLM_RPM", raising=False)
    monkeypatch.delenv("PROMPTCLIMB_LLM_TPM", raising=False)
    with FakeOpenAIServer() as fake:
        yield fake


def ask_from_threads(server: FakeOpenAIServer, threads: int, calls: int, **limits: float) -> list[list[str]]:
    """``threads`` proposers sharing one backend (as concurrent bench cells do), ``calls`` requests each."""
    results: list[list[str]] = [[] for _ in range(threads)]
    with open_backend(
        "openai:fake-model", base_url=server.base_url, api_key_env=KEY_ENV, **limits
    ) as backend:

        def work(k: int) -> None:
            proposer = Proposer(backend, max_retries=20, max_reasks=0)
            for _ in range(calls):
                results[k] += proposer.propose(MESSAGES, 1, set()).templates

        pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join(timeout=60)
    return results


def test_a_limit_below_the_servers_rate_gets_no_429(server: FakeOpenAIServer) -> None:
    limited = RateLimited(limit=6, window_s=1.0)  # the server: 360 requests a minute
    server.default_chat = limited
    start = time.monotonic()
    results = ask_from_threads(server, threads=4, calls=4, rpm=300)
    elapsed = time.monotonic() - start
    assert all(r == ["a photo of a {}."] * 4 for r in results)  # every call succeeded
    assert limited.count(429) == 0 and limited.count(200) == 16
    assert elapsed >= 15 * 60 / 300 - 0.05  # 16 requests, one every 0.2 s


def slow_reply(request: object) -> Response:
    reply = templates_reply("a photo of a {}.")
    reply.delay_s = 0.2  # a request admitted just before a 429 is still on its way when the pause starts
    return reply


def test_a_429_pauses_every_thread_until_retry_after(server: FakeOpenAIServer) -> None:
    limited = RateLimited(limit=3, window_s=1.0, reply=slow_reply)  # no client limit: only 429s pace us
    server.default_chat = limited
    results = ask_from_threads(server, threads=4, calls=3)
    assert all(r == ["a photo of a {}."] * 3 for r in results)
    assert limited.count(200) == 12
    # No storm: after a 429 nobody asks until its Retry-After (1 s) is over, so each pause costs at most
    # one 429 per thread (the requests already on their way when it began).
    refused = [at for at, status in limited.answers if status == 429]
    for at in refused:
        during = [t for t, _ in limited.answers if at + 0.05 < t < at + 0.95]
        assert during == [], f"requests during a pause: {len(during)}"
    assert 0 < len(refused) <= 4 * 4  # 12 calls at 3 a second: about 4 pauses, each <= 4 refusals


def test_a_concurrency_bound_queues_callers_one_at_a_time() -> None:
    limiter = RateLimiter("embedded", concurrency=1)
    inside, overlaps, lock = [0], [], threading.Lock()

    def request() -> None:
        with limiter.slot():
            with lock:
                inside[0] += 1
                overlaps.append(inside[0])
            time.sleep(0.02)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=request) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == [1] * 6


def test_the_run_options_reach_the_shared_limiter(tiny_clip) -> None:
    from promptclimb.cli.main import config_from_args, parser
    from promptclimb.session.classify import open_models
    from tests.conftest import DEMO_DATA

    argv = [
        "run",
        "--data",
        str(DEMO_DATA),
        "--clip",
        str(tiny_clip),
        "--llm",
        "scripted:",
        "--space",
        "templates",
    ]
    config = config_from_args(parser().parse_args([*argv, "--llm-rpm", "600", "--llm-tpm", "90000"]))
    assert (config.llm_rpm, config.llm_tpm) == (600, 90000)
    with open_models(config) as (_, backend):
        assert backend.limiter is not None and (backend.limiter.rpm, backend.limiter.tpm) == (600, 90000)
    with open_models(config.model_copy(update={"llm_rpm": None, "llm_tpm": None})) as (_, backend):
        assert backend.limiter is None  # scripted: no limit unless asked
