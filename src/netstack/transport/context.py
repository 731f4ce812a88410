"""The per-request state that pooled connections read while a request runs.

urllib3 builds and reuses connections deep inside its pools, so the timings
being filled and the :class:`AbortSignal` cannot be passed to them as
arguments. :meth:`Transport.send` binds a :class:`RequestContext` to the
worker thread instead (one worker thread runs one request at a time), and the
connection classes in :mod:`netstack.transport.connection` read it with
:func:`current`.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol, TypeAlias

from netstack.transport.exchange import AbortSignal, Timings

__all__ = ["AddrInfo", "NameResolver", "RequestContext", "bind", "current"]

AddrInfo: TypeAlias = tuple[socket.AddressFamily, socket.SocketKind, int, str, Any]
"""One ``socket.getaddrinfo`` entry: family, type, proto, canonname, sockaddr."""


class NameResolver(Protocol):
    """A request's own resolver (``dns_servers`` / DoH): ``getaddrinfo`` in its place."""

    def resolve(
        self, host: str, port: int, family: int, abort: AbortSignal, timeout: object = None
    ) -> Sequence[AddrInfo]:
        """Addresses of ``host`` for a stream socket; ``socket.gaierror`` when none."""
        ...

    def close(self) -> None:
        """Release pooled connections (it stays usable)."""
        ...


class RequestContext:
    """What one request's connection hooks record; reset per redirect hop."""

    __slots__ = (
        "abort",
        "connected",
        "host",
        "port",
        "priority",
        "received",
        "resolver",
        "reused",
        "send_failed",
        "sent",
        "sent_reported",
        "started",
        "timings",
    )

    def __init__(self, started: float, abort: AbortSignal, priority: int = 1) -> None:
        self.started = started
        self.abort = abort
        self.timings = Timings()
        #: The request's own resolver (dns_servers / DoH); None: the system's.
        self.resolver: NameResolver | None = None
        #: The peer of the current hop, for error messages.
        self.host = ""
        self.port = 0
        #: Highest ``sent`` value reported to ``send_progress`` (kept across hops).
        self.sent_reported = 0
        #: The request's netstack priority (1-1000): HTTP/2's Priority header.
        self.priority = priority
        # What new_hop() resets, set here without the call (documented there).
        self.connected = self.reused = self.sent = self.received = self.send_failed = False

    def new_hop(self, host: str, port: int) -> None:
        """Forget what the previous hop's connection did."""
        self.host = host
        self.port = port
        #: A fresh connection was opened for this hop (DNS, TCP, maybe TLS).
        self.connected = False
        #: A pooled keep-alive connection was taken for this hop.
        self.reused = False
        #: First byte of the request written / status line read.
        self.sent = False
        self.received = False
        #: A socket error happened while writing the request.
        self.send_failed = False

    def ms(self) -> float:
        """Milliseconds since ``request()``: the unit of every timing mark.

        The marks every request takes (connection.py, transport.py) compute
        ``(perf_counter() - ctx.started) * 1000.0`` in place: same value, no call.
        """
        return (time.perf_counter() - self.started) * 1000.0

    @property
    def peer(self) -> str:
        host = self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{host}:{self.port}"


class _Local(threading.local):
    ctx: RequestContext | None = None


#: ``_local.ctx`` is what :func:`current` returns; the per-request hooks of
#: transport.py and connection.py read and set it directly (no call).
_local = _Local()


def bind(ctx: RequestContext | None) -> None:
    """Make ``ctx`` the current request of this thread (None: no request)."""
    _local.ctx = ctx


def current() -> RequestContext | None:
    """The request this thread is running, if any."""
    return _local.ctx
