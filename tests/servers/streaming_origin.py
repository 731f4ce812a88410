"""An HTTP/1.1 origin for event and streaming tests: chunked, sized, slow, huge, uploads.

Endpoints (all GET unless noted):
``/chunked?n=K&size=S`` K chunks of S bytes, chunked encoding;
``/length?size=N`` N bytes with Content-Length; ``/empty`` 200 with no body;
``/nocontent`` 204; ``/notmodified`` 304; ``/slow?chunks=K&ms=D`` K chunks of
1 KiB, D ms apart; ``/redirect?to=PATH`` 302; ``/cacheable`` fresh for 10 minutes (counted in
``_Handler.cacheable_hits``); POST ``/upload`` reads the body
and answers with its length.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

BLOCK = bytes(range(256)) * 256  # 64 KiB of a recognisable pattern


def pattern(size: int) -> bytes:
    """The first ``size`` bytes the origin sends for ``/length`` and ``/chunked``."""
    whole, rest = divmod(size, len(BLOCK))
    return BLOCK * whole + BLOCK[:rest]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    #: How many times ``/cacheable`` reached the origin.
    cacheable_hits = 0

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _query(self) -> tuple[str, dict[str, int | str]]:
        url = urlsplit(self.path)
        query = {k: (int(v[0]) if v[0].isdigit() else v[0]) for k, v in parse_qs(url.query).items()}
        return url.path, query

    def _head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def do_GET(self) -> None:
        path, q = self._query()
        if path == "/chunked":
            self._head(200, {"Transfer-Encoding": "chunked", "Content-Type": "application/x-test"})
            size = int(q.get("size", 1024))
            sent = 0
            for _ in range(int(q.get("n", 4))):
                chunk = pattern(sent + size)[sent:]
                sent += size
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/length":
            size = int(q.get("size", 1024))
            self._head(200, {"Content-Length": str(size), "Content-Type": "application/x-test"})
            remaining = size
            while remaining > 0:
                block = BLOCK[: min(remaining, len(BLOCK))]
                self.wfile.write(block)
                remaining -= len(block)
        elif path == "/empty":
            self._head(200, {"Content-Length": "0"})
        elif path == "/nocontent":
            self._head(204, {})
        elif path == "/notmodified":
            self._head(304, {"ETag": '"x"'})
        elif path == "/slow":
            chunks, delay = int(q.get("chunks", 10)), int(q.get("ms", 100)) / 1000
            self._head(200, {"Content-Length": str(chunks * 1024)})
            for _ in range(chunks):
                self.wfile.write(b"s" * 1024)
                self.wfile.flush()
                time.sleep(delay)
        elif path == "/cacheable":
            type(self).cacheable_hits += 1
            body = b"cached body"
            self._head(
                200,
                {"Content-Length": str(len(body)), "Cache-Control": "max-age=600", "ETag": '"c1"'},
            )
            self.wfile.write(body)
        elif path == "/redirect":
            self._head(302, {"Location": str(q.get("to", "/length")), "Content-Length": "0"})
        else:
            self._head(404, {"Content-Length": "0"})

    def do_HEAD(self) -> None:
        self._head(200, {"Content-Length": "1234", "Content-Type": "text/plain"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        remaining = length
        while remaining > 0:
            data = self.rfile.read(min(remaining, 1 << 16))
            if not data:
                break
            remaining -= len(data)
        body = str(length - remaining).encode()
        self._head(200, {"Content-Length": str(len(body)), "Content-Type": "text/plain"})
        self.wfile.write(body)


@contextmanager
def streaming_origin(host: str = "127.0.0.1") -> Iterator[str]:
    """Serve on ``host`` (any 127.x address) on a free port; yield the base URL; always stop."""
    server = ThreadingHTTPServer((host, 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="streaming-origin", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
