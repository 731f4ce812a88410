"""Name resolution through a request's own resolvers: ``dns_servers`` or DoH.

This module is what every request touches (:class:`DnsConfig`,
:class:`Resolvers`); the resolvers themselves, built on dnspython, live in
``resolver.py``: :class:`Resolvers` is given a factory (the transport's) that
imports it only when a request first asks for one, so neither module imports
the other's registry.

A request with ``dns_servers`` (the first three are used) or
``dns_over_https`` gets a :class:`Resolver`, found in :class:`Resolvers` by
its :class:`DnsConfig`. The connection classes call :meth:`Resolver.resolve`
from inside their own connect, in place of ``getaddrinfo``: the socket goes
to the resolved address while the connection keeps the URL's host, so the
Host header, TLS SNI and certificate verification keep using the name
and the pools stay keyed by host name.

- ``dns_servers``: UDP queries (TCP when the answer is truncated) to each
  server in turn, in rounds, until the connect timeout; SERVFAIL or REFUSED
  moves on to the next server, NXDOMAIN ends the search.
- ``dns_over_https``: RFC 8484 POST of ``application/dns-message`` to the
  URL, verified with the request's trust settings (``ca_path``, else
  certifi's bundle); a DoH host that is a name is found through
  ``dns_servers`` when given, else the system.

A made-up name never falls back to the system resolver. A and AAAA answers
(AAAA only where IPv6 is usable) are cached for their TTL. Every failure is
a ``socket.gaierror``, which the connection reports as a resolution error
(2300006, or 2300005 for a proxy's name). The current request's
:class:`~netstack.transport.exchange.AbortSignal` is honoured between UDP
reads and by every DoH socket, so an abort ends a lookup within a fraction
of a second.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from netstack.transport.context import NameResolver
from netstack.transport.exchange import TransportSettings

__all__ = ["MAX_SERVERS", "DnsConfig", "Resolvers"]

#: The request's own resolvers: the first three ``dns_servers`` are used.
MAX_SERVERS: Final = 3


@dataclass(frozen=True, slots=True)
class DnsConfig:
    """Everything that changes how names resolve; hashable, part of the pool key."""

    #: ``(address, port)`` per server, at most :data:`MAX_SERVERS`.
    servers: tuple[tuple[str, int], ...] = ()
    doh_url: str | None = None
    #: Trust for the DoH endpoint (None: certifi); unused without DoH.
    ca_path: str | None = None

    @classmethod
    def of(cls, settings: TransportSettings) -> DnsConfig | None:
        """The configuration in ``settings``; None when it uses the system resolver."""
        if not settings.dns_servers and not settings.dns_over_https:
            return None
        servers = tuple(_server(s) for s in settings.dns_servers[:MAX_SERVERS])
        doh = settings.dns_over_https
        return cls(servers, doh, settings.ca_path if doh else None)


class Resolvers:
    """One resolver per :class:`DnsConfig`, shared by every request using it.

    ``factory`` builds the resolver for a configuration the first time a
    request uses it.
    """

    def __init__(self, factory: Callable[[DnsConfig], NameResolver]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._resolvers: dict[DnsConfig, NameResolver] = {}

    def get(self, settings: TransportSettings) -> NameResolver | None:
        """The resolver for ``settings``; None when it uses the system resolver."""
        config = DnsConfig.of(settings)
        if config is None:
            return None
        resolver = self._resolvers.get(config)
        if resolver is None:
            with self._lock:
                resolver = self._resolvers.get(config)
                if resolver is None:
                    resolver = self._resolvers[config] = self._factory(config)
        return resolver

    def close(self) -> None:
        with self._lock:
            resolvers = list(self._resolvers.values())
            self._resolvers.clear()
        for resolver in resolvers:
            resolver.close()


def _server(entry: str) -> tuple[str, int]:
    """``"1.2.3.4"``, ``"1.2.3.4:5353"``, ``"::1"`` or ``"[::1]:5353"`` as (address, port)."""
    text = entry.strip()
    port = 53
    if text.startswith("["):
        address, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = int(rest[1:])
    elif text.count(":") == 1:
        address, _, port_text = text.partition(":")
        port = int(port_text)
    else:
        address = text
    return str(ipaddress.ip_address(address)), port
