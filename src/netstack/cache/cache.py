"""``HttpResponseCache``: the public face of a response cache.

It validates the constructor's options, loads what an earlier ``flush()``
left in the storage (:mod:`netstack.cache.flushing` does the storage work),
and answers ``flush()``, ``delete()`` and :meth:`~HttpResponseCache.stats`. What it holds is a
:class:`~netstack.cache.state.CacheState`; the request pipeline drives it
through the :class:`~netstack.cache.driver.CacheDriver` that
:func:`driver_of` hands out, so the request path stays out of the public API.
"""

from __future__ import annotations

import os
from concurrent.futures import Future
from pathlib import Path

from netstack.cache import flushing
from netstack.cache.driver import CacheDriver
from netstack.cache.persistence import FlushCallback
from netstack.cache.state import CacheState
from netstack.cache.stats import CacheStats
from netstack.cache.storage import DEFAULT_CACHE_SIZE, CacheStorage, FileStorage
from netstack.errors import HttpError

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "CacheStats",
    "FlushCallback",
    "HttpResponseCache",
    "default_directory",
    "driver_of",
]


def default_directory() -> Path:
    """``$XDG_CACHE_HOME/netstack``, or ``~/.cache/netstack`` (a relative XDG path is ignored)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "netstack"


class HttpResponseCache:
    """An RFC 9111 private response cache: an LRU in memory, persisted by ``flush()``.

    ``cache_size`` bounds the memory tier in bytes (body plus header fields of
    every entry); any int >= 0 is accepted, beyond @ohos.net.http's 10 MiB maximum.
    ``storage`` is where ``flush()`` persists entries; by default a
    :class:`FileStorage` at ``directory``, itself by default the user's cache
    directory (``$XDG_CACHE_HOME/netstack`` or ``~/.cache/netstack``), bounded
    on disk by ``cache_size`` too. Creation loads what an earlier ``flush()``
    left in the storage and never raises for storage trouble: it logs a
    warning and starts empty.

    Several variants of one URL (``Vary``) are kept side by side, each
    answering the requests whose headers select it (RFC 9111 §4.1).

    ``write_through=True`` shares the storage with other caches (several
    ``netstack worker`` processes over one ``RedisStorage``, say): nothing is
    loaded at creation; a miss in memory reads the URL's entry from the
    storage; every stored response is written to it at once (``private``
    ones stay in this process), and every invalidation deletes from it at
    once, so one cache's response is a hit for the others. The shared tier
    keeps one variant per URL, the latest. ``flush()`` then only retries
    writes that failed; it never deletes what this memory does not hold.
    Storage trouble on the request path is logged and read as a miss.

    ``flush()`` and ``delete()`` run in the calling thread and return an
    already completed future. Every method is thread-safe. ``hits``,
    ``misses`` and :meth:`stats` count what the cache answered.
    """

    def __init__(
        self,
        cache_size: int = DEFAULT_CACHE_SIZE,
        *,
        directory: str | os.PathLike[str] | None = None,
        storage: CacheStorage | None = None,
        write_through: bool = False,
    ) -> None:
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
            raise HttpError.parameter(
                f"cache_size: expected an int >= 0 (bytes), got {cache_size!r}"
            )
        if directory is not None and storage is not None:
            raise HttpError.parameter("directory: give either directory or storage, not both")
        if not isinstance(write_through, bool):
            raise HttpError.parameter(f"write_through: expected a bool, got {write_through!r}")
        if storage is None:
            where = default_directory() if directory is None else directory
            storage = FileStorage(where, max_bytes=cache_size)
        elif isinstance(storage, FileStorage):
            storage.adopt_default_bound(cache_size)
        self._state = CacheState(storage, cache_size, write_through=write_through)
        self._driver = CacheDriver(self._state)
        if not write_through:
            flushing.load(self._state)

    @property
    def cache_size(self) -> int:
        """The bound on the memory tier, in bytes."""
        return self._state.memory.max_bytes

    @property
    def storage(self) -> CacheStorage:
        """Where ``flush()`` persists entries."""
        return self._state.storage

    @property
    def write_through(self) -> bool:
        """True when the storage is shared: read through on a miss, written through on store."""
        return self._state.write_through

    @property
    def enabled(self) -> bool:
        """False once ``delete()`` ran: lookups miss and nothing is stored."""
        return self._state.enabled

    @property
    def hits(self) -> int:
        """Lookups answered by a stored response (see :class:`CacheStats`)."""
        return self._driver.hits

    @property
    def misses(self) -> int:
        """GET or HEAD lookups the cache could not answer by itself (see :class:`CacheStats`)."""
        return self._driver.misses

    def stats(self) -> CacheStats:
        """A snapshot of the counters and of the memory tier's size."""
        state = self._state
        with state.lock:
            revalidated, stored, evicted = state.revalidated, state.stored, state.evicted
        hits, misses = self._driver.counts()
        return CacheStats(
            hits=hits,
            misses=misses,
            revalidated=revalidated,
            stored=stored,
            evicted=evicted,
            entries=len(state.memory),
            bytes=state.memory.current_bytes,
        )

    def __len__(self) -> int:
        return len(self._state.memory)

    def __repr__(self) -> str:
        state = self._state
        mode = ", write-through" if state.write_through else ""
        return (
            f"<HttpResponseCache [{len(state.memory)} entries, "
            f"{state.memory.current_bytes} of {self.cache_size} bytes | "
            f"{'enabled' if state.enabled else 'deleted'}{mode}]>"
        )

    def flush(self, callback: FlushCallback | None = None) -> Future[None]:
        """Persist every cached entry to the storage, and drop what memory no longer holds.

        Runs in the calling thread. The future fails with ``HttpError``
        2300023 naming the storage and the cause when the storage fails (a
        full disk, say): entries the storage held before stay whole, and the
        next flush writes again what this one could not. ``callback(err)``
        is then called with that error (else with ``None``). With
        ``write_through``, only writes that failed on the request path are
        retried; nothing is deleted.
        """
        return flushing.flush(self._state, callback)

    def delete(self, callback: FlushCallback | None = None) -> Future[None]:
        """Disable the cache and delete its data in memory and in the storage.

        Runs in the calling thread; storage failures end the future with
        ``HttpError`` 2300023 (the cache stays disabled and empty in memory).
        """
        return flushing.delete(self._state, callback)


def driver_of(cache: HttpResponseCache) -> CacheDriver:
    """The request path of ``cache``, for the request pipeline (internal)."""
    return cache._driver
