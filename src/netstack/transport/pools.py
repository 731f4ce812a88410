"""urllib3 PoolManagers, one per TLS/proxy configuration, created lazily.

Every manager is sized to ``max_per_host`` (the scheduler never runs more
than that many requests per host at once, so urllib3 never discards a
connection as "Connection pool is full"), never retries and never follows
redirects (the transport does both decisions itself), and uses the timed
connection classes. Certificate verification is always on; trust comes from
certifi's bundle, or the request's ``ca_path`` PEM file.

HTTPS managers are keyed by everything that changes a TLS handshake or the
route (``ca_path``, client certificate, pins, proxy, protocol); plain HTTP
managers only by the proxy, so a missing ``ca_path`` never fails an
``http://`` request.
"""

from __future__ import annotations

import ssl
import threading
from typing import Final

import certifi
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, PoolManager
from urllib3.util.retry import Retry
from urllib3.util.ssl_ import create_urllib3_context

from netstack.errors import CA_FILE, UNKNOWN, HttpError
from netstack.transport.connection import (
    AbortableSSLSocket,
    TimedHTTPConnection,
    TimedHTTPSConnection,
)
from netstack.transport.exchange import PreparedRequest

__all__ = ["NO_RETRIES", "Pools"]

#: No urllib3 retries and no urllib3 redirects; shared, Retry is immutable.
NO_RETRIES: Final = Retry(False, redirect=False, raise_on_redirect=False)
#: Distinct (scheme, host, port) pools kept per manager before LRU eviction.
_NUM_POOLS: Final = 256

_PoolKey = tuple[object, ...]


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = TimedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = TimedHTTPSConnection


_POOL_CLASSES: Final = {"http": _HTTPPool, "https": _HTTPSPool}


class Pools:
    """Thread-safe registry of PoolManagers; lock-free on the hot path."""

    def __init__(self, *, max_per_host: int) -> None:
        self.max_per_host = max_per_host
        self._lock = threading.Lock()
        self._managers: dict[_PoolKey, PoolManager] = {}
        self._closed = False

    def manager(self, request: PreparedRequest, scheme: str) -> PoolManager:
        """The manager for ``request``'s configuration (created on first use)."""
        if scheme == "https":
            key: _PoolKey = (
                True,
                request.ca_path,
                request.client_cert,
                request.pins,
                request.proxy,
                request.protocol,
            )
        else:
            key = (False, request.proxy)
        manager = self._managers.get(key)
        if manager is None:
            manager = self._create(key, request, scheme)
        return manager

    def _create(self, key: _PoolKey, request: PreparedRequest, scheme: str) -> PoolManager:
        with self._lock:
            manager = self._managers.get(key)
            if manager is not None:
                return manager
            if self._closed:
                raise HttpError.of(UNKNOWN, "transport is closed")
            kwargs: dict[str, object] = {}
            if scheme == "https":
                kwargs["ssl_context"] = _ssl_context(request)
                kwargs["cert_reqs"] = "CERT_REQUIRED"
            # TODO(issue 4): request.proxy (True: the environment's, via
            # urllib.request.getproxies/proxy_bypass; HttpProxy: that one minus
            # its exclusion_list) -> a urllib3 ProxyManager with the same
            # pool classes; a proxy name that does not resolve maps to 2300005.
            # TODO(issue 4): request.protocol HTTP2 -> h2-capable pool classes
            # for this manager only (never inject_into_urllib3: DESIGN.md §6).
            manager = PoolManager(
                num_pools=_NUM_POOLS,
                maxsize=self.max_per_host,
                block=False,
                retries=NO_RETRIES,
                **kwargs,  # type: ignore[arg-type]
            )
            manager.pool_classes_by_scheme = _POOL_CLASSES
            self._managers[key] = manager
            return manager

    def close(self) -> None:
        """Close every pooled connection; later requests fail with 2300999."""
        with self._lock:
            managers = list(self._managers.values())
            self._managers.clear()
            self._closed = True
        for manager in managers:
            manager.clear()


def _ssl_context(request: PreparedRequest) -> ssl.SSLContext:
    """A verifying context trusting certifi's bundle or ``ca_path``; 2300077 if unreadable."""
    context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
    cafile = request.ca_path or certifi.where()
    try:
        context.load_verify_locations(cafile=cafile)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise HttpError.of(CA_FILE, f"{cafile}: {exc}") from exc
    # TODO(issue 4): request.client_cert (PEM/DER/P12 via cryptography) ->
    # context.load_cert_chain(...); failures raise HttpError 2300058.
    context.sslsocket_class = AbortableSSLSocket
    return context
