"""urllib3 PoolManagers, one per TLS/proxy configuration, created lazily.

Every manager is sized to ``max_per_host`` (the scheduler never runs more
than that many requests per host at once, so urllib3 never discards a
connection as "Connection pool is full"), never retries and never follows
redirects (the transport does both decisions itself), and uses the timed
connection classes. Certificate verification is always on; trust comes from
certifi's bundle, or the request's ``ca_path`` PEM file.

HTTPS managers are keyed by everything that changes a TLS handshake or the
route (``ca_path``, client certificate, pins, proxy, protocol, DNS); plain
HTTP managers only by the proxy and the DNS configuration, so a missing
``ca_path`` never fails an ``http://`` request.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from typing import Final

from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, PoolManager
from urllib3.util.retry import Retry

from netstack.errors import UNKNOWN, HttpError
from netstack.transport.connection import TimedHTTPConnection, TimedHTTPSConnection
from netstack.transport.dns import DnsConfig
from netstack.transport.exchange import TransportSettings
from netstack.transport.http2 import H2HTTPSPool, wants_h2
from netstack.transport.proxy import is_https as is_https_proxy
from netstack.transport.proxy import manager_factory as proxy_manager
from netstack.transport.request_send import DirectSend
from netstack.transport.sockets import AbortableSSLSocket
from netstack.transport.tls import ALPN_H1, ALPN_H2, build_context

__all__ = ["NO_RETRIES", "Pools"]

#: No urllib3 retries and no urllib3 redirects; shared, Retry is immutable.
NO_RETRIES: Final = Retry(False, redirect=False, raise_on_redirect=False)
#: Distinct (scheme, host, port) pools kept per manager before LRU eviction.
_NUM_POOLS: Final = 256

_PoolKey = tuple[object, ...]


class _HTTPPool(DirectSend):
    ConnectionCls = TimedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool, DirectSend):
    ConnectionCls = TimedHTTPSConnection


_POOL_CLASSES: Final = {"http": _HTTPPool, "https": _HTTPSPool}
#: HTTP/2 (and HTTP/3's fallback) managers: ALPN-deciding https connections, h2c never.
_H2_POOL_CLASSES: Final = {"http": _HTTPPool, "https": H2HTTPSPool}


class Pools:
    """Thread-safe registry of PoolManagers; lock-free on the hot path."""

    def __init__(self, *, max_per_host: int) -> None:
        self.max_per_host = max_per_host
        self._lock = threading.Lock()
        self._managers: dict[_PoolKey, PoolManager] = {}
        self._pools: dict[tuple[PoolManager, str, str, int], HTTPConnectionPool] = {}
        self._closed = False

    def pool(
        self, settings: TransportSettings, scheme: str, host: str, port: int, proxy: str | None
    ) -> HTTPConnectionPool:
        """The connection pool for one origin under ``settings``.

        Remembered per (manager, origin) so the hot path skips urllib3's pool-key
        normalisation; a pool the manager has since evicted (and closed) is
        looked up again.
        """
        manager = self.manager(settings, scheme, proxy)
        key = (manager, scheme, host, port)
        pool = self._pools.get(key)
        if pool is None or pool.pool is None:
            if len(self._pools) > 4 * _NUM_POOLS:
                self._pools.clear()
            pool = self._pools[key] = manager.connection_from_host(host, port, scheme)
        return pool

    def manager(
        self, settings: TransportSettings, scheme: str, proxy: str | None = None
    ) -> PoolManager:
        """The manager for ``settings`` (created on first use).

        ``proxy`` is the proxy URL chosen for this hop (``proxy.choose``), None
        to go direct; the DNS configuration is part of the key too, so requests
        with different resolvers never share a connection.
        """
        if scheme == "https":
            key: _PoolKey = (
                True,
                settings.ca_path,
                settings.client_cert,
                settings.pins,
                proxy,
                settings.protocol,
                DnsConfig.of(settings),
            )
        else:
            trust = settings.ca_path if is_https_proxy(proxy) else None
            key = (False, proxy, trust, DnsConfig.of(settings))
        manager = self._managers.get(key)
        if manager is None:
            manager = self._create(key, settings, scheme, proxy)
        return manager

    def _create(
        self, key: _PoolKey, settings: TransportSettings, scheme: str, proxy: str | None
    ) -> PoolManager:
        with self._lock:
            manager = self._managers.get(key)
            if manager is not None:
                return manager
            if self._closed:
                raise HttpError.of(UNKNOWN, "transport is closed")
            kwargs: dict[str, object] = {}
            if scheme == "https":
                kwargs["ssl_context"] = _ssl_context(settings)
                kwargs["cert_reqs"] = "CERT_REQUIRED"
            factory = PoolManager if proxy is None else proxy_manager(proxy, _proxy_tls(settings))
            manager = factory(
                num_pools=_NUM_POOLS,
                maxsize=self.max_per_host,
                block=False,
                retries=NO_RETRIES,
                **kwargs,  # type: ignore[arg-type]
            )
            manager.pool_classes_by_scheme = (
                _H2_POOL_CLASSES if wants_h2(settings.protocol) else _POOL_CLASSES
            )
            self._managers[key] = manager
            return manager

    def close(self) -> None:
        """Close every pooled connection; later requests fail with 2300999."""
        with self._lock:
            managers = list(self._managers.values())
            self._managers.clear()
            self._pools.clear()
            self._closed = True
        for manager in managers:
            # urllib3 2's PoolManager.clear() only forgets its pools (they close when
            # collected); close them now, HTTP/2 connections and their readers included.
            pools = [manager.pools[key] for key in manager.pools.keys()]  # noqa: SIM118 - no __iter__
            manager.clear()
            for pool in pools:
                pool.close()


def _ssl_context(settings: TransportSettings) -> ssl.SSLContext:
    """The manager's verifying context: trust, client cert, pins, ALPN (see ``tls``)."""
    return build_context(
        ca_path=settings.ca_path,
        client_cert=settings.client_cert,
        pins=settings.pins,
        alpn=ALPN_H2 if wants_h2(settings.protocol) else ALPN_H1,
        sslsocket_class=AbortableSSLSocket,
    )


def _proxy_tls(settings: TransportSettings) -> Callable[[], ssl.SSLContext]:
    """How an https:// proxy itself is verified: the request's trust, nothing else."""
    return lambda: build_context(
        ca_path=settings.ca_path, client_cert=None, sslsocket_class=AbortableSSLSocket
    )
