"""One rate limiter per provider endpoint, shared by every thread of the process (concurrent bench cells).

A limiter spaces requests evenly: ``rpm`` requests and ``tpm`` tokens per minute at most, in any window,
give or take one request. Each request books its start time under a lock (the scheme of a generic cell
rate algorithm: the next request may start when the previous one's share of the minute is spent), then
sleeps outside the lock until then. Tokens are booked from an estimate before the call and corrected with
the usage the server reports after it. Even spacing rather than a minute's burst: providers enforce their
per-minute limits over shorter windows too.

``concurrency`` bounds the requests in flight: the embedded llama.cpp server answers one request at a time
(llama-cpp-python 0.3.36 has one model behind a lock and no parallel slots), so concurrent cells queue here
instead of at the server, where their waiting would count against each request's deadline.

A 429 (or any answer with Retry-After) pauses the whole endpoint, not only the caller that got it: every
concurrent caller waits out the pause before its next request, so N cells do not each collect their own
429 (a storm). With no limit configured a limiter is only that shared pause.

Limits come from the run's configuration (``--llm-rpm``, ``--llm-tpm``) or, for any remote provider, from
$PROMPTCLIMB_LLM_RPM and $PROMPTCLIMB_LLM_TPM. Local servers (local:, gguf:) and scripted: have none unless
given explicitly.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from promptclimb.llm.errors import BackendError

RPM_ENV = "PROMPTCLIMB_LLM_RPM"
TPM_ENV = "PROMPTCLIMB_LLM_TPM"
CHARS_PER_TOKEN = 4  # a rough tokenizer: English text and our JSON run at about 4 characters per token
DEFAULT_OUTPUT_TOKENS = 512  # booked for the reply when the request sets no max_tokens

Sleep = Callable[[float], None]


@dataclass
class Booking:
    """One request's reservation: the tokens booked for it, corrected by ``settle``."""

    tokens: int
    start: float  # the clock time it was allowed to start


class RateLimiter:
    """Requests and tokens per minute for one endpoint; thread safe."""

    def __init__(
        self,
        name: str,
        rpm: float | None = None,
        tpm: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        concurrency: int | None = None,
    ) -> None:
        self.name = name
        self.rpm = rpm
        self.tpm = tpm
        self.clock = clock
        self._slots = threading.BoundedSemaphore(concurrency) if concurrency else None
        self._lock = threading.Lock()
        self._next_request = 0.0  # the earliest start of the next request
        self._tokens_paid_at = 0.0  # when the tokens booked so far are within the per-minute rate
        self._paused_until = 0.0

    def acquire(self, tokens: int, sleep: Sleep = time.sleep, *, waited_until: float = 0.0) -> Booking:
        """Wait until a request of about ``tokens`` tokens may start, and book it.

        ``waited_until``: the end of the pause this caller started and has already slept through itself
        (``pause``'s return); a pause no longer than that does not hold it again.
        """
        with self._lock:
            now = self.clock()
            start = now
            if self._paused_until > waited_until:
                start = max(start, self._paused_until)
            if self.rpm:
                start = max(start, self._next_request)
                self._next_request = start + 60.0 / self.rpm
            if self.tpm:
                start = max(start, self._tokens_paid_at)
                self._tokens_paid_at = start + tokens * 60.0 / self.tpm
        if start > now:
            sleep(start - now)
        self._wait_out_pauses(start, waited_until, sleep)
        return Booking(tokens, start)

    def _wait_out_pauses(self, believed_now: float, waited_until: float, sleep: Sleep) -> None:
        """A pause that began while we waited for our turn (another caller's 429) holds us too.

        ``believed_now`` advances by what we slept, so an injected sleep that does not pass time still ends.
        """
        while True:
            with self._lock:
                until = self._paused_until
                left = until - max(self.clock(), believed_now) if until > waited_until else 0.0
            if left <= 0:
                return
            sleep(left)
            believed_now += left

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the ``concurrency`` request slots for the ``with`` block (no bound: a no-op)."""
        if self._slots is None:
            yield
            return
        with self._slots:
            yield

    def settle(self, booking: Booking, tokens_used: int) -> None:
        """Correct the booked tokens with what the server says the request used (when it says)."""
        if self.tpm and tokens_used > 0:
            with self._lock:
                self._tokens_paid_at += (tokens_used - booking.tokens) * 60.0 / self.tpm

    def pause(self, seconds: float) -> float:
        """No request of this endpoint starts in the next ``seconds`` (Retry-After, or a 429's backoff);
        returns when this pause ends, for the caller that waits it out itself (``acquire``'s waited_until)."""
        with self._lock:
            until = self.clock() + seconds
            self._paused_until = max(self._paused_until, until)
            return until

    def configure(self, rpm: float | None, tpm: float | None) -> None:
        with self._lock:
            self.rpm, self.tpm = rpm, tpm


_limiters: dict[str, RateLimiter] = {}
_limiters_lock = threading.Lock()


def shared_limiter(
    provider: str,
    base_url: str | None,
    rpm: float | None,
    tpm: float | None,
    concurrency: int | None = None,
) -> RateLimiter:
    """The process-wide limiter of this provider and endpoint (created on first use; rates updated)."""
    key = f"{provider}|{base_url or ''}"
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            limiter = _limiters[key] = RateLimiter(key, rpm, tpm, concurrency=concurrency)
        elif (limiter.rpm, limiter.tpm) != (rpm, tpm):
            limiter.configure(rpm, tpm)
        return limiter


def env_limits() -> tuple[float | None, float | None]:
    """$PROMPTCLIMB_LLM_RPM and $PROMPTCLIMB_LLM_TPM (None where unset)."""
    return _env_number(RPM_ENV), _env_number(TPM_ENV)


def _env_number(name: str) -> float | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise BackendError(f"{name} must be a number > 0, got {text!r}")
    return value


def estimate_tokens(texts: list[str], max_output_tokens: int | None) -> int:
    """Tokens a request will count against the limit, before it is sent: its text, and the reply's cap."""
    prompt = sum(len(text) for text in texts) // CHARS_PER_TOKEN + 1
    return prompt + (max_output_tokens or DEFAULT_OUTPUT_TOKENS)
