"""A scriptable fake OpenAI-compatible HTTP server for tests (stdlib only, 127.0.0.1, free port, a thread).

Each request is answered by the route for its method and path. Chat completions are scripted per request:
queue ``Response`` objects (or callables taking the RecordedRequest) and they are served in order; when the
queue is empty ``default_chat`` answers. Every request is recorded (``server.requests``). Add a route for
another endpoint with ``server.route("POST", "/v1/images/generations", handler)``::

    with FakeOpenAIServer() as server:
        server.script_chat(error_reply(429, "slow down", headers={"Retry-After": "2"}), chat_reply("hi"))
        ...  # point a client at server.base_url
        assert server.requests[-1].json["model"] == "fake-model"
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float  # time.monotonic()

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None


@dataclass
class Response:
    status: int = 200
    body: bytes | str | dict | list = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # sleep before answering (beyond a client timeout: a timeout)
    drop: bool = False  # close the connection without answering

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, dict | list):
            return json.dumps(self.body).encode(), "application/json"
        if isinstance(self.body, str):
            return self.body.encode("utf-8", "surrogatepass"), "text/plain; charset=utf-8"
        return self.body, "application/octet-stream"


Handler = Callable[[RecordedRequest], Response]
_ids = itertools.count(1)


def chat_reply(
    content: str,
    *,
    prompt_tokens: int = 11,
    completion_tokens: int = 7,
    model: str = "fake-model",
    finish_reason: str = "stop",
) -> Response:
    """A successful chat completion whose assistant message is ``content``."""
    return Response(
        body={
            "id": f"chatcmpl-fake-{next(_ids)}",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
    )


def templates_reply(*templates: str, **kwargs: Any) -> Response:
    """A chat completion answering {"templates": [...]}."""
    return chat_reply(json.dumps({"templates": list(templates)}), **kwargs)


def error_reply(status: int, message: str, *, headers: dict[str, str] | None = None) -> Response:
    """An OpenAI-style error body."""
    error = {"message": message, "type": "fake_error", "param": None, "code": None}
    return Response(status=status, body={"error": error}, headers=headers or {})


class RateLimited:
    """A chat handler that answers ``reply`` to at most ``limit`` requests in any ``window_s`` seconds and
    429 above that, with Retry-After (whole seconds, as most providers send it) until a slot frees.

        server.default_chat = limited = RateLimited(limit=4, window_s=1.0)
        ...
        limited.answers  # (monotonic time, status) per request, in order
    """

    def __init__(self, limit: int, window_s: float, reply: Handler | None = None) -> None:
        self.limit = limit
        self.window_s = window_s
        self.reply = reply or (lambda request: templates_reply("a photo of a {}."))
        self.answers: list[tuple[float, int]] = []
        self._accepted: deque[float] = deque()
        self._lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> Response:
        with self._lock:
            now = time.monotonic()
            while self._accepted and self._accepted[0] <= now - self.window_s:
                self._accepted.popleft()
            if len(self._accepted) >= self.limit:
                wait = self._accepted[0] + self.window_s - now
                self.answers.append((now, 429))
                retry_after = str(max(1, math.ceil(wait)))
                return error_reply(429, "rate limit reached", headers={"Retry-After": retry_after})
            self._accepted.append(now)
            self.answers.append((now, 200))
        return self.reply(request)

    def count(self, status: int) -> int:
        return sum(1 for _, s in self.answers if s == status)


class FakeOpenAIServer:
    def __init__(self, model: str = "fake-model") -> None:
        self.model = model
        self.requests: list[RecordedRequest] = []
        self.chat_queue: deque[Response | Handler] = deque()
        self.default_chat: Handler = lambda request: templates_reply("a photo of a {}.")
        self._routes: dict[tuple[str, str], Handler] = {
            ("GET", "/v1/models"): self._models,
            ("POST", "/v1/chat/completions"): self._chat,
        }
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- configuration ------------------------------------------------------------------------------

    def route(self, method: str, path: str, handler: Handler) -> None:
        self._routes[(method.upper(), path)] = handler

    def script_chat(self, *responses: Response | Handler) -> None:
        self.chat_queue.extend(responses)

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping through a scripted delay
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- default routes -----------------------------------------------------------------------------

    def _models(self, request: RecordedRequest) -> Response:
        return Response(
            body={"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "me"}]}
        )

    def _chat(self, request: RecordedRequest) -> Response:
        with self._lock:
            scripted = self.chat_queue.popleft() if self.chat_queue else self.default_chat
        return scripted if isinstance(scripted, Response) else scripted(request)

    # -- dispatch (called by the handler threads) ---------------------------------------------------

    def _dispatch(self, request: RecordedRequest) -> Response:
        with self._lock:
            self.requests.append(request)
        handler = self._routes.get((request.method, request.path.split("?", 1)[0]))
        if handler is None:
            return error_reply(404, f"no route for {request.method} {request.path}")
        response = handler(request)
        if response.delay_s:
            self._stopping.wait(response.delay_s)
        return response


def _make_handler(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = RecordedRequest(
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                received_at=time.monotonic(),
            )
            response = server._dispatch(request)
            if response.drop:
                self.close_connection = True
                return
            payload, content_type = response.encoded()
            try:
                self.send_response(response.status)
                self.send_header("Content-Type", response.headers.get("Content-Type", content_type))
                self.send_header("Content-Length", str(len(payload)))
                for name, value in response.headers.items():
                    if name.lower() != "content-type":
                        self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout): nothing to answer

        do_GET = do_POST = do_PUT = do_DELETE = _handle

    return _Handler
