"""SharedResponseCache: an HttpResponseCache that reads and writes through its storage.

``HttpResponseCache`` touches its storage only at creation (load), ``flush()``
and ``delete()``. Workers sharing a :class:`RedisStorage` want more: a
response one worker stored should be a hit for another at once. This cache
looks a miss up in the storage before deciding (one GET), and writes every
response it stores through to the storage (one SET), keeping the memory
tier as a local LRU in front. Storage trouble is logged and treated as a
miss: the request then goes to the network. ``flush()`` and ``delete()``
keep their meaning (``flush()`` makes the storage hold what this memory
holds, so a worker does not call it: other workers' entries would go).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from netstack.cache import HttpResponseCache
from netstack.cache.entry import CacheEntry
from netstack.cache.freshness import cache_key
from netstack.cache.policy import CachedResponse, CacheLookup
from netstack.log import log_event

__all__ = ["SharedResponseCache"]

_LOOKUP_METHODS = frozenset({"GET", "HEAD"})


class SharedResponseCache(HttpResponseCache):
    """Read-through on a memory miss, write-through on store (see the module docstring)."""

    def lookup(
        self, method: str, url: str, request_headers: Mapping[str, str], now: float
    ) -> CacheLookup:
        if self._enabled and method.upper() in _LOOKUP_METHODS:
            key = cache_key(url)
            if self._memory.get(key) is None:
                self._read_through(key)
        return super().lookup(method, url, request_headers, now)

    def _read_through(self, key: str) -> None:
        try:
            data = self._storage.get(key)
            if data is None:
                return
            entry = CacheEntry.from_bytes(data)
        except Exception as exc:  # a miss, not a failure
            log_event(logging.WARNING, "cache_read_through_failed", key=key, error=repr(exc))
            return
        if entry.key != key:
            return
        with self._lock:
            if self._enabled and self._memory.get(key) is None:
                self._memory.put(entry)
                self._persisted.add(key)

    def complete(
        self,
        lookup: CacheLookup,
        status: int,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        request_time: float,
        response_time: float,
    ) -> CachedResponse | None:
        served = super().complete(lookup, status, headers, body, request_time, response_time)
        key = lookup.key
        with self._lock:
            entry = self._memory.get(key) if key in self._dirty else None
            if entry is not None:
                self._dirty.discard(key)
        if entry is not None:
            try:
                self._storage.put(key, entry.to_bytes())
            except Exception as exc:  # the next flush() retries it
                log_event(logging.WARNING, "cache_write_through_failed", key=key, error=repr(exc))
                with self._lock:
                    self._dirty.add(key)
            else:
                with self._lock:
                    self._persisted.add(key)
        return served
