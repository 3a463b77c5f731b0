"""Is an LLM server there at all? Asked before a run directory is created and its pool scored.

A TCP connection to the server's host and port, nothing more: no request is sent, no key is read, and a
server that answers with an error is reachable (the proposer's retries and messages deal with that).
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from promptclimb.llm.errors import BackendError

DEFAULT_PORTS = {"http": 80, "https": 443}


def check_reachable(base_url: str, timeout_s: float = 5.0) -> None:
    """Raise BackendError (one line) when nothing listens at ``base_url``."""
    parts = urlsplit(base_url)
    try:
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:  # a port that is not a number
        port = None
    if not parts.hostname or port is None:
        raise BackendError(f"LLM base URL {base_url!r} is not an http(s)://HOST[:PORT] address")
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout_s).close()
    except OSError as exc:
        raise BackendError(
            f"LLM endpoint {base_url} is unreachable ({exc.strerror or type(exc).__name__}); "
            "nothing was created or spent"
        ) from None
