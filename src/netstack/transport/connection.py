"""urllib3 connection classes that really time DNS, TCP connect and TLS.

The pools use :class:`TimedHTTPConnection` / :class:`TimedHTTPSConnection`
as their ``ConnectionCls``. While a request runs, the worker thread's
:class:`~netstack.transport.context.RequestContext` receives the marks, all in
milliseconds since ``request()``:

- ``dns``: the name resolved (``socket.getaddrinfo`` returned);
- ``tcp``: the TCP connection established;
- ``tls``: the TLS handshake done (HTTPS only, else 0);
- ``first_send``: about to write the first byte of the request;
- ``first_receive``: the response's status line read.

A pooled keep-alive connection has no DNS/TCP/TLS phase: ``dns``, ``tcp``
(and ``tls`` for HTTPS) are then all set to the moment the connection was
taken from the pool, so the marks stay cumulative and monotonic.

Every socket is attached to the request's :class:`AbortSignal` as soon as it
exists (before ``connect``; the TLS socket before its handshake), so an abort
from another thread makes a blocked connect, handshake or recv return at once.
"""

from __future__ import annotations

import http.client
import socket
import sys
from collections.abc import Mapping, Sequence
from time import perf_counter
from typing import IO, Any, Final, cast

from urllib3 import HTTPResponse
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import (
    ConnectTimeoutError,
    LocationParseError,
    NameResolutionError,
    NewConnectionError,
)
from urllib3.util.connection import allowed_gai_family

from netstack.transport.context import AddrInfo, RequestContext, _local, current
from netstack.transport.kernel_timeouts import ENABLED as KERNEL_TIMEOUTS
from netstack.transport.kernel_timeouts import KernelTimedSocket
from netstack.transport.request_head import encode_head, host_header
from netstack.transport.responses import (
    DEFAULT_PARSER,
    PARSERS,
    LlhttpResponse,
    StdlibResponse,
)
from netstack.transport.sockets import ExchangeAborted, connect
from netstack.transport.tls import PinMismatch, check_pins
from netstack.transport.transfer_coding import TransferDecoded

__all__ = ["TimedHTTPConnection", "TimedHTTPSConnection", "use_parser"]

#: http.client's connection states (its ``_CS_IDLE`` and ``_CS_REQ_SENT``).
_IDLE: Final = "Idle"
_REQ_SENT: Final = "Request-sent"


def use_parser(name: str) -> None:
    """Read response heads with ``name`` ("llhttp" or "stdlib") from now on, in every pool."""
    TimedHTTPConnection.response_class = PARSERS[name]


class TimedHTTPConnection(HTTPConnection):
    """An urllib3 HTTPConnection that reports its phases to the current request."""

    #: How response heads are read: llhttp's or http.client's (see ``use_parser``).
    response_class: type[http.client.HTTPResponse] = PARSERS[DEFAULT_PARSER]
    _ctx: RequestContext | None = None
    #: What urllib3 said about the response to the request in flight:
    #: (method, url, preload_content, decode_content, enforce_content_length).
    _exchange: tuple[str, str, bool, bool, bool] | None = None
    #: The Host value of requests on this connection (``_host``), once computed.
    _host_value: str | None = None
    #: http.client's private request state, kept as ``putrequest`` keeps it.
    _HTTPConnection__state: str
    _HTTPConnection__response: http.client.HTTPResponse | None

    def _new_conn(self) -> socket.socket:
        ctx = current()
        if ctx is None:
            return super()._new_conn()
        sock = _open_socket(self, ctx)
        sys.audit("http.client.connect", self, self.host, self.port)
        return sock

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
        ctx = self._ctx = _local.ctx
        if ctx is not None and self.sock is not None:
            if not ctx.connected:
                # Taken from the pool: no DNS/TCP/TLS phase for this request.
                ctx.reused = True
                t = ctx.timings
                t.dns = t.tcp = (perf_counter() - ctx.started) * 1000.0
                if isinstance(self, HTTPSConnection):
                    t.tls = t.dns
            ctx.abort.attach(self.sock)
            if ctx.abort.aborted:
                raise ExchangeAborted
        self._exchange = (method, url, preload_content, decode_content, enforce_content_length)
        sock = self.sock
        if (
            sock is not None
            and not chunked
            and (body is None or type(body) is bytes)
            and headers is not None
            and self._HTTPConnection__state == _IDLE
        ):
            host = self._host_value
            if host is None:
                host = self._host_value = self._host()
            head = None if host is None else encode_head(method, url, host, headers, body)
            if head is not None:
                self._write_head(sock, method, head, ctx)
                return
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

    def _write_head(
        self, sock: socket.socket, method: str, head: bytes, ctx: RequestContext | None
    ) -> None:
        """What ``putrequest`` ... ``endheaders`` do with a head written in one piece."""
        sock.settimeout(self.timeout)
        previous = self._HTTPConnection__response
        if previous is not None and previous.isclosed():
            self._HTTPConnection__response = None
        self._method = method
        self._HTTPConnection__state = _REQ_SENT
        if ctx is not None and not ctx.sent:
            ctx.sent = True
            ctx.timings.first_send = (perf_counter() - ctx.started) * 1000.0
        sys.audit("http.client.send", self, head)
        try:
            sock.sendall(head)
        except OSError:
            if ctx is not None:
                ctx.send_failed = True
            raise

    def _host(self) -> str | None:
        """The Host value http.client would send on this connection (tunnelled: the target)."""
        if self._tunnel_host:
            return host_header(self._tunnel_host, self._tunnel_port, self.default_port)
        return host_header(self.host, self.port, self.default_port)

    def set_tunnel(
        self,
        host: str,
        port: int | None = None,
        headers: Mapping[str, str] | None = None,
        scheme: str = "http",
    ) -> None:
        self._host_value = None
        super().set_tunnel(host, port, headers, scheme)

    def getresponse(self) -> HTTPResponse:  # type: ignore[override]
        """urllib3's response over the head our response class parsed and framed.

        What urllib3's own ``getresponse`` does, less its second pass over
        the headers (``assert_header_parsing``, ``msg.items()``).
        """
        exchange = self._exchange
        if exchange is None:
            return super().getresponse()
        self._exchange = self._response_options = None
        sock = self.sock
        assert sock is not None
        sock.settimeout(self.timeout)
        shutdown = sock.shutdown
        raw = http.client.HTTPConnection.getresponse(self)  # begin(), keep-alive state
        assert isinstance(raw, (LlhttpResponse, StdlibResponse))
        method, url, preload_content, decode_content, enforce_content_length = exchange
        codings = raw.transfer_codings
        return HTTPResponse(
            body=raw if codings is None else cast("IO[bytes]", TransferDecoded(raw, codings)),
            headers=raw.parsed,
            status=raw.status,
            version=raw.version,
            version_string="HTTP/1.1" if raw.version == 11 else "HTTP/1.0",
            reason=raw.reason,
            preload_content=preload_content,
            decode_content=decode_content,
            original_response=raw,
            enforce_content_length=enforce_content_length,
            request_method=method,
            request_url=url,
            sock_shutdown=shutdown,
        )

    def send(self, data: Any) -> None:
        if self.sock is None:
            self.connect()  # what http.client's auto_open would do, before the mark
        ctx = self._ctx
        if ctx is None:
            super().send(data)
            return
        if not ctx.sent:
            ctx.sent = True
            ctx.timings.first_send = (perf_counter() - ctx.started) * 1000.0
        try:
            super().send(data)
        except OSError:
            ctx.send_failed = True
            raise

    def close(self) -> None:
        self._ctx = None
        self._host_value = None
        super().close()


class TimedHTTPSConnection(TimedHTTPConnection, HTTPSConnection):
    """The HTTPS variant: also marks the end of the TLS handshake."""

    def connect(self) -> None:
        super().connect()
        ctx = current()
        if ctx is not None:
            ctx.timings.tls = ctx.ms()
            if self._tunnel_host is not None:
                ctx.received = False  # the proxy's CONNECT reply is not the response
        # Pins travel with the pool's context; checked before any request byte.
        pins: frozenset[bytes] = getattr(self.ssl_context, "pins", frozenset())
        if pins:
            try:
                check_pins(self.sock, pins)
            except PinMismatch:
                self.close()
                raise


def _open_socket(conn: HTTPConnection, ctx: RequestContext) -> socket.socket:
    """Resolve (timed), create, attach to the AbortSignal, connect (timed)."""
    abort = ctx.abort
    infos = _resolve(conn, ctx)
    ctx.timings.dns = ctx.ms()
    if abort.aborted:
        raise ExchangeAborted
    timeout = conn.timeout
    # Plain HTTP hands its send/receive timeouts to the kernel once connected
    # (kernel_timeouts.py); TLS sockets keep Python's.
    kernel = KERNEL_TIMEOUTS and not isinstance(conn, HTTPSConnection)
    try:
        sock = connect(
            infos,
            abort,
            timeout,
            options=conn.socket_options or (),
            source_address=conn.source_address,
            socket_class=KernelTimedSocket if kernel else socket.socket,
        )
    except TimeoutError as err:
        raise ConnectTimeoutError(
            conn, f"Connection to {conn.host} timed out. (connect timeout={timeout})"
        ) from err
    except OSError as err:
        raise NewConnectionError(conn, f"Failed to establish a new connection: {err}") from err
    ctx.connected = True
    ctx.timings.tcp = ctx.ms()
    return sock


def _resolve(conn: HTTPConnection, ctx: RequestContext) -> Sequence[AddrInfo]:
    """``getaddrinfo`` for the connection's host, as urllib3 would call it."""
    host = conn._dns_host  # the name as given: a trailing dot matters to DNS
    if host.startswith("["):
        host = host.strip("[]")
    try:
        host.encode("idna")
    except UnicodeError:
        raise LocationParseError(f"'{host}', label empty or too long") from None
    if ctx.abort.aborted:
        raise ExchangeAborted
    # The request's own resolver (dns_servers / DoH) only picks the address:
    # conn.host keeps the name, so Host, SNI and verification use it (the TLS name stays the URL's).
    try:
        if ctx.resolver is not None:
            return ctx.resolver.resolve(
                host, conn.port, allowed_gai_family(), ctx.abort, conn.timeout
            )
        return socket.getaddrinfo(host, conn.port, allowed_gai_family(), socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
