"""``netstack serve``: a small local origin to try netstack against (the README's tour uses it).

Endpoints, in the shape of httpbin's: ``/get`` and ``/anything`` (any method)
echo the request as JSON (``method``, ``args``, ``headers``, ``data``,
``json``, ``url``); ``/post``, ``/put``, ``/patch`` and ``/delete`` the same
for their method; ``/cache/N`` is fresh for N seconds (``Cache-Control:
max-age=N``, an ``ETag``); ``/status/N`` answers status N; ``/delay/MS``
answers after MS milliseconds (at most 10 s). It listens on loopback only.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

__all__ = ["EXAMPLES", "add_arguments", "make_server", "run"]

EXAMPLES = """\
examples:
  netstack serve                       http://127.0.0.1:8000 until Ctrl-C
  netstack serve --port 0              any free port (printed on stdout)
  netstack get 127.0.0.1:8000/get      in another terminal
"""

_METHOD_PATHS: Final = {"/post": "POST", "/put": "PUT", "/patch": "PATCH", "/delete": "DELETE"}
_MAX_DELAY_MS: Final = 10_000


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "netstack-serve"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: one line per request would drown the terminal of a crawler."""

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _echo(self, url: Any, data: bytes) -> None:
        text = data.decode("utf-8", "replace")
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        echo = {
            "method": self.command,
            "args": {k: v[0] if len(v) == 1 else v for k, v in parse_qs(url.query).items()},
            "headers": dict(self.headers.items()),
            "data": text,
            "json": parsed,
            "url": f"http://{self.headers.get('Host', '')}{self.path}",
        }
        body = json.dumps(echo, indent=2).encode()
        self._send(200, body, {"Content-Type": "application/json"})

    def _handle(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length > 0 else b""
        path = url.path.rstrip("/") or "/"
        head, _, tail = path[1:].partition("/")
        echoes = path in ("/get", "/anything") or head == "anything"
        if echoes or _METHOD_PATHS.get(path) == self.command:
            self._echo(url, data)
        elif head == "cache" and tail.isdigit():
            headers = {
                "Content-Type": "application/json",
                "Cache-Control": f"max-age={int(tail)}",
                "ETag": f'"{tail}"',
            }
            self._send(200, json.dumps({"fresh_for": int(tail)}).encode(), headers)
        elif head == "status" and tail.isdigit() and 200 <= int(tail) <= 599:
            self._send(int(tail), f"status {tail}\n".encode(), {"Content-Type": "text/plain"})
        elif head == "delay" and tail.isdigit():
            time.sleep(min(int(tail), _MAX_DELAY_MS) / 1000)
            self._send(200, f"waited {tail} ms\n".encode(), {"Content-Type": "text/plain"})
        else:
            self._send(404, b"not found\n", {"Content-Type": "text/plain"})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


def make_server(port: int = 8000, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """The origin, bound and ready for ``serve_forever()``."""
    server = ThreadingHTTPServer((host, port), _Handler)
    server.daemon_threads = True
    return server


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``serve``."""
    parser.add_argument(
        "--port", type=int, default=8000, help="the port on 127.0.0.1 (default 8000; 0: any)"
    )


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C or SIGTERM; print the base URL first."""
    try:
        server = make_server(args.port)
    except OSError as exc:
        print(f"netstack: cannot listen on 127.0.0.1:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    print(f"serving on http://127.0.0.1:{server.server_address[1]} (Ctrl-C stops)", flush=True)
    thread = threading.Thread(target=server.serve_forever, name="netstack-serve", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.5)
    finally:
        server.shutdown()
        server.server_close()
    return 0
