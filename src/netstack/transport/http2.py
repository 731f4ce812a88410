"""HTTP/2 per pool: many requests multiplexed on one connection per origin, else HTTP/1.1.

Only managers built for ``HttpProtocol.HTTP2`` (or ``HTTP3``, whose best
fallback on https is h2) use :class:`H2HTTPSPool`; their SSLContext offers
``h2, http/1.1`` while every other pool keeps offering ``http/1.1`` alone.
Nothing process-wide changes (urllib3's ``inject_into_urllib3()`` is never
called). Plain ``http://`` stays HTTP/1.1 (no h2c).

How urllib3's pool and HTTP/2 streams fit together: the pool still hands one
*connection object* to one request at a time and sizes itself to
``max_per_host``, but for HTTP/2 that object is a light handle for one
stream. Its ``connect()`` asks the pool's :class:`H2Sessions` for a slot on a
live HTTP/2 connection (an :class:`~netstack.transport.h2session.H2Session`,
shared by all the handles of the pool) and only dials when every connection
is full (the server's SETTINGS_MAX_CONCURRENT_STREAMS), gone, or draining
after a GOAWAY. Threads that arrive while the first connection is being
dialled wait for it instead of dialling their own, so 20 concurrent requests
to one origin share one TCP+TLS connection; ``max_per_host`` therefore counts
streams, not connections, for HTTP/2 origins. When the stream ends the handle
lets go of its slot and goes back to the pool empty. How the session reads,
writes, honours flow control and handles GOAWAY / RST_STREAM is described in
:mod:`netstack.transport.h2session`.

Why not urllib3's ``urllib3.http2`` itself: one request per connection, a
response that buffers the whole body, no ``read(amt)``, no
``Content-Encoding``, no flow control when sending. Each stream here is
wrapped in urllib3's own ``HTTPResponse``, which decodes gzip, deflate, br and
zstd chunk by chunk exactly as for HTTP/1.1, so ``max_limit``, streaming and
progress events behave as on HTTP/1.1.

Requests carry an RFC 9218 ``Priority`` header derived from their netstack
priority (:mod:`netstack.transport.priority`), unless they set one themselves.

Timings, the AbortSignal and pinning work as for HTTP/1.1: the TCP and TLS
phases are the dialling request's (a request that joins a live connection
gets the reused-connection marks); ``first_send`` is marked before the
HEADERS frame and ``first_receive`` when the response's HEADERS arrive. The
AbortSignal is attached to the request's *stream*, so ``destroy()`` resets
that stream alone and never the shared socket.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

from urllib3 import HTTPSConnectionPool
from urllib3.response import HTTPResponse

from netstack.log import log_event
from netstack.options import HttpProtocol
from netstack.transport import priority as _priority
from netstack.transport.connection import TimedHTTPSConnection
from netstack.transport.context import RequestContext, current
from netstack.transport.http2errors import Http2Error, StreamRefused
from netstack.transport.sockets import ExchangeAborted

if TYPE_CHECKING:
    from netstack.transport.exchange import AbortSignal
    from netstack.transport.h2session import H2Session
    from netstack.transport.h2stream import Stream

__all__ = [
    "H2HTTPSPool",
    "H2OrH1Connection",
    "H2Sessions",
    "Http2Error",
    "StreamRefused",
    "wants_h2",
]

_DEBUG: Final = logging.DEBUG
_INFO: Final = logging.INFO

#: Connection-specific headers HTTP/2 forbids (RFC 9113 §8.2.2).
_HOP_BY_HOP: Final = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host"}
)
_HAS_H2: Final = importlib.util.find_spec("h2") is not None
#: How often a thread waiting for another's dial looks at its AbortSignal.
_POLL: Final = 0.05


def wants_h2(protocol: HttpProtocol | None) -> bool:
    """True when ``protocol`` asks for HTTP/2 on https and the ``h2`` package is there."""
    if protocol not in (HttpProtocol.HTTP2, HttpProtocol.HTTP3):
        return False
    if not _HAS_H2:
        log_event(_INFO, "http2_unavailable", reason="the h2 package is not installed; HTTP/1.1")
    return _HAS_H2


class H2Sessions:
    """The HTTP/2 connections of one pool (one origin), and who is dialling a new one."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._sessions: list[H2Session] = []
        self._dialing = 0
        self._h1 = False  # the last dial got HTTP/1.1: dial in parallel
        self._closed = False

    def checkout(self, abort: AbortSignal | None, timeout: float | None) -> H2Session | None:
        """A connection with a stream slot reserved for the caller, or None: dial one.

        While another thread dials, wait for it (bounded by ``timeout``): its
        connection is probably the one the caller wants.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                self._sessions = [s for s in self._sessions if s.usable]
                for session in self._sessions:
                    if session.reserve():
                        return session
                late = deadline is not None and time.monotonic() >= deadline
                if self._dialing == 0 or self._h1 or late or self._closed:
                    self._dialing += 1
                    return None
                if abort is not None and abort.aborted:
                    raise ExchangeAborted
                self._cond.wait(_POLL)

    def dialed(self, session: H2Session | None, *, h1: bool = False) -> None:
        """The caller's dial ended: with a new h2 connection, HTTP/1.1 or a failure."""
        with self._cond:
            self._dialing -= 1
            self._h1 = h1
            if session is not None:
                if self._closed:
                    session.close()
                else:
                    self._sessions.append(session)
            self._cond.notify_all()

    def close(self) -> None:
        """Close every connection; streams still running on them fail."""
        with self._cond:
            self._closed = True
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()


@dataclass(frozen=True, slots=True)
class _ResponseOptions:
    method: str
    url: str
    preload_content: bool
    decode_content: bool
    enforce_content_length: bool


class H2OrH1Connection(TimedHTTPSConnection):
    """A stream on a shared h2 connection when the server chose h2; else HTTP/1.1 via the parent."""

    #: Set by the pool: the connections its handles share.
    sessions: H2Sessions | None = None
    _session: H2Session | None = None
    _stream: Stream | None = None
    _h2_options: _ResponseOptions | None = None

    @property
    def http2(self) -> bool:
        """True while attached to an HTTP/2 connection."""
        return self._session is not None

    @property
    def is_closed(self) -> bool:
        return self._session is None and self.sock is None

    @property
    def is_connected(self) -> bool:
        session = self._session
        if session is not None:
            return session.usable
        return super().is_connected

    def connect(self) -> None:
        sessions = self.sessions
        if sessions is None:
            sessions = self.sessions = H2Sessions()
        ctx = current()
        session = sessions.checkout(None if ctx is None else ctx.abort, self.timeout)
        if session is not None:
            self._session = session
            self.is_verified = True  # verified when it was dialled, with this pool's context
            return
        try:
            super().connect()
            selected = self.sock.selected_alpn_protocol()  # type: ignore[union-attr]
            if selected != "h2":
                log_event(_DEBUG, "http2_fallback", host=self.host, port=self.port, alpn=selected)
                sessions.dialed(None, h1=True)
                return
            self._session = self._start_session(ctx)
        except BaseException:
            sessions.dialed(None)
            raise
        sessions.dialed(self._session)

    def _start_session(self, ctx: RequestContext | None) -> H2Session:
        from netstack.transport.h2session import H2Session

        sock = self.sock
        assert sock is not None
        if ctx is not None:
            ctx.abort.attach(None)  # the socket is shared from now on: aborts reset streams
            if ctx.abort.aborted:
                raise ExchangeAborted
        timeout = self.timeout if isinstance(self.timeout, int | float) else None
        session = H2Session(sock, f"{self.host}:{self.port}", timeout)
        self.sock = None  # the session owns it now
        try:
            session.start(timeout)
        except BaseException:
            session.close()
            raise
        if not session.reserve():
            session.close()
            raise StreamRefused(f"{self.host}:{self.port}: the server allows no stream")
        return session

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
        session = self._session
        if session is None:
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
        ctx = self._ctx = current()
        if ctx is not None:
            if not ctx.connected:
                ctx.reused = True  # joined a live connection: no DNS/TCP/TLS phase
                t = ctx.timings
                t.dns = t.tcp = t.tls = ctx.ms()
            if ctx.abort.aborted:
                raise ExchangeAborted
        self._h2_options = _ResponseOptions(
            method, url, preload_content, decode_content, enforce_content_length
        )
        fields = self._fields(method, url, body, headers or {}, ctx)
        if ctx is not None and not ctx.sent:
            ctx.sent = True
            ctx.timings.first_send = ctx.ms()
        stream = self._stream = session.open(fields, end_stream=body is None)
        if ctx is not None:
            ctx.abort.attach(stream)  # an abort now resets this stream only
        if body is None:
            return
        timeout = self.timeout if isinstance(self.timeout, int | float) else None
        chunks: Iterable[Any] = [body] if isinstance(body, bytes | str) else body
        try:
            for chunk in chunks:
                session.send(stream, chunk.encode() if isinstance(chunk, str) else chunk, timeout)
            session.end(stream)
        except OSError:
            if ctx is not None:
                ctx.send_failed = True
            raise

    def _fields(
        self,
        method: str,
        url: str,
        body: Any,
        headers: Mapping[str, str],
        ctx: RequestContext | None,
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
        if "priority" not in names:
            fields.append((_priority.HEADER, _priority.value(1 if ctx is None else ctx.priority)))
        return fields

    def getresponse(self) -> HTTPResponse:  # type: ignore[override]
        session, stream, options = self._session, self._stream, self._h2_options
        if session is None:
            return super().getresponse()
        if options is None or stream is None:
            raise Http2Error("no HTTP/2 request in flight")
        self._h2_options = None
        timeout = self.timeout if isinstance(self.timeout, int | float) else None
        status, headers = session.response(stream, timeout)
        ctx = current()
        if ctx is not None and not ctx.received:
            ctx.received = True
            ctx.timings.first_receive = ctx.ms()
        body = _H2Body(self, session, stream)
        return HTTPResponse(
            body=cast("Any", body),
            headers=headers,
            status=status,
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

    def end_stream(self, session: H2Session, stream: Stream) -> None:
        """The stream is over (read to its end, or given up): free its slot, detach."""
        if self._stream is stream:
            self._stream = None
            self._session = None
        session.release(stream)

    def close(self) -> None:
        session, stream = self._session, self._stream
        self._session = None
        self._stream = None
        self._h2_options = None
        if session is not None and stream is not None:
            session.release(stream)
        super().close()


class _H2Body:
    """The file-like body urllib3's HTTPResponse reads (and decodes) one stream from."""

    __slots__ = ("_closed", "_conn", "_session", "_stream")

    def __init__(self, conn: H2OrH1Connection, session: H2Session, stream: Stream) -> None:
        self._conn = conn
        self._session = session
        self._stream = stream
        self._closed = False

    def read(self, amt: int | None = None) -> bytes:
        return self._read(amt, some=False)

    def read1(self, amt: int = -1) -> bytes:
        return self._read(None if amt < 0 else amt, some=True)

    def _read(self, amt: int | None, *, some: bool) -> bytes:
        if self._closed:
            return b""
        timeout = self._conn.timeout
        data = self._session.read(
            self._stream, amt, timeout if isinstance(timeout, int | float) else None, some=some
        )
        if self._session.finished(self._stream):
            self._closed = True  # urllib3 then returns the handle to its pool
            self._conn.end_stream(self._session, self._stream)
        return data

    def isclosed(self) -> bool:
        return self._closed

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._conn.end_stream(self._session, self._stream)  # resets the stream if unfinished


class H2HTTPSPool(HTTPSConnectionPool):
    """The https pool of HTTP/2 managers: its handles share :attr:`sessions`."""

    ConnectionCls = H2OrH1Connection

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sessions = H2Sessions()
        # A pool the manager evicts (or that is dropped) is never closed: its
        # connections and their reader threads go when it is collected.
        weakref.finalize(self, self.sessions.close)

    def _new_conn(self) -> H2OrH1Connection:
        conn = cast("H2OrH1Connection", super()._new_conn())
        conn.sessions = self.sessions
        return conn

    def close(self) -> None:
        super().close()
        self.sessions.close()
