"""Loopback peers for the TLS, HTTP/2, encoding and upload tests.

- :func:`echo_server`: a threaded ``http.server`` (HTTP/1.1 keep-alive), plain
  or TLS through any ``ssl.SSLContext`` (so a test can require a client
  certificate); it records every request and counts accepted connections.
- :func:`h2_server`: hypercorn serving TLS with h2 (or only http/1.1) on
  127.0.0.1; its ASGI app records each request's ``http_version``.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import socket
import ssl
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import brotli
import trustme

try:
    from compression import zstd  # type: ignore[import-not-found]
except ImportError:  # Python < 3.14
    from backports import zstd


def compress(data: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.compress(data, compresslevel=9)
    if encoding == "deflate":
        return zlib.compress(data, 9)
    if encoding == "br":
        return bytes(brotli.compress(data, quality=4))
    if encoding == "zstd":
        return bytes(zstd.compress(data))
    return data


@dataclass
class Seen:
    """One request as the echo server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_subject: Any = None


@dataclass
class EchoServer:
    url: str
    requests: list[Seen] = field(default_factory=list)
    connections: int = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        peer = getattr(self.connection, "getpeercert", None)
        seen = Seen(self.command, self.path, dict(self.headers), body, peer() if peer else None)
        self.server.record.requests.append(seen)
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        status, headers, payload = 200, {"Content-Type": "application/json"}, b""
        if parts.path == "/redirect":
            status, headers = 302, {"Location": query["to"]}
        elif parts.path == "/encoded":
            enc = query.get("enc", "identity")
            payload = compress(b"\0" * int(query.get("n", "0")) or b"hello " * 100, enc)
            headers = {"Content-Type": "application/octet-stream", "Content-Encoding": enc}
        else:
            payload = json.dumps(
                {"method": self.command, "path": self.path, "length": len(body)}
            ).encode()
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    record: EchoServer
    tls: ssl.SSLContext | None = None

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        self.record.connections += 1
        return sock, addr

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        try:
            wrapped = self.tls.wrap_socket(request, server_side=True)
        except OSError:  # ssl.SSLError too: the client refused us, as tests intend
            return
        try:
            super().finish_request(wrapped, client_address)
        except OSError:
            pass
        finally:
            wrapped.close()


@contextmanager
def echo_server(tls: ssl.SSLContext | None = None) -> Iterator[EchoServer]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.tls = tls
    port = server.server_address[1]
    server.record = EchoServer(f"{'https' if tls else 'http'}://127.0.0.1:{port}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server.record
    finally:
        server.shutdown()
        server.server_close()


def server_context(ca: trustme.CA, *hosts: str) -> tuple[ssl.SSLContext, trustme.LeafCert]:
    leaf = ca.issue_cert(*(hosts or ("127.0.0.1", "localhost")))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(context)
    return context, leaf


# -- hypercorn (h2) ------------------------------------------------------------


@dataclass
class H2Server:
    url: str
    versions: list[str] = field(default_factory=list)
    #: The client (address, port) of every request: one per connection.
    clients: set[tuple[str, int]] = field(default_factory=set)
    #: The Priority header of every request (None when absent).
    priorities: list[str | None] = field(default_factory=list)
    #: Requests being answered now, and the most at once.
    active: int = 0
    peak: int = 0


async def _pace(record: H2Server, query: dict[str, list[str]]) -> None:
    """``?hold=N``: answer once N requests are in flight (at most 10 s); ``?ms=N``: sleep."""
    record.active += 1
    record.peak = max(record.peak, record.active)
    try:
        hold = int(query.get("hold", ["0"])[0])
        for _ in range(1000):
            if record.peak >= hold:  # reached once: everyone goes
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(int(query.get("ms", ["0"])[0]) / 1000)
    finally:
        record.active -= 1


@contextmanager
def h2_server(
    ca: trustme.CA, tmp: Any, *, alpn: tuple[str, ...] = ("h2", "http/1.1")
) -> Iterator[H2Server]:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    leaf = ca.issue_cert("127.0.0.1", "localhost")
    cert, key = tmp / "h2-cert.pem", tmp / "h2-key.pem"
    leaf.private_key_pem.write_to_path(str(key))
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.set_inheritable(True)
    record = H2Server(f"https://127.0.0.1:{sock.getsockname()[1]}")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        record.versions.append(scope["http_version"])
        record.clients.add(tuple(scope["client"]))
        priority = dict(scope["headers"]).get(b"priority")
        record.priorities.append(None if priority is None else priority.decode())
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        query = parse_qs(scope["query_string"].decode())
        await _pace(record, query)
        headers = [(b"content-type", b"application/json")]
        if "n" in query:
            enc = query.get("enc", ["identity"])[0]
            payload = compress(b"\0" * int(query["n"][0]), enc)
            headers = [(b"content-type", b"application/octet-stream")]
            if enc != "identity":
                headers.append((b"content-encoding", enc.encode()))
        else:
            payload = json.dumps(
                {"version": scope["http_version"], "received": size, "path": scope["path"]}
            ).encode()
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for start in range(0, len(payload), 256 * 1024):
            await send(
                {
                    "type": "http.response.body",
                    "body": payload[start : start + 256 * 1024],
                    "more_body": start + 256 * 1024 < len(payload),
                }
            )
        if not payload:
            await send({"type": "http.response.body", "body": b""})

    config = Config()
    config.bind = [f"fd://{os.dup(sock.fileno())}"]
    config.certfile, config.keyfile = str(cert), str(key)
    config.alpn_protocols = list(alpn)
    config.accesslog = config.errorlog = None
    config.graceful_timeout = 0.2
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def main() -> None:
            started.set()
            await serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]

        try:
            loop.run_until_complete(main())
        except (Exception, asyncio.CancelledError):
            pass
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(5)
    try:
        yield record
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(1)  # hypercorn may linger on kept-alive streams; it is a daemon
        sock.close()
