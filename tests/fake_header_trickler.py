"""A server that trickles its status line and headers, one byte every ``every_s`` seconds, and never ends them
(127.0.0.1, free port, daemon threads): httpx's per-read timeouts never trip on it."""

from __future__ import annotations

import socket
import threading
import time


class SlowServer:
    """A loopback server answering every connection in a thread of its own with ``trickle``."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.requests = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.trickle, args=(conn,), daemon=True).start()

    def trickle(self, conn: socket.socket) -> None:
        raise NotImplementedError


class HeaderTrickler(SlowServer):
    def __init__(self, every_s: float = 1.0, for_s: float = 60.0) -> None:
        self.every_s, self.for_s = every_s, for_s  # for_s: then it hangs up, so a failing test ends
        super().__init__()

    def trickle(self, conn: socket.socket) -> None:
        self.requests += 1
        with conn:
            conn.recv(65536)
            head = b"HTTP/1.1 200 OK\r\n" + b"X-Padding: slow\r\n" * 10_000
            try:
                for byte in head[: int(self.for_s / self.every_s)]:
                    conn.sendall(bytes([byte]))
                    time.sleep(self.every_s)
            except OSError:
                return

    def __enter__(self) -> HeaderTrickler:
        return self

    def __exit__(self, *_: object) -> None:
        self.sock.close()
