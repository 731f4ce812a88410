"""``HeldEntries``: what the cache holds in memory, variants of one URL side by side.

The bytes-bounded LRU (:class:`~netstack.cache.memory.MemoryTier`) holds
entries under their storage key; this index knows, per URL (primary key),
the ``Vary`` field names its variants were selected by and which variants
are held, so a request finds its own variant in one dictionary lookup
(RFC 9111 §4.1) and an invalidation removes them all. Not locked: the
cache's lock guards every change; :meth:`find` only reads.
"""

from __future__ import annotations

from collections.abc import Mapping

from netstack.cache.entry import CacheEntry
from netstack.cache.freshness import request_snapshot, variant_key
from netstack.cache.memory import MemoryTier


class HeldEntries:
    """The memory tier plus its variant index."""

    def __init__(self, max_bytes: int) -> None:
        self.memory = MemoryTier(max_bytes)
        #: Per primary key: the Vary field names its variants were selected by ...
        self._vary: dict[str, tuple[str, ...]] = {}
        #: ... and the storage keys of those variants held now.
        self._variants: dict[str, set[str]] = {}

    def varies(self, key: str) -> bool:
        """Whether the responses held for primary ``key`` vary on request fields."""
        return bool(self._vary.get(key))

    def find(self, key: str, request_headers: Mapping[str, str]) -> CacheEntry | None:
        """The variant of primary ``key`` these request headers select, if held."""
        names = self._vary.get(key)
        skey = variant_key(key, request_snapshot(names, request_headers)) if names else key
        return self.memory.get(skey)

    def put(self, entry: CacheEntry) -> tuple[bool, list[CacheEntry], list[str]]:
        """Hold ``entry``: whether it fit, the entries it evicted, the storage keys it replaced.

        A variant selected by other Vary field names than the ones held for
        its URL replaces them all.
        """
        primary, names = entry.key, entry.vary_names
        replaced: list[str] = []
        if self._vary.get(primary, names) != names:
            replaced = self.drop(primary)
        evicted = self.memory.put(entry)
        kept = not any(old is entry for old in evicted)
        for old in evicted:
            if old is not entry:
                self._unindex(old)
        if kept:
            self._variants.setdefault(primary, set()).add(entry.storage_key)
            self._vary[primary] = names
            return True, evicted, replaced
        return False, [old for old in evicted if old is not entry], replaced

    def drop(self, primary: str) -> list[str]:
        """Remove every variant of ``primary``; their storage keys."""
        keys = sorted(self._variants.pop(primary, ()))
        self._vary.pop(primary, None)
        for key in keys:
            self.memory.pop(key)
        return keys

    def clear(self) -> None:
        """Drop every entry."""
        self.memory.clear()
        self._vary.clear()
        self._variants.clear()

    def _unindex(self, entry: CacheEntry) -> None:
        variants = self._variants.get(entry.key)
        if variants is not None:
            variants.discard(entry.storage_key)
            if not variants:
                del self._variants[entry.key]
                self._vary.pop(entry.key, None)
