"""The RFC 9111 private response cache (@ohos.net.http: ``createHttpResponseCache``).

Modules, one concept each: ``headers`` (Cache-Control and date parsing),
``entry`` (``CacheEntry`` and its byte format), ``freshness`` (key, lifetime,
age, Vary), ``policy`` (the sans-IO decisions), ``update`` (what an answer
changes in what is stored), ``memory`` (the bytes-bounded LRU), ``held`` (the
memory tier with its variant index), ``storage`` (``CacheStorage``,
``FileStorage``, ``MemoryStorage``), ``persistence`` (loading and batched
writes), ``stats`` (``CacheStats``), ``state`` (what one cache holds),
``driver`` (the request path), ``flushing`` (flush, delete and load),
``cache`` (``HttpResponseCache``, the public face) and ``install`` (the
process-wide cache).

Users see ``HttpResponseCache``: its options, ``flush()``, ``delete()`` and
``stats()``. The request pipeline drives a cache through its driver, which
``driver_of(cache)`` hands out (internal)::

    driver = driver_of(cache)
    lookup = driver.lookup(method, url, request_headers, now)
    # lookup.action is one of:
    #   "fresh"          serve lookup.response (a CachedResponse, Age set); no network
    #   "stale"          serve lookup.response (stale-while-revalidate); when
    #                    lookup.background, revalidate it in the background
    #   "revalidate"     add lookup.conditional_headers (If-None-Match and/or
    #                    If-Modified-Since) to the outgoing request
    #   "miss"           send the request as is
    #   "unsatisfiable"  only-if-cached and nothing fits: serve lookup.response,
    #                    a synthesized 504 with an empty body
    cached = driver.complete(lookup, status, headers, body, request_time, response_time)
    # Call it after every network answer, whatever the method (unsafe methods
    # invalidate). headers: the response's (name, value) pairs; body: already
    # content-decoded; times: epoch seconds around the exchange. Returns a
    # CachedResponse to serve instead of the network's answer when a 304
    # answered our conditional request (stored status and body, headers
    # updated by the 304) or stale-if-error covers a 500/502/503/504; else
    # None: serve the network's answer.
    cached = driver.fail(lookup, now)
    # Instead of complete() when no answer came (a connection failure): the
    # stored response stale-if-error allows, or None.

``driver.fresh()`` is the common case of ``lookup()`` at less cost (a plain
fresh hit, or ``None``: then call ``lookup()``); ``driver.peek()`` looks
again for a request already counted (a queued request after a coalesced one).

``CachedResponse(status, headers, body)`` is frozen; ``headers`` is a list of
``(name, value)`` pairs keeping duplicates (``Set-Cookie``). Stored headers
carry no ``Content-Encoding`` (the body is stored decoded) and a
``Content-Length`` equal to ``len(body)``. After ``delete()``, ``lookup``
always misses and ``complete`` stores nothing and returns ``None``.

What is stored: ``GET`` responses with a final status other than 206 and 304,
no ``no-store`` (request or response), no ``Vary: *``; with explicit freshness
(``max-age``, ``Expires``), ``public``, or a heuristically cacheable status;
with ``Authorization`` only when ``public``, ``must-revalidate`` or
``s-maxage``; a ``Date`` is added when it has none. Variants of one URL
(``Vary``) are kept side by side, each for the request headers that select
it; a variant selected by other field names replaces them. A ``HEAD`` is
answered by a fresh stored ``GET`` response, without its body (never
revalidated). Requests carrying ``Range`` or their own validators
(``If-None-Match`` ...) bypass the lookup. A request ``max-stale`` may be
served a stale response without validation, unless it says
``must-revalidate`` or ``no-cache``.
"""

from __future__ import annotations

from netstack.cache.cache import DEFAULT_CACHE_SIZE, HttpResponseCache, driver_of
from netstack.cache.driver import CacheDriver
from netstack.cache.entry import CacheEntry
from netstack.cache.install import create_http_response_cache, installed_cache
from netstack.cache.policy import SAFE_METHODS, Action, CachedResponse, CacheLookup, may_coalesce
from netstack.cache.stats import CacheStats
from netstack.cache.storage import CacheStorage, FileStorage, MemoryStorage

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "SAFE_METHODS",
    "Action",
    "CacheDriver",
    "CacheEntry",
    "CacheLookup",
    "CacheStats",
    "CacheStorage",
    "CachedResponse",
    "FileStorage",
    "HttpResponseCache",
    "MemoryStorage",
    "create_http_response_cache",
    "driver_of",
    "installed_cache",
    "may_coalesce",
]
