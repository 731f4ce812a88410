"""HTTP/2 per pool: an HTTPS connection that speaks h2 when ALPN picks it, else HTTP/1.1.

Only managers built for ``HttpProtocol.HTTP2`` (or ``HTTP3``, whose best
fallback on https is h2) use :class:`H2HTTPSPool`; their SSLContext offers
``h2, http/1.1`` while every other pool keeps offering ``http/1.1`` alone.
Nothing process-wide changes (urllib3's ``inject_into_urllib3()`` is never
called; DESIGN.md §6). Plain ``http://`` stays HTTP/1.1 (no h2c).

Why not urllib3's ``urllib3.http2.HTTP2Connection`` itself: its response
object buffers the whole body, cannot ``read(amt)``, does not decode
``Content-Encoding`` and ignores flow control when sending, which would break
``max_limit``, streaming, progress events and uploads above 64 KiB. So this
connection drives the same ``h2`` state machine directly, one stream at a
time per connection (the pool hands a connection to one request at a time),
and wraps each stream in urllib3's own ``HTTPResponse``, which decodes gzip,
deflate, br and zstd chunk by chunk exactly as for HTTP/1.1.

Timings, the AbortSignal and pinning work as for HTTP/1.1: the TCP and TLS
phases are the parent's; ``first_send`` is marked before the HEADERS frame
and ``first_receive`` when the response's HEADERS arrive.
"""

from __future__ import annotations

import http.client
import importlib.util
import logging
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, cast

from urllib3 import HTTPHeaderDict, HTTPSConnectionPool
from urllib3.response import HTTPResponse
from urllib3.util.wait import wait_for_read

from netstack.log import log_event
from netstack.options import HttpProtocol
from netstack.transport.connection import TimedHTTPSConnection
from netstack.transport.context import current
from netstack.transport.sockets import ExchangeAborted

if TYPE_CHECKING:
    import h2.connection

__all__ = ["H2HTTPSPool", "H2OrH1Connection", "Http2Error", "wants_h2"]

_DEBUG: Final = logging.DEBUG
_INFO: Final = logging.INFO

#: Connection-specific headers HTTP/2 forbids (RFC 9113 §8.2.2).
_HOP_BY_HOP: Final = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host"}
)
_RECV: Final = 65536
_HAS_H2: Final = importlib.util.find_spec("h2") is not None


def wants_h2(protocol: HttpProtocol | None) -> bool:
    """True when ``protocol`` asks for HTTP/2 on https and the ``h2`` package is there."""
    if protocol not in (HttpProtocol.HTTP2, HttpProtocol.HTTP3):
        return False
    if not _HAS_H2:
        log_event(_INFO, "http2_unavailable", reason="the h2 package is not installed; HTTP/1.1")
    return _HAS_H2


class Http2Error(ConnectionError):
    """The peer broke the HTTP/2 protocol or reset our stream; mapped to 2300016."""


@dataclass(slots=True)
class _Stream:
    """What arrived so far for the one stream in flight."""

    stream_id: int
    status: int | None = None
    headers: HTTPHeaderDict | None = None
    data: bytearray = field(default_factory=bytearray)
    ended: bool = False


@dataclass(frozen=True, slots=True)
class _ResponseOptions:
    method: str
    url: str
    preload_content: bool
    decode_content: bool
    enforce_content_length: bool


class H2OrH1Connection(TimedHTTPSConnection):
    """Speaks h2 when the server chose it by ALPN; otherwise HTTP/1.1 via the parent."""

    _h2: h2.connection.H2Connection | None = None
    _stream: _Stream | None = None
    _h2_options: _ResponseOptions | None = None

    @property
    def http2(self) -> bool:
        """True once connected with h2 negotiated."""
        return self._h2 is not None

    def connect(self) -> None:
        super().connect()
        self._h2 = None
        self._stream = None
        selected = self.sock.selected_alpn_protocol()  # type: ignore[union-attr]
        if selected != "h2":
            log_event(_DEBUG, "http2_fallback", host=self.host, port=self.port, alpn=selected)
            return
        import h2.config
        import h2.connection

        conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        conn.initiate_connection()
        self.sock.sendall(conn.data_to_send())
        self._h2 = conn

    @property
    def is_connected(self) -> bool:
        if self._h2 is None:
            return super().is_connected
        sock = self.sock
        if sock is None:
            return False
        try:
            # Idle h2 connections receive PING, SETTINGS, WINDOW_UPDATE, GOAWAY:
            # process them instead of taking readability for a dropped peer.
            while wait_for_read(sock, timeout=0.0):
                if not self._pump():
                    return False
        except Exception:
            return False
        return self._h2 is not None

    def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        *,
        chunked: bool = False,
        preload_content: bool = True,
        decode_content: bool = True,
        enforce_content_length: bool = True,
    ) -> None:
        conn = self._h2
        if conn is None:
            super().request(
                method,
                url,
                body=body,
                headers=headers,
                chunked=chunked,
                preload_content=preload_content,
                decode_content=decode_content,
                enforce_content_length=enforce_content_length,
            )
            return
        self._begin()
        self._h2_options = _ResponseOptions(
            method, url, preload_content, decode_content, enforce_content_length
        )
        sock = self.sock
        assert sock is not None
        sock.settimeout(self.timeout)
        stream_id = conn.get_next_available_stream_id()
        self._stream = _Stream(stream_id)
        fields = self._fields(method, url, body, headers or {})
        ctx = self._ctx
        if ctx is not None and not ctx.sent:
            ctx.sent = True
            ctx.timings.first_send = ctx.ms()
        try:
            conn.send_headers(stream_id, fields, end_stream=body is None)
            sock.sendall(conn.data_to_send())
            if body is not None:
                chunks: Iterable[Any] = [body] if isinstance(body, bytes | str) else body
                for chunk in chunks:
                    self._send_data(stream_id, chunk.encode() if isinstance(chunk, str) else chunk)
                conn.end_stream(stream_id)
                sock.sendall(conn.data_to_send())
        except OSError:
            if ctx is not None:
                ctx.send_failed = True
            raise

    def _begin(self) -> None:
        """As the HTTP/1.1 request does: timing marks of a reused connection, abort hookup."""
        ctx = self._ctx = current()
        if ctx is None:
            return
        if not ctx.connected:
            ctx.reused = True
            t = ctx.timings
            t.dns = t.tcp = t.tls = ctx.ms()
        ctx.abort.attach(self.sock)
        if ctx.abort.aborted:
            raise ExchangeAborted

    def _fields(
        self, method: str, url: str, body: Any, headers: Mapping[str, str]
    ) -> list[tuple[bytes, bytes]]:
        authority = next((v for k, v in headers.items() if k.lower() == "host"), None)
        if authority is None:
            host = f"[{self.host}]" if ":" in self.host else self.host
            authority = host if self.port in (None, 443) else f"{host}:{self.port}"
        fields = [
            (b":method", method.encode()),
            (b":scheme", b"https"),
            (b":authority", authority.encode("idna")),
            (b":path", (url or "/").encode()),
        ]
        names = set()
        for key, value in headers.items():
            name = key.lower()
            if name in _HOP_BY_HOP or (name == "te" and value.lower() != "trailers"):
                continue
            names.add(name)
            fields.append((name.encode("latin-1"), value.encode("latin-1")))
        if isinstance(body, bytes) and "content-length" not in names:
            fields.append((b"content-length", str(len(body)).encode()))
        return fields

    def _send_data(self, stream_id: int, data: bytes | memoryview) -> None:
        """Write ``data`` as DATA frames, waiting for WINDOW_UPDATEs when flow control says so."""
        conn, sock = self._io()
        view = memoryview(data)
        while view:
            size = min(conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size)
            if size <= 0:
                if not self._pump():
                    raise Http2Error("connection closed while sending the request body")
                continue
            conn.send_data(stream_id, bytes(view[:size]))
            sock.sendall(conn.data_to_send())
            view = view[size:]

    def _io(self) -> tuple[h2.connection.H2Connection, socket.socket]:
        conn, sock = self._h2, self.sock
        if conn is None or sock is None:
            raise Http2Error("the HTTP/2 connection is closed")
        return conn, sock

    def _pump(self) -> bool:
        """Read once from the socket and apply the events; False on EOF or GOAWAY."""
        import h2.exceptions

        conn, sock = self._io()
        received = sock.recv(_RECV)
        if not received:
            return False
        try:
            events = conn.receive_data(received)
        except h2.exceptions.ProtocolError as exc:
            raise Http2Error(f"HTTP/2 protocol error: {exc}") from exc
        alive = True
        for event in events:  # apply every event, even after a GOAWAY
            alive = self._apply(conn, event) and alive
        pending = conn.data_to_send()
        if pending:
            sock.sendall(pending)
        return alive

    def _apply(self, conn: h2.connection.H2Connection, event: object) -> bool:
        """Fold one h2 event into the stream in flight; False for GOAWAY."""
        import h2.events

        stream = self._stream
        if isinstance(event, h2.events.ConnectionTerminated):
            if stream is not None and not stream.ended:
                if stream.status is None and (event.last_stream_id or 0) < stream.stream_id:
                    raise http.client.RemoteDisconnected("GOAWAY before the response")
                raise Http2Error(f"GOAWAY: {event.error_code!r}")
            return False
        if isinstance(event, h2.events.DataReceived):
            conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        if stream is None or getattr(event, "stream_id", None) != stream.stream_id:
            return True  # a late frame of an earlier stream
        if isinstance(event, h2.events.ResponseReceived):
            stream.status, stream.headers = _parse_headers(event.headers)
        elif isinstance(event, h2.events.DataReceived):
            stream.data += event.data
        elif isinstance(event, h2.events.StreamEnded):
            stream.ended = True
        elif isinstance(event, h2.events.StreamReset):
            raise Http2Error(f"stream reset by the server: {event.error_code!r}")
        return True

    def getresponse(self) -> HTTPResponse:  # type: ignore[override]
        if self._h2 is None:
            return super().getresponse()
        options, stream = self._h2_options, self._stream
        if options is None or stream is None:
            raise http.client.ResponseNotReady("no HTTP/2 request in flight")
        self._h2_options = None
        assert self.sock is not None
        self.sock.settimeout(self.timeout)
        while stream.status is None:
            if not self._pump() and stream.status is None:
                raise http.client.RemoteDisconnected("the server closed the HTTP/2 connection")
        ctx = current()
        if ctx is not None and not ctx.received:
            ctx.received = True
            ctx.timings.first_receive = ctx.ms()
        assert stream.headers is not None
        body = _H2Body(self, stream)
        return HTTPResponse(
            body=cast("Any", body),
            headers=stream.headers,
            status=stream.status,
            version=20,
            version_string="HTTP/2",
            reason=None,
            preload_content=options.preload_content,
            decode_content=options.decode_content,
            original_response=cast("Any", body),
            enforce_content_length=options.enforce_content_length,
            request_method=options.method,
            request_url=options.url,
        )

    def read_stream(self, stream: _Stream, amt: int | None) -> bytes:
        """Up to ``amt`` body bytes of ``stream`` (b"" at its end); used by the body reader.

        ``amt=None`` reads to the end of the stream, as a file's ``read()`` does.
        """
        data = stream.data
        while (amt is None or not data) and not stream.ended:
            if not self._pump() and not stream.ended:
                raise http.client.IncompleteRead(bytes(data))
        if amt is None or amt >= len(data):
            out = bytes(data)
            data.clear()
        else:
            out = bytes(data[:amt])
            del data[:amt]
        return out

    def cancel_stream(self, stream: _Stream) -> None:
        """Reset an unfinished stream (the caller stopped reading); the connection lives on."""
        conn, sock = self._h2, self.sock
        if conn is None or sock is None or stream.ended:
            return
        import h2.errors

        try:
            conn.reset_stream(stream.stream_id, h2.errors.ErrorCodes.CANCEL)
            sock.sendall(conn.data_to_send())
        except Exception:
            self.close()
        stream.ended = True

    def close(self) -> None:
        conn, sock = self._h2, self.sock
        self._h2 = None
        self._stream = None
        if conn is not None and sock is not None:
            try:
                conn.close_connection()
                sock.sendall(conn.data_to_send())
            except Exception:  # noqa: S110 - a GOAWAY on a dying socket is a courtesy
                pass
        super().close()


class _H2Body:
    """The file-like body urllib3's HTTPResponse reads (and decodes) one stream from."""

    __slots__ = ("_closed", "_conn", "_stream")

    def __init__(self, conn: H2OrH1Connection, stream: _Stream) -> None:
        self._conn = conn
        self._stream = stream
        self._closed = False

    def read(self, amt: int | None = None) -> bytes:
        if self._closed:
            return b""
        data = self._conn.read_stream(self._stream, amt)
        stream = self._stream
        if stream.ended and not stream.data:
            self._closed = True  # urllib3 then returns the connection to its pool
        return data

    read1 = read

    def isclosed(self) -> bool:
        return self._closed

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._conn.cancel_stream(self._stream)


def _parse_headers(raw: Iterable[tuple[bytes, bytes]]) -> tuple[int, HTTPHeaderDict]:
    status = 0
    headers = HTTPHeaderDict()
    for name, value in raw:
        if name == b":status":
            status = int(value)
        elif not name.startswith(b":"):
            headers.add(name.decode("latin-1"), value.decode("latin-1"))
    return status, headers


class H2HTTPSPool(HTTPSConnectionPool):
    """The https pool of HTTP/2 managers."""

    ConnectionCls = H2OrH1Connection
