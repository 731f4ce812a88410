"""``CacheState``: what one cache holds, in memory and in its storage, and its counters.

One object shared by the parts of a cache: the request path
(:mod:`netstack.cache.driver`), flush, delete and load, and the public
:class:`~netstack.cache.cache.HttpResponseCache`. After a flush the storage
holds exactly what memory holds (unless ``write_through``: then every change
reaches the storage at once). ``lock`` guards everything here. The request
path counts its own hits and misses.
"""

from __future__ import annotations

import threading

from netstack.cache.entry import CacheEntry
from netstack.cache.held import HeldEntries
from netstack.cache.storage import CacheStorage


class CacheState:
    """The memory tier, the storage and the bookkeeping between them."""

    __slots__ = (
        "dirty",
        "enabled",
        "evicted",
        "flush_lock",
        "held",
        "lock",
        "memory",
        "persisted",
        "revalidated",
        "storage",
        "stored",
        "write_through",
    )

    def __init__(self, storage: CacheStorage, max_bytes: int, *, write_through: bool) -> None:
        self.storage = storage
        self.write_through = write_through
        self.held = HeldEntries(max_bytes)
        self.memory = self.held.memory
        self.lock = threading.Lock()  # everything below, then the memory tier's
        self.flush_lock = threading.Lock()  # one flush or delete at a time
        #: False once ``delete()`` ran: lookups miss and nothing is stored.
        self.enabled = True
        #: Storage keys whose entry changed since the last flush.
        self.dirty: set[str] = set()
        #: Storage keys the storage holds.
        self.persisted: set[str] = set()
        #: Counters (see :class:`~netstack.cache.stats.CacheStats`).
        self.revalidated = self.stored = self.evicted = 0

    def put(self, entry: CacheEntry) -> tuple[bool, list[CacheEntry], list[str]]:
        """Hold ``entry`` (under the lock): whether it fit, what it evicted, what it replaced."""
        kept, evicted, replaced = self.held.put(entry)
        self.dirty.difference_update(old.storage_key for old in evicted)
        self.dirty.difference_update(replaced)
        return kept, evicted, replaced

    def drop(self, primary: str) -> list[str]:
        """Remove every variant of ``primary`` (under the lock); their storage keys."""
        keys = self.held.drop(primary)
        self.dirty.difference_update(keys)
        return keys
