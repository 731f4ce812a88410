"""``MemoryTier``: the in-memory LRU of cache entries, bounded by bytes.

Entries are held under their :attr:`~CacheEntry.storage_key`, so several
variants of one URL live side by side.

Built on :class:`cachetools.LRUCache` with ``getsizeof`` = :attr:`CacheEntry.size`,
so the sum of entry sizes never exceeds ``max_bytes``; an entry larger than
the whole tier is refused. One lock makes every method thread-safe.
"""

from __future__ import annotations

import threading

from cachetools import Cache, LRUCache

from netstack.cache.entry import CacheEntry


def _sizeof(entry: CacheEntry) -> int:
    return entry.size


class _Lru(LRUCache[str, CacheEntry]):
    """An LRUCache that remembers which entries it evicted for room."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize, getsizeof=_sizeof)
        self.evicted: list[CacheEntry] = []

    def popitem(self) -> tuple[str, CacheEntry]:
        key, entry = super().popitem()
        self.evicted.append(entry)
        return key, entry


class MemoryTier:
    """Entries by cache key, least recently used evicted first."""

    def __init__(self, max_bytes: int) -> None:
        self._lock = threading.Lock()
        self._lru = _Lru(max_bytes)
        self._max_bytes = max_bytes

    @property
    def max_bytes(self) -> int:
        """The bound on :attr:`current_bytes`."""
        return self._max_bytes

    @property
    def current_bytes(self) -> int:
        """The summed size of the entries held now."""
        with self._lock:
            return int(self._lru.currsize)

    def __len__(self) -> int:
        with self._lock:
            return len(self._lru)

    def get(self, key: str) -> CacheEntry | None:
        """The entry under storage key ``key``, now the most recently used; ``None`` if absent."""
        with self._lock:
            return self._lru.get(key)

    def put(self, entry: CacheEntry) -> list[CacheEntry]:
        """Hold ``entry`` under its storage key; the entries it pushed out (itself if too large)."""
        key = entry.storage_key
        with self._lock:
            self._lru.evicted = []
            if entry.size > self._max_bytes:
                self._lru.pop(key, None)
                return [entry]
            self._lru[key] = entry
            return self._lru.evicted

    def pop(self, key: str) -> CacheEntry | None:
        """Remove and return the entry under ``key``."""
        with self._lock:
            return self._lru.pop(key, None)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._lru.clear()

    def snapshot(self) -> dict[str, CacheEntry]:
        """Every entry by key, without touching recency."""
        with self._lock:
            return {key: Cache.__getitem__(self._lru, key) for key in list(self._lru)}
