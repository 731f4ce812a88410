"""The resolvers behind ``dns_servers`` and ``dns_over_https`` (dnspython).

See ``dns.py`` for the behaviour; this module is imported when a request
first uses its own resolver, so programs that never do skip dnspython.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
from cachetools import TLRUCache
from urllib3 import HTTPSConnectionPool, PoolManager
from urllib3.connection import HTTPSConnection
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.util import Timeout, parse_url

from netstack.errors import UNSUPPORTED_PROTOCOL, HttpError
from netstack.transport.context import AddrInfo, current
from netstack.transport.dns import DnsConfig
from netstack.transport.exchange import AbortSignal
from netstack.transport.sockets import AbortableSSLSocket, ExchangeAborted, connect
from netstack.transport.tls import build_context

__all__ = ["Resolver"]

#: Longest lookup when the connection has no connect timeout, seconds.
_DEFAULT_LIFETIME: Final = 30.0
#: One UDP query waits this long for its answer before the next server is tried.
_TRY_TIMEOUT: Final = 1.0
#: An unanswered UDP wait wakes this often to notice an abort.
_POLL: Final = 0.1
_CACHE_ENTRIES: Final = 1024
_MAX_TTL: Final = 3600.0
_DNS_MESSAGE: Final = "application/dns-message"
_NEXT_SERVER: Final = frozenset({dns.rcode.SERVFAIL, dns.rcode.REFUSED, dns.rcode.NOTIMP})


@dataclass(frozen=True, slots=True)
class _Answer:
    addresses: tuple[str, ...]
    ttl: float
    #: The name does not exist (NXDOMAIN): no other record type will exist either.
    nxdomain: bool = False


def _ttu(_key: object, value: _Answer, now: float) -> float:
    return now + value.ttl


class Resolver:
    """Resolves names through one :class:`DnsConfig`; thread-safe, caches by TTL."""

    def __init__(self, config: DnsConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._cache: TLRUCache[tuple[str, int], _Answer] = TLRUCache(
            maxsize=_CACHE_ENTRIES, ttu=_ttu, timer=time.monotonic
        )
        #: Index of the server that answered last: asked first next time.
        self._preferred = 0
        self._doh: PoolManager | None = None
        if config.doh_url is not None:
            self._doh = _doh_manager(config.doh_url, config.ca_path)

    def __repr__(self) -> str:
        servers = ", ".join(f"{a}:{p}" for a, p in self.config.servers)
        return f"<Resolver servers=[{servers}] doh={self.config.doh_url!r}>"

    def resolve(
        self,
        host: str,
        port: int,
        family: int,
        abort: AbortSignal,
        timeout: object = None,
        *,
        servers_only: bool = False,
    ) -> Sequence[AddrInfo]:
        """``getaddrinfo(host, port, family, SOCK_STREAM)`` through this resolver.

        ``servers_only`` skips DoH: how the DoH endpoint's own name is found.
        """
        literal = _literal(host)
        if literal is not None:
            return socket.getaddrinfo(
                host.strip("[]"), port, family, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST
            )
        if _is_localhost(host):
            return _loopback(port, family)
        deadline = time.monotonic() + _lifetime(timeout)
        name = host.rstrip(".").lower()
        infos: list[AddrInfo] = []
        kinds = [dns.rdatatype.A] if family != socket.AF_INET6 else []
        if family != socket.AF_INET and socket.has_ipv6:
            kinds.append(dns.rdatatype.AAAA)
        for rdtype in kinds:
            answer = self._lookup(name, rdtype, deadline, abort, servers_only)
            if answer.nxdomain:
                break
            infos.extend(_infos(answer.addresses, port))
        if not infos:
            raise socket.gaierror(socket.EAI_NONAME, f"{host}: no address found")
        return infos

    def close(self) -> None:
        """Close the DoH connections; the resolver still works (it reconnects)."""
        if self._doh is not None:
            self._doh.clear()

    def _lookup(
        self,
        name: str,
        rdtype: dns.rdatatype.RdataType,
        deadline: float,
        abort: AbortSignal,
        servers_only: bool,
    ) -> _Answer:
        key = (name, int(rdtype))
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        query = dns.message.make_query(name, rdtype)
        query.flags |= dns.flags.RD
        response = (
            self._ask_doh(query, deadline, abort)
            if self._doh and not servers_only
            else self._ask_servers(query, deadline, abort)
        )
        answer = _answer(name, response, rdtype)
        if answer.ttl > 0:
            with self._lock:
                self._cache[key] = answer
        return answer

    def _ask_servers(
        self, query: dns.message.Message, deadline: float, abort: AbortSignal
    ) -> dns.message.Message:
        servers = self.config.servers
        if not servers:
            raise socket.gaierror(socket.EAI_FAIL, "no DNS server configured")
        problem = "timed out"
        first = self._preferred
        order = [
            (i % len(servers), *servers[i % len(servers)])
            for i in range(first, first + len(servers))
        ]
        while True:
            refused = 0
            for index, address, port in order:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise socket.gaierror(socket.EAI_AGAIN, f"DNS lookup {problem}")
                try:
                    response = _udp(query, address, port, min(_TRY_TIMEOUT, remaining), abort)
                    if response.flags & dns.flags.TC:
                        response = dns.query.tcp(query, address, remaining, port)
                except (dns.exception.DNSException, OSError, ValueError) as exc:
                    if abort.aborted:
                        raise ExchangeAborted from exc
                    problem = f"failed: {address}: {exc or type(exc).__name__}"
                    continue
                if response.rcode() in _NEXT_SERVER:
                    refused += 1
                    problem = f"failed: {address}: {dns.rcode.to_text(response.rcode())}"
                    continue
                self._preferred = index
                return response
            if refused == len(servers):  # every server answered, none will help
                raise socket.gaierror(socket.EAI_FAIL, f"DNS lookup {problem}")

    def _ask_doh(
        self, query: dns.message.Message, deadline: float, abort: AbortSignal
    ) -> dns.message.Message:
        assert self._doh is not None
        assert self.config.doh_url is not None
        url = self.config.doh_url
        query.id = 0  # RFC 8484 §4.1: cache friendly
        remaining = max(deadline - time.monotonic(), 0.001)
        try:
            resp = self._doh.request(
                "POST",
                url,
                body=query.to_wire(),
                headers={"Content-Type": _DNS_MESSAGE, "Accept": _DNS_MESSAGE},
                timeout=Timeout(connect=remaining, read=remaining),
                retries=False,
                redirect=False,
            )
        except (Urllib3Error, OSError) as exc:
            if abort.aborted:
                raise ExchangeAborted from exc
            raise socket.gaierror(socket.EAI_AGAIN, f"DoH {url}: {exc}") from exc
        if abort.aborted:
            raise ExchangeAborted
        content_type = (resp.headers.get("content-type") or "").split(";")[0].strip().lower()
        if resp.status != 200 or content_type != _DNS_MESSAGE:
            raise socket.gaierror(
                socket.EAI_FAIL, f"DoH {url}: HTTP {resp.status} {content_type or '-'}"
            )
        try:
            response = dns.message.from_wire(resp.data)
        except dns.exception.DNSException as exc:
            raise socket.gaierror(socket.EAI_FAIL, f"DoH {url}: {exc}") from exc
        if not query.is_response(response):
            raise socket.gaierror(socket.EAI_FAIL, f"DoH {url}: answer to another question")
        if response.rcode() in _NEXT_SERVER:
            detail = dns.rcode.to_text(response.rcode())
            raise socket.gaierror(socket.EAI_FAIL, f"DoH {url}: {detail}")
        return response


def _udp(
    query: dns.message.Message, address: str, port: int, timeout: float, abort: AbortSignal
) -> dns.message.Message:
    """One UDP exchange, waking every :data:`_POLL` seconds to notice an abort."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    destination = (address, port)
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        end = time.time() + timeout  # dnspython's expirations are time.time()
        dns.query.send_udp(sock, query, destination, end)
        while True:
            if abort.aborted:
                raise ExchangeAborted
            try:
                response, _ = dns.query.receive_udp(
                    sock,
                    destination,
                    expiration=min(time.time() + _POLL, end),
                    ignore_unexpected=True,
                    ignore_errors=True,
                    query=query,
                )
            except dns.exception.Timeout:
                if time.time() >= end:
                    raise
                continue
            message: dns.message.Message = response
            return message


def _answer(name: str, response: dns.message.Message, rdtype: int) -> _Answer:
    """The addresses of ``name`` in ``response`` (CNAMEs followed) and their TTL."""
    if response.rcode() == dns.rcode.NXDOMAIN:
        return _Answer((), _negative_ttl(response), nxdomain=True)
    if response.rcode() != dns.rcode.NOERROR:
        code = dns.rcode.to_text(response.rcode())
        raise socket.gaierror(socket.EAI_FAIL, f"{name}: {code}")
    if not isinstance(response, dns.message.QueryMessage):  # pragma: no cover
        return _Answer((), 0.0)
    try:
        chain = response.resolve_chaining()
    except dns.exception.DNSException as exc:
        raise socket.gaierror(socket.EAI_FAIL, f"{name}: {exc}") from exc
    rrset = chain.answer
    if rrset is None or rrset.rdtype != rdtype:
        return _Answer((), _negative_ttl(response))
    addresses = tuple(str(rdata.address) for rdata in rrset)
    return _Answer(addresses, min(float(chain.minimum_ttl), _MAX_TTL))


def _negative_ttl(response: dns.message.Message) -> float:
    """RFC 2308 §5: a negative answer lives min(SOA TTL, SOA minimum); 0 without SOA."""
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.SOA and len(rrset):
            return float(min(rrset.ttl, rrset[0].minimum, _MAX_TTL))
    return 0.0


def _infos(addresses: Sequence[str], port: int) -> list[AddrInfo]:
    infos: list[AddrInfo] = []
    for address in addresses:
        if ":" in address:
            infos.append(
                (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port, 0, 0))
            )
        else:
            infos.append(
                (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))
            )
    return infos


def _loopback(port: int, family: int) -> list[AddrInfo]:
    """RFC 6761 §6.3: ``localhost`` is loopback; no resolver is asked."""
    addresses = []
    if family != socket.AF_INET6:
        addresses.append("127.0.0.1")
    if family != socket.AF_INET and socket.has_ipv6:
        addresses.append("::1")
    return _infos(addresses, port)


def _is_localhost(host: str) -> bool:
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]").split("%")[0]))
    except ValueError:
        return None


def _lifetime(timeout: object) -> float:
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0:
        return float(timeout)
    return _DEFAULT_LIFETIME


# -- DoH transport ----------------------------------------------------------


class _DohConnection(HTTPSConnection):
    """Connects to the DoH endpoint with its sockets attached to the AbortSignal.

    The endpoint's own name (when not an address) is found through the
    current request's ``dns_servers`` if it has some, else the system resolver.
    """

    def _new_conn(self) -> socket.socket:
        ctx = current()
        abort = ctx.abort if ctx is not None else AbortSignal()
        resolver = ctx.resolver if ctx is not None else None
        host = self._dns_host.strip("[]")
        timeout = self.timeout if isinstance(self.timeout, (int, float)) else None
        infos: Sequence[AddrInfo]
        if _literal(host) is None and isinstance(resolver, Resolver) and resolver.config.servers:
            infos = resolver.resolve(
                host, self.port, socket.AF_UNSPEC, abort, timeout, servers_only=True
            )
        else:
            infos = socket.getaddrinfo(host, self.port, socket.AF_UNSPEC, socket.SOCK_STREAM)
        return connect(infos, abort, timeout)

    def request(self, *args: Any, **kwargs: Any) -> None:
        ctx = current()
        if ctx is not None and self.sock is not None:
            ctx.abort.attach(self.sock)  # a kept-alive connection: attach before writing
        super().request(*args, **kwargs)


class _DohPool(HTTPSConnectionPool):
    ConnectionCls = _DohConnection


def _doh_manager(url: str, ca_path: str | None) -> PoolManager:
    """A pool manager for the DoH endpoint, trusting ``ca_path`` or certifi (2300077)."""
    if parse_url(url).scheme != "https":
        raise HttpError.of(UNSUPPORTED_PROTOCOL, f"dns_over_https {url!r}: not https://")
    context = build_context(ca_path=ca_path, client_cert=None, sslsocket_class=AbortableSSLSocket)
    manager = PoolManager(num_pools=4, maxsize=4, ssl_context=context, cert_reqs="CERT_REQUIRED")
    manager.pool_classes_by_scheme = {"https": _DohPool}
    return manager
