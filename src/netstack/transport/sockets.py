"""Abortable socket primitives and the transport's one connect loop.

Every socket the transport opens, for a request (``connection.py``) or for a
DNS-over-HTTPS lookup made on its behalf (``resolver.py``), comes from
:func:`connect` and is attached to the request's
:class:`~netstack.transport.exchange.AbortSignal` before it blocks, so an
abort from another thread makes a pending connect, TLS handshake or recv
return at once. TLS sockets are :class:`AbortableSSLSocket`, which attach
themselves before the handshake.

This module sits at the bottom of the transport: it imports only the
per-request context and the plain exchange values, never a connection class
or a resolver.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterable, Sequence

from netstack.transport.context import AddrInfo, current
from netstack.transport.exchange import AbortSignal

__all__ = ["AbortableSSLSocket", "ExchangeAborted", "connect"]

_SocketOption = tuple[int, int, int | bytes]


class ExchangeAborted(Exception):
    """Raised inside the transport when the AbortSignal fired; mapped to 2300042."""


class AbortableSSLSocket(ssl.SSLSocket):
    """Attaches itself to the current AbortSignal before the TLS handshake.

    Set as ``sslsocket_class`` of the pools' SSLContexts: wrapping detaches
    the plain socket, so the signal must learn about the TLS socket before the
    handshake blocks, not after.
    """

    def do_handshake(self, block: bool = False) -> None:
        ctx = current()
        if ctx is not None:
            ctx.abort.attach(self)
            if ctx.abort.aborted:
                raise ExchangeAborted
        super().do_handshake(block)


def connect(
    infos: Sequence[AddrInfo],
    abort: AbortSignal,
    timeout: float | None,
    *,
    options: Iterable[_SocketOption] = (),
    source_address: tuple[str, int] | None = None,
    socket_class: type[socket.socket] = socket.socket,
) -> socket.socket:
    """A socket connected to the first address of ``infos`` that accepts.

    Each socket is attached to ``abort`` before its connect blocks. Raises
    :class:`ExchangeAborted` once the signal fired, else the last address's
    ``OSError`` when none connected.
    """
    err: OSError | None = None
    for family, socktype, proto, _canon, address in infos:
        sock = socket_class(family, socktype, proto)
        try:
            for option in options:
                sock.setsockopt(*option)
            sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            abort.attach(sock)
            if abort.aborted:
                raise ExchangeAborted
            sock.connect(address)
            if abort.aborted:
                raise ExchangeAborted
        except OSError as exc:
            sock.close()
            if abort.aborted:
                raise ExchangeAborted from exc
            err = exc
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise err or OSError("no address to connect to")
