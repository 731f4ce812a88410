"""The values that cross the transport boundary: what to send, what came back.

``netstack.call`` turns validated options into a :class:`PreparedRequest`;
:meth:`Transport.send` returns a :class:`TransportResponse` or raises
``HttpError``. Everything here is plain data; nothing here does I/O.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final, Protocol

from urllib3 import HTTPHeaderDict

from netstack.options import CertificatePinning, ClientCert, HttpProtocol, HttpProxy


@dataclass(frozen=True, slots=True)
class TransportSettings:
    """How requests connect: what their options say about timeouts, trust, route and DNS.

    Every request made without options shares one; any other request builds
    its own at its first run (``netstack.call``) and keeps it for its retries.
    """

    #: Seconds; None means no limit.
    connect_timeout: float | None = 60.0
    read_timeout: float | None = 60.0
    max_redirects: int = 30
    ca_path: str | None = None
    client_cert: ClientCert | None = None
    pins: tuple[CertificatePinning, ...] = ()
    #: None: no proxy; True: from the environment; HttpProxy: that proxy.
    proxy: HttpProxy | bool | None = None
    dns_servers: tuple[str, ...] = ()
    dns_over_https: str | None = None
    protocol: HttpProtocol | None = None


DEFAULT_SETTINGS: Final = TransportSettings()


@dataclass(slots=True)
class PreparedRequest:
    """One request as the transport sends it (the first hop of any redirects)."""

    method: str
    url: str
    #: Final request headers, defaults and conditional headers included.
    headers: dict[str, str]
    #: Request body: bytes, or an iterable of byte chunks with ``body_size`` known.
    body: bytes | Iterable[bytes] | None = None
    body_size: int = 0
    settings: TransportSettings = DEFAULT_SETTINGS
    #: Largest decoded body kept in memory; None when streaming (no limit).
    max_body: int | None = 5 * 1024 * 1024
    #: Streaming: chunks go to the sink only and the response body stays empty.
    stream: bool = False
    #: ``time.perf_counter()`` at ``request()``: every timing is measured from it.
    started: float = 0.0
    #: The scheduler's domain rules: False for a host no hop may go to (2300998).
    host_allowed: Callable[[str], bool] | None = None
    #: The netstack priority (1-1000); HTTP/2 sends it as an RFC 9218 ``Priority``.
    priority: int = 1


@dataclass(slots=True)
class Timings:
    """Milliseconds since :attr:`PreparedRequest.started`; 0.0 when a phase did not happen."""

    dns: float = 0.0
    tcp: float = 0.0
    tls: float = 0.0
    first_send: float = 0.0
    first_receive: float = 0.0
    total_finish: float = 0.0
    redirect: float = 0.0
    response_header: float = 0.0
    response_body: float = 0.0


@dataclass(slots=True)
class TransportResponse:
    """The final response after redirects."""

    status: int
    headers: HTTPHeaderDict
    #: The decoded body (empty when streaming).
    body: bytes
    url: str
    timings: Timings = field(default_factory=Timings)
    #: Number of redirects followed.
    redirects: int = 0
    #: "HTTP/1.1", "HTTP/2" ...
    http_version: str = "HTTP/1.1"


class EventSink(Protocol):
    """Where the transport reports progress; implemented by ``netstack.events``.

    Called on the worker thread, in this order per request:
    ``headers`` (final response only), then ``data``/``receive_progress`` per
    chunk; ``send_progress`` while the request body goes out.
    """

    def headers(self, headers: HTTPHeaderDict) -> None: ...

    def data(self, chunk: bytes) -> None: ...

    def receive_progress(self, received: int, total: int) -> None: ...

    def send_progress(self, sent: int, total: int) -> None: ...


class AbortSignal:
    """Lets another thread interrupt a transfer: set the flag, shut the socket.

    The transport registers the socket of the connection in use with
    :meth:`attach` and checks :attr:`aborted` between reads; :meth:`abort`
    shuts that socket down so a blocked ``recv``/``connect`` returns at once.

    No lock: ``attach`` stores the socket, then reads the flag; ``abort``
    stores the flag, then reads the socket. Each store and read is atomic in
    CPython and they are not reordered, so when the two race at least one of
    them sees the other's store and shuts the socket down (both may: a second
    shutdown is harmless). A lock per request cost more than the rest of it.
    """

    __slots__ = ("_sock", "aborted")

    def __init__(self) -> None:
        self._sock: object | None = None
        self.aborted = False

    def attach(self, sock: object | None) -> None:
        """Register (or with None, forget) the socket to shut down on abort."""
        self._sock = sock
        if self.aborted and sock is not None:
            _shutdown(sock)

    def abort(self) -> None:
        """Mark aborted and shut down the attached socket, if any."""
        self.aborted = True
        sock = self._sock
        if sock is not None:
            _shutdown(sock)


def _shutdown(sock: object) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # type: ignore[attr-defined]
