"""``CacheStats``: what a response cache answered and holds, as one snapshot."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class CacheStats:
    """Counters of one :class:`~netstack.cache.HttpResponseCache` since it was created.

    ``hits``: GET and HEAD lookups answered by a fresh stored response,
    without the network. ``misses``: every other one (it went to the network,
    conditionally or not, or got the ``only-if-cached`` 504). ``revalidated``:
    stored responses a 304 confirmed and the cache then served. ``stored``:
    responses stored or updated. ``evicted``: entries pushed out to stay
    within ``cache_size``. ``entries`` and ``bytes``: what memory holds now.
    """

    hits: int
    misses: int
    revalidated: int
    stored: int
    evicted: int
    entries: int
    bytes: int
