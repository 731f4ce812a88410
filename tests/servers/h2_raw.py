"""A raw HTTP/2 server on loopback (TLS, ALPN h2) built on the ``h2`` package.

What hypercorn will not do on demand: a GOAWAY in the middle of a run,
REFUSED_STREAM, a tiny flow-control window, a cap on concurrent streams.
Every connection runs in its own thread with a select loop; responses go
out as the client's flow-control windows allow.

Requests (the path decides the answer):

- ``/up``: the JSON ``{"received": <request body bytes>}``;
- ``/n/<bytes>``: that many zero bytes;
- ``/rst``: RST_STREAM (INTERNAL_ERROR) instead of a response;
- ``/die``: the connection is dropped (no GOAWAY);
- ``/early``: the whole response as soon as the request headers arrive, then
  RST_STREAM NO_ERROR: "stop sending the body" (RFC 9113 §8.1);
- ``/cut/<bytes>``: headers announcing that many bytes, half of them, then the
  connection is dropped;
- anything else: the JSON ``{"path": ..., "priority": ...}``.

``?ms=<n>`` delays the response by n milliseconds.
"""

from __future__ import annotations

import heapq
import json
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import trustme


@dataclass
class Behaviour:
    """How the server misbehaves."""

    #: SETTINGS_MAX_CONCURRENT_STREAMS.
    max_streams: int = 100
    #: SETTINGS_INITIAL_WINDOW_SIZE: the client's send window per stream.
    window: int = 65535
    #: On the first connection: GOAWAY once this many requests arrived; the
    #: ones after it are never processed.
    goaway_after: int | None = None
    #: REFUSED_STREAM for the first this-many streams (counted over all connections).
    refuse_first: int = 0
    #: After a GOAWAY, keep the connection open until the client closes it.
    linger: bool = False


@dataclass
class RawH2:
    url: str
    behaviour: Behaviour
    connections: int = 0
    #: Paths of the requests processed (answered), in order.
    processed: list[str] = field(default_factory=list)
    refused: int = 0
    goaways: int = 0
    #: Connections the client closed (EOF read by the server).
    client_closed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class _Req:
    path: str
    headers: dict[bytes, bytes]
    body: bytearray = field(default_factory=bytearray)


class _Drop(Exception):
    """Drop the connection at once."""


class _Conn:
    def __init__(self, sock: ssl.SSLSocket, server: RawH2, first: bool) -> None:
        self.sock = sock
        self.server = server
        self.first = first
        b = server.behaviour
        conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding=None)
        )
        conn.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: b.max_streams,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: b.window,
            },
        )
        conn.initiate_connection()
        self.conn = conn
        self.requests: dict[int, _Req] = {}
        self.outgoing: dict[int, memoryview] = {}
        self.timers: list[tuple[float, int]] = []
        self.arrived = 0
        self.last: int | None = None  # GOAWAY sent with this last_stream_id
        self.early: set[int] = set()

    def run(self) -> None:
        sock = self.sock
        sock.sendall(self.conn.data_to_send())
        while True:
            wait = 0.5
            if self.timers:
                wait = max(0.0, min(wait, self.timers[0][0] - time.monotonic()))
            if sock.pending() or select.select([sock], [], [], wait)[0]:
                data = sock.recv(65536)
                if not data:
                    with self.server.lock:
                        self.server.client_closed += 1
                    return
                for event in self.conn.receive_data(data):
                    self.apply(event)
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now:
                self.respond(heapq.heappop(self.timers)[1])
            self.push()
            out = self.conn.data_to_send()
            if out:
                sock.sendall(out)
            done = self.last is not None and not self.requests and not self.outgoing
            if done and not self.server.behaviour.linger:
                return  # graceful shutdown done

    def apply(self, event: Any) -> None:
        server, conn = self.server, self.conn
        if isinstance(event, h2.events.RequestReceived):
            sid = event.stream_id
            if self.last is not None and sid > self.last:
                return  # after our GOAWAY: never processed
            headers = dict(event.headers)
            with server.lock:
                refuse = server.refused < server.behaviour.refuse_first
                if refuse:
                    server.refused += 1
            if refuse:
                conn.reset_stream(sid, h2.errors.ErrorCodes.REFUSED_STREAM)
                return
            self.requests[sid] = _Req(headers[b":path"].decode(), headers)
            self.arrived += 1
            if headers[b":path"] == b"/early":
                self.early.add(sid)
                self.respond(sid)
            goaway = server.behaviour.goaway_after
            if self.first and goaway is not None and self.arrived == goaway:
                self.last = sid
                conn.close_connection(last_stream_id=sid)
                # h2 closes its state machine on GOAWAY: keep serving the streams <= sid.
                conn.state_machine.state = h2.connection.ConnectionState.SERVER_OPEN
                with server.lock:
                    server.goaways += 1
        elif isinstance(event, h2.events.DataReceived):
            conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            req = self.requests.get(event.stream_id)
            if req is not None and event.stream_id not in self.early:
                req.body += event.data
        elif isinstance(event, h2.events.StreamEnded):
            req = self.requests.get(event.stream_id)
            if req is not None and event.stream_id not in self.early:
                query = parse_qs(urlsplit(req.path).query)
                delay = int(query.get("ms", ["0"])[0]) / 1000
                heapq.heappush(self.timers, (time.monotonic() + delay, event.stream_id))
        elif isinstance(event, h2.events.StreamReset):
            self.requests.pop(event.stream_id, None)
            self.outgoing.pop(event.stream_id, None)

    def respond(self, sid: int) -> None:
        req = self.requests.get(sid)
        if req is None:
            return
        path = urlsplit(req.path).path
        with self.server.lock:
            self.server.processed.append(req.path)
        if path == "/rst":
            self.requests.pop(sid, None)
            self.conn.reset_stream(sid, h2.errors.ErrorCodes.INTERNAL_ERROR)
            return
        if path == "/die":
            raise _Drop
        if path.startswith("/cut/"):
            size = int(path[5:])
            headers = [(b":status", b"200"), (b"content-length", str(size).encode())]
            self.conn.send_headers(sid, headers)
            self.conn.send_data(sid, bytes(size // 2))
            self.sock.sendall(self.conn.data_to_send())
            raise _Drop
        if path == "/up":
            payload = json.dumps({"received": len(req.body)}).encode()
        elif path.startswith("/n/"):
            payload = bytes(int(path[3:]))
        else:
            priority = req.headers.get(b"priority")
            payload = json.dumps(
                {"path": req.path, "priority": None if priority is None else priority.decode()}
            ).encode()
        self.conn.send_headers(
            sid, [(b":status", b"200"), (b"content-length", str(len(payload)).encode())]
        )
        self.outgoing[sid] = memoryview(payload)

    def push(self) -> None:
        conn = self.conn
        for sid in list(self.outgoing):
            view = self.outgoing[sid]
            while view:
                size = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
                if size <= 0:
                    break
                conn.send_data(sid, bytes(view[:size]))
                view = view[size:]
            if view:
                self.outgoing[sid] = view
            else:
                del self.outgoing[sid]
                conn.end_stream(sid)
                self.requests.pop(sid, None)
                if sid in self.early:
                    conn.reset_stream(sid, h2.errors.ErrorCodes.NO_ERROR)


@contextmanager
def raw_h2_server(ca: trustme.CA, behaviour: Behaviour | None = None) -> Iterator[RawH2]:
    """Serve on 127.0.0.1 until the block ends; every connection closed at the end."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    context.set_alpn_protocols(["h2"])
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.1)
    record = RawH2(f"https://127.0.0.1:{listener.getsockname()[1]}", behaviour or Behaviour())
    stop = threading.Event()
    open_socks: list[socket.socket] = []

    def serve(raw: socket.socket, first: bool) -> None:
        sock: socket.socket = raw
        try:
            raw.settimeout(10)
            sock = context.wrap_socket(raw, server_side=True)
            open_socks.append(sock)
            _Conn(sock, record, first).run()  # type: ignore[arg-type]
        except (OSError, h2.exceptions.ProtocolError, _Drop):
            pass
        finally:
            sock.close()

    def accept() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with record.lock:
                record.connections += 1
                first = record.connections == 1
            threading.Thread(target=serve, args=(raw, first), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield record
    finally:
        stop.set()
        thread.join(2)
        listener.close()
        for sock in open_socks:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
