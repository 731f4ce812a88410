"""A raw-socket server whose handler writes exact bytes: resets, truncations, garbage.

``raw_server(handler)`` binds ``127.0.0.1`` (or another 127.x address) on
port 0, runs ``handler(conn, index)`` on its own thread for every accepted
connection (``index`` counts from 0) and, on exit, closes the listener and
every connection so blocked handlers return. All loops are bounded.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

Handler = Callable[[socket.socket, int], None]
_MAX_HEAD = 64 * 1024


@dataclass
class RawServer:
    host: str
    port: int
    #: Connections accepted so far.
    accepted: int = 0
    conns: list[socket.socket] = field(default_factory=list)

    def url(self, path: str = "/", scheme: str = "http") -> str:
        return f"{scheme}://{self.host}:{self.port}{path}"


def read_request(conn: socket.socket, *, body: bool = True) -> bytes:
    """Read one request head (and its Content-Length body); b"" if the peer closed."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < _MAX_HEAD:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    if body:
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(rest) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            rest += chunk
    return head + b"\r\n\r\n" + rest


def reset(conn: socket.socket) -> None:
    """Close with a TCP RST instead of a FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def response(body: bytes = b"ok", *, status: str = "200 OK", headers: str = "") -> bytes:
    """One complete HTTP/1.1 response with a Content-Length."""
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{headers}\r\n".encode() + body


@contextmanager
def raw_server(
    handler: Handler,
    *,
    host: str = "127.0.0.1",
    tls: ssl.SSLContext | None = None,
    backlog: int = 16,
    port: int = 0,
) -> Iterator[RawServer]:
    """Serve ``handler`` until the block exits; ``tls`` wraps accepted sockets lazily.

    ``host`` may be an IPv6 address (``"::1"``); ``port`` 0 takes a free one.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(backlog)
    listener.settimeout(0.05)
    server = RawServer(host, listener.getsockname()[1])
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def run(conn: socket.socket, index: int) -> None:
        with suppress(OSError, ValueError):
            if tls is not None:
                conn = tls.wrap_socket(conn, server_side=True)
                server.conns.append(conn)
            handler(conn, index)

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(10)  # a handler never blocks a test forever
            server.conns.append(conn)
            thread = threading.Thread(target=run, args=(conn, server.accepted), daemon=True)
            server.accepted += 1
            threads.append(thread)
            thread.start()

    acceptor = threading.Thread(target=accept_loop, daemon=True)
    acceptor.start()
    try:
        yield server
    finally:
        stop.set()
        acceptor.join(5)
        listener.close()
        for conn in server.conns:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)  # wakes a handler blocked in recv
            with suppress(OSError):
                conn.close()
        for thread in threads:
            thread.join(5)


@contextmanager
def full_backlog(host: str = "127.0.0.1") -> Iterator[tuple[str, int]]:
    """A listener that never accepts, its backlog filled: new connects hang (SYN dropped)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((host, 0))
    listener.listen(0)
    address = listener.getsockname()
    fillers: list[socket.socket] = []
    try:
        for _ in range(8):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            with suppress(BlockingIOError):
                filler.connect(address)
            fillers.append(filler)
        yield address
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
