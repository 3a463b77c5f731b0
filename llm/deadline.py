"""An overall deadline per HTTP request, for the chat clients.

httpx's timeouts are per operation: a server that sends its headers and then one byte a second never trips a
120 s read timeout, and would hold a run for hours. This transport also gives the whole reply a deadline; on
expiry it raises httpx.ReadTimeout, which the proposer retries or pauses on like any other timeout.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx


class DeadlineTransport(httpx.BaseTransport):
    """Wraps a transport: the response body must be complete within ``deadline_s`` of the request."""

    def __init__(self, deadline_s: float, inner: httpx.BaseTransport | None = None) -> None:
        self.deadline_s = deadline_s
        self.inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = time.monotonic() + self.deadline_s
        response = self.inner.handle_request(request)
        response.stream = _DeadlineStream(response.stream, deadline, self.deadline_s, request)
        return response

    def close(self) -> None:
        self.inner.close()


class _DeadlineStream(httpx.SyncByteStream):
    def __init__(self, stream: object, deadline: float, deadline_s: float, request: httpx.Request) -> None:
        self.stream = stream
        self.deadline = deadline
        self.deadline_s = deadline_s
        self.request = request

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.stream:  # type: ignore[attr-defined]
            if time.monotonic() > self.deadline:
                raise httpx.ReadTimeout(
                    f"no complete reply within {self.deadline_s:.0f} s", request=self.request
                )
            yield chunk

    def close(self) -> None:
        close = getattr(self.stream, "close", None)
        if close is not None:
            close()


def deadline_client(deadline_s: float, *, trust_env: bool = True) -> httpx.Client:
    """An httpx client whose every request has an overall deadline (for ChatOpenAI's ``http_client``)."""
    return httpx.Client(transport=DeadlineTransport(deadline_s), trust_env=trust_env)
