"""Loopback origins for the scheduler's policies: scripted failures, request start log.

Each :class:`Origin` listens on its own loopback address (127.0.0.2,
127.0.0.3 ... are distinct hosts to the scheduler) and records when every
request arrived. Endpoints:

- ``/ok`` 200 "ok";
- ``/flaky?key=K&fail=N&code=503&retry_after=V`` answers ``code`` (with
  ``Retry-After: V`` when given) to the first N requests with that key, then 200;
- ``/redirect?to=URL`` 302 to URL;
- ``/close?key=K&fail=N`` closes the connection without answering N times, then 200.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str) -> None:
        super().__init__((host, 0), _Handler)
        self.lock = threading.Lock()
        self.starts: list[tuple[float, str]] = []
        self.seen: Counter[str] = Counter()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(
        self, code: int, body: bytes = b"ok", headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        self._handle()

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        server = self.server
        with server.lock:
            server.starts.append((time.monotonic(), self.path))
            key = f"{parts.path}:{query.get('key', '')}"
            server.seen[key] += 1
            count = server.seen[key]
        failing = count <= int(query.get("fail", "0"))
        if parts.path == "/flaky" and failing:
            headers = {}
            if "retry_after" in query:
                headers["Retry-After"] = query["retry_after"]
            self._answer(int(query.get("code", "503")), b"try later", headers)
        elif parts.path == "/close" and failing:
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(2)
        elif parts.path == "/redirect":
            self._answer(302, b"", {"Location": query["to"]})
        else:
            self._answer(200, b"ok")


class Origin:
    """A running loopback server: its base URL, host, and the start times it saw."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        self.host = str(server.server_address[0])
        self.port = int(server.server_address[1])
        self.url = f"http://{self.host}:{self.port}"

    def starts(self, path_prefix: str = "") -> list[float]:
        """Arrival times (monotonic) of requests whose path starts with ``path_prefix``."""
        with self._server.lock:
            return [t for t, p in self._server.starts if p.startswith(path_prefix)]

    def paths(self) -> list[str]:
        """Request paths (with queries) in arrival order."""
        with self._server.lock:
            return [p for _, p in self._server.starts]

    def count(self, path_prefix: str = "") -> int:
        return len(self.starts(path_prefix))


@contextmanager
def origins(n: int = 1, first: int = 2) -> Iterator[list[Origin]]:
    """``n`` origins on 127.0.0.<first>, 127.0.0.<first + 1> ..."""
    servers = [_Server(f"127.0.0.{first + i}") for i in range(n)]
    threads = [
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        for s in servers
    ]
    for thread in threads:
        thread.start()
    try:
        yield [Origin(s) for s in servers]
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
