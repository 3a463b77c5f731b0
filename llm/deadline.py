"""An overall deadline per HTTP request, for the chat clients, and Ctrl-C that reaches a request in flight.

httpx's timeouts are per operation: a server that trickles its status line, headers or body one byte a second
never trips a 120 s read timeout, and would hold a run for hours. Here the whole exchange (connect, headers,
body) has one deadline: socket reads are made in short slices against it, and on expiry httpx.ReadTimeout is
raised, which the proposer retries or pauses on like any other timeout.

LangGraph runs a node in a worker thread, where Python delivers no KeyboardInterrupt: the main thread gets
Ctrl-C, then waits for the worker stuck in its socket. So a Ctrl-C also marks every request in flight as
interrupted, and each raises RequestInterrupted (a KeyboardInterrupt) within one slice.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpcore
import httpx

SLICE_S = 0.25  # the longest a socket read blocks before the deadline and Ctrl-C are looked at again

_T = TypeVar("_T")
_interrupts = 0  # how many Ctrl-C this process has had (a request started before the last one stops)
_watched = threading.local()  # the request this thread is making: its _Watch


class RequestInterrupted(KeyboardInterrupt):
    """Ctrl-C arrived while this (worker) thread waited on a server."""


@dataclass(frozen=True)
class _Watch:
    deadline: float  # time.monotonic() by which the reply must be complete
    deadline_s: float
    interrupts: int  # _interrupts when the request started

    def check(self) -> float:
        """Seconds left; raises when Ctrl-C came since the request started or the deadline passed."""
        if _interrupts != self.interrupts:
            raise RequestInterrupted("interrupted by the user")
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout(f"no complete reply within {self.deadline_s:.0f} s")
        return left


def interrupt_requests() -> None:
    """End every request and backoff in flight, in any thread, within a slice (Ctrl-C, SIGTERM)."""
    global _interrupts
    _interrupts += 1


def _on_sigint(signum: int, frame: Any) -> None:
    interrupt_requests()
    signal.default_int_handler(signum, frame)  # the usual KeyboardInterrupt in the main thread


def interruptible_sleep(seconds: float) -> None:
    """time.sleep in slices: a Ctrl-C since the sleep began ends it (RequestInterrupted), in a worker thread
    too, where Python delivers no KeyboardInterrupt; a backoff of a minute must not hold up a pause."""
    start, ends = _interrupts, time.monotonic() + seconds
    while (left := ends - time.monotonic()) > 0:
        if _interrupts != start:
            raise RequestInterrupted("interrupted by the user")
        time.sleep(min(SLICE_S, left))
    if _interrupts != start:
        raise RequestInterrupted("interrupted by the user")


def watch_interrupts() -> None:
    """Let Ctrl-C reach requests in worker threads: only where Python's default handler is in place (nobody
    else handles SIGINT), and only from the main thread (Python's rule)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)


def _sliced(operation: Callable[[float | None], _T], timeout: float | None) -> _T:
    """``operation(timeout)``, a socket read, in slices: the deadline and Ctrl-C are seen while it waits."""
    watch: _Watch | None = getattr(_watched, "watch", None)
    if watch is None:
        return operation(timeout)
    ends = time.monotonic() + timeout if timeout is not None else float("inf")
    while True:
        left = watch.check()
        own = ends - time.monotonic()  # the operation's own timeout (httpx's per-read one)
        if own <= 0:
            raise httpcore.ReadTimeout("timed out")
        try:
            return operation(min(SLICE_S, left, own))
        except httpcore.ReadTimeout:
            continue  # nothing came in this slice: look at the clock and Ctrl-C, then wait again


def _clamped(timeout: float | None) -> float | None:
    """A blocking operation that cannot be sliced (connect, write) ends by the deadline at the latest."""
    watch: _Watch | None = getattr(_watched, "watch", None)
    if watch is None:
        return timeout
    left = watch.check()
    return left if timeout is None else min(timeout, left)


class _WatchedStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self.inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return _sliced(lambda slice_s: self.inner.read(max_bytes, slice_s), timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, _clamped(timeout))  # a partly sent buffer cannot be retried

    def close(self) -> None:
        self.inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _WatchedStream(self.inner.start_tls(ssl_context, server_hostname, _clamped(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class _WatchedBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self.inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, **options: Any) -> Any:
        return _WatchedStream(self.inner.connect_tcp(host, port, _clamped(timeout), **options))

    def connect_unix_socket(self, path: str, timeout: float | None = None, **options: Any) -> Any:
        return _WatchedStream(self.inner.connect_unix_socket(path, _clamped(timeout), **options))

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


class DeadlineTransport(httpx.BaseTransport):
    """Wraps a transport: connect, status line, headers and body must all come within ``deadline_s``."""

    def __init__(self, deadline_s: float, inner: httpx.HTTPTransport | None = None) -> None:
        self.deadline_s = deadline_s
        self.inner = inner or httpx.HTTPTransport()
        pool = getattr(self.inner, "_pool", None)  # httpx keeps its httpcore pool here (pinned in tests)
        if pool is not None and hasattr(pool, "_network_backend"):
            pool._network_backend = _WatchedBackend(pool._network_backend)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        watch = _Watch(time.monotonic() + self.deadline_s, self.deadline_s, _interrupts)
        previous, _watched.watch = getattr(_watched, "watch", None), watch
        try:
            response = self.inner.handle_request(request)
        finally:
            _watched.watch = previous
        response.stream = _DeadlineStream(response.stream, watch, request)
        return response

    def close(self) -> None:
        self.inner.close()


class _DeadlineStream(httpx.SyncByteStream):
    def __init__(self, stream: object, watch: _Watch, request: httpx.Request) -> None:
        self.stream = stream
        self.watch = watch
        self.request = request

    def __iter__(self) -> Iterator[bytes]:
        chunks = iter(self.stream)  # type: ignore[call-overload]
        while True:
            previous, _watched.watch = getattr(_watched, "watch", None), self.watch  # only while reading
            try:
                chunk = next(chunks)
                self.watch.check()
            except StopIteration:
                return
            except httpcore.ReadTimeout as exc:
                raise httpx.ReadTimeout(str(exc), request=self.request) from None
            finally:
                _watched.watch = previous
            yield chunk

    def close(self) -> None:
        close = getattr(self.stream, "close", None)
        if close is not None:
            close()


def deadline_client(deadline_s: float, *, trust_env: bool = True) -> httpx.Client:
    """An httpx client whose every request has an overall deadline (for ChatOpenAI's ``http_client``)."""
    watch_interrupts()
    return httpx.Client(transport=DeadlineTransport(deadline_s), trust_env=trust_env)
