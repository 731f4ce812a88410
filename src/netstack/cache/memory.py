"""``MemoryTier``: the in-memory LRU of cache entries, bounded by bytes.

Entries are held under their :attr:`~CacheEntry.storage_key`, so several
variants of one URL live side by side. The sum of :attr:`CacheEntry.size`
never exceeds ``max_bytes``; an entry larger than the whole tier is refused.
One lock makes every method thread-safe.

An ``OrderedDict`` keeps the recency order: a hit is one ``get`` and one
``move_to_end``, both in C (a fresh hit reads the tier on every request).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from netstack.cache.entry import CacheEntry


class MemoryTier:
    """Entries by storage key, least recently used evicted first."""

    def __init__(self, max_bytes: int) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self._bytes = 0
        self._max_bytes = max_bytes

    @property
    def max_bytes(self) -> int:
        """The bound on :attr:`current_bytes`."""
        return self._max_bytes

    @property
    def current_bytes(self) -> int:
        """The summed size of the entries held now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> CacheEntry | None:
        """The entry under storage key ``key``, now the most recently used; ``None`` if absent."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, entry: CacheEntry) -> list[CacheEntry]:
        """Hold ``entry`` under its storage key; the entries it pushed out (itself if too large).

        An older entry under the same key is replaced, not reported.
        """
        key, size = entry.storage_key, entry.size
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            if size > self._max_bytes:
                return [entry]
            evicted: list[CacheEntry] = []
            while self._bytes + size > self._max_bytes:
                _, oldest = self._entries.popitem(last=False)
                self._bytes -= oldest.size
                evicted.append(oldest)
            self._entries[key] = entry
            self._bytes += size
            return evicted

    def pop(self, key: str) -> CacheEntry | None:
        """Remove and return the entry under ``key``."""
        with self._lock:
            entry = self._entries.pop(key, None)
            if entry is not None:
                self._bytes -= entry.size
            return entry

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def snapshot(self) -> dict[str, CacheEntry]:
        """Every entry by key, least recently used first, without touching recency."""
        with self._lock:
            return dict(self._entries)
