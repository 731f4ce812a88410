"""``HttpResponseCache``: the driver that applies the policy to memory and storage.

The policy (:mod:`netstack.cache.policy`) decides; this class holds the state:
the bytes-bounded memory tier, the storage, and which keys changed since the
last ``flush()``. After a flush the storage holds exactly what memory holds
(unless ``write_through``: then every change reaches the storage at once).

Logging (DEBUG, through :mod:`netstack.log`, silent unless the program turns
it on): ``cache_fresh_hit``, ``cache_stale_hit``, ``cache_miss``,
``cache_revalidated``, ``cache_stale_if_error``,
``cache_stored``, ``cache_evicted``, ``cache_invalidated``, ``cache_loaded``,
``cache_flushed``, ``cache_deleted``; storage trouble is a WARNING
(``cache_entry_unreadable``, ``cache_load_failed``, ``cache_flush_failed`` ...).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from netstack.cache import policy
from netstack.cache.entry import CacheEntry
from netstack.cache.freshness import cache_key, request_snapshot, variant_key
from netstack.cache.held import HeldEntries
from netstack.cache.persistence import (
    FlushCallback,
    delete_all,
    put_all,
    read_entries,
    settle,
    storage_error,
    warn_unreadable,
)
from netstack.cache.policy import CachedResponse, CacheLookup
from netstack.cache.storage import DEFAULT_CACHE_SIZE, CacheStorage, FileStorage
from netstack.errors import HttpError
from netstack.log import enabled, log_event

_DEBUG: Final = logging.DEBUG
#: Requests a stored GET response may answer: a HEAD gets its header fields.
_LOOKUP_METHODS: Final = frozenset({"GET", "HEAD"})

#: Seconds a background revalidation may run before another request starts a new one.
_REVALIDATION_CLAIM: Final = 300.0

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "CacheStats",
    "FlushCallback",
    "HttpResponseCache",
    "create_http_response_cache",
    "default_directory",
    "installed_cache",
]


@dataclass(frozen=True, kw_only=True)
class CacheStats:
    """Counters of one :class:`HttpResponseCache` since it was created.

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
        self._storage = storage
        self._write_through = write_through
        self._held = HeldEntries(cache_size)
        self._memory = self._held.memory
        self._lock = threading.Lock()  # everything below, then the memory tier's
        self._flush_lock = threading.Lock()  # one flush or delete at a time
        self._enabled = True
        self._dirty: set[str] = set()  # storage keys whose entry changed since the last flush
        self._persisted: set[str] = set()  # storage keys the storage holds
        #: Primary keys a background revalidation is running for, with when it began.
        self._revalidating: dict[str, float] = {}
        self._counts_lock = threading.Lock()
        self._hits = self._misses = 0
        self._revalidated = self._stored = self._evicted = 0  # under self._lock
        if not write_through:
            self._load()

    @property
    def cache_size(self) -> int:
        """The bound on the memory tier, in bytes."""
        return self._memory.max_bytes

    @property
    def storage(self) -> CacheStorage:
        """Where ``flush()`` persists entries."""
        return self._storage

    @property
    def write_through(self) -> bool:
        """True when the storage is shared: read through on a miss, written through on store."""
        return self._write_through

    @property
    def enabled(self) -> bool:
        """False once ``delete()`` ran: lookups miss and nothing is stored."""
        return self._enabled

    @property
    def hits(self) -> int:
        """Lookups answered by a stored response (see :class:`CacheStats`)."""
        return self._hits

    @property
    def misses(self) -> int:
        """GET or HEAD lookups the cache could not answer by itself (see :class:`CacheStats`)."""
        return self._misses

    def stats(self) -> CacheStats:
        """A snapshot of the counters and of the memory tier's size."""
        with self._lock:
            revalidated, stored, evicted = self._revalidated, self._stored, self._evicted
        with self._counts_lock:
            hits, misses = self._hits, self._misses
        return CacheStats(
            hits=hits,
            misses=misses,
            revalidated=revalidated,
            stored=stored,
            evicted=evicted,
            entries=len(self._memory),
            bytes=self._memory.current_bytes,
        )

    def __len__(self) -> int:
        return len(self._memory)

    def __repr__(self) -> str:
        state = "enabled" if self._enabled else "deleted"
        mode = ", write-through" if self._write_through else ""
        return (
            f"<HttpResponseCache [{len(self._memory)} entries, "
            f"{self._memory.current_bytes} of {self.cache_size} bytes | {state}{mode}]>"
        )

    def lookup(
        self, method: str, url: str, request_headers: Mapping[str, str], now: float
    ) -> CacheLookup:
        """Decide, before the network, how to answer this request (see the package docs)."""
        key = cache_key(url)
        stored: CacheEntry | None = None
        if self._enabled and method.upper() in _LOOKUP_METHODS:
            stored = self.stored(key, request_headers)
        decision = policy.lookup(stored, method, url, request_headers, now, key)
        action = decision.action
        if action in {"fresh", "stale"}:
            with self._counts_lock:
                self._hits += 1
            if action == "stale" and self._claim(key, now):
                decision = replace(decision, background=True)
            if enabled(_DEBUG):
                log_event(
                    _DEBUG, "cache_fresh_hit" if action == "fresh" else "cache_stale_hit", key=key
                )
        elif decision.method in _LOOKUP_METHODS:
            with self._counts_lock:
                self._misses += 1
            if enabled(_DEBUG):
                log_event(_DEBUG, "cache_miss", key=key, action=action)
        return decision

    def fresh(
        self, method: str, url: str, request_headers: Mapping[str, str], now: float
    ) -> tuple[CacheEntry, float] | None:
        """The stored entry and its age when it answers this request as a plain fresh hit.

        The common case of :meth:`lookup` (see :func:`~netstack.cache.policy.fresh_age`),
        counted as a hit; ``None`` means "call :meth:`lookup`", not "miss".
        """
        key = cache_key(url)
        if not self._enabled or self._held.varies(key):
            return None
        entry = self._memory.get(key)
        if entry is None:
            return None
        age = policy.fresh_age(entry, method, request_headers, now)
        if age is None:
            return None
        with self._counts_lock:
            self._hits += 1
        if enabled(_DEBUG):
            log_event(_DEBUG, "cache_fresh_hit", key=key)
        return entry, age

    def peek(
        self,
        method: str,
        url: str,
        request_headers: Mapping[str, str],
        now: float,
        *,
        count: bool = False,
    ) -> CacheLookup:
        """:meth:`lookup` again for a request already counted: no miss counted, no log.

        With ``count``, a fresh answer counts as a hit. Never claims a
        background revalidation (internal: a queued request looking again).
        """
        key = cache_key(url)
        stored: CacheEntry | None = None
        if self._enabled and method.upper() in _LOOKUP_METHODS:
            stored = self.stored(key, request_headers)
        decision = policy.lookup(stored, method, url, request_headers, now, key)
        if count and decision.action == "fresh":
            with self._counts_lock:
                self._hits += 1
        return decision

    def stored(self, key: str, request_headers: Mapping[str, str]) -> CacheEntry | None:
        """The variant stored under primary ``key`` that these request headers select, if any."""
        entry = self._held.find(key, request_headers)
        if entry is None and self._write_through:
            entry = self._read_through(key, request_headers)
        return entry

    def complete(
        self,
        lookup: CacheLookup,
        status: int,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        request_time: float,
        response_time: float,
        *,
        final_url: str | None = None,
    ) -> CachedResponse | None:
        """Let the cache see the network's answer; a response to serve instead, or ``None``.

        ``final_url``: the last hop's URL when redirects were followed (an
        unsafe request then also invalidates it). The response to serve is
        the stored one a 304 confirmed, or a stale one standing in for a
        500/502/503/504 within ``stale-if-error``.
        """
        if lookup.background:
            self._release(lookup.key)
        if not self._enabled:
            return None
        outcome = policy.complete(
            lookup,
            status,
            headers,
            body,
            request_time=request_time,
            response_time=response_time,
            final_url=final_url,
        )
        invalidated: list[str] = []
        evicted: list[CacheEntry] = []
        stored = outcome.store
        with self._lock:
            if not self._enabled:
                return None
            for key in outcome.invalidate:
                invalidated.extend(self._drop(key))
            if stored is not None:
                kept, evicted, replaced = self._put(stored)
                invalidated.extend(replaced)
                if kept:
                    self._stored += 1
                    if not self._write_through:
                        self._dirty.add(stored.storage_key)
                else:
                    stored = None
                self._evicted += len(evicted)
            if outcome.serve is not None and not outcome.stale:
                self._revalidated += 1
        if self._write_through:
            self._write_changes(outcome.invalidate, stored)
        if enabled(_DEBUG):
            self._log_changes(lookup, outcome, stored, invalidated, evicted)
        return outcome.serve

    def fail(self, lookup: CacheLookup, now: float) -> CachedResponse | None:
        """The request failed (no answer from the origin): a stale response to serve, or ``None``.

        Within ``stale-if-error`` the stored response answers a connection
        failure (RFC 5861 §4). Call it instead of :meth:`complete`.
        """
        if lookup.background:
            self._release(lookup.key)
        if not self._enabled:
            return None
        return policy.stale_if_error(lookup, now)

    def _claim(self, key: str, now: float) -> bool:
        """Whether the caller is the one to revalidate ``key`` in the background."""
        with self._lock:
            began = self._revalidating.get(key)
            if began is not None and now - began < _REVALIDATION_CLAIM:
                return False
            self._revalidating[key] = now
            return True

    def _release(self, key: str) -> None:
        with self._lock:
            self._revalidating.pop(key, None)

    def _put(self, entry: CacheEntry) -> tuple[bool, list[CacheEntry], list[str]]:
        """Hold ``entry`` (under the lock): whether it fit, what it evicted, what it replaced."""
        kept, evicted, replaced = self._held.put(entry)
        self._dirty.difference_update(old.storage_key for old in evicted)
        self._dirty.difference_update(replaced)
        return kept, evicted, replaced

    def _drop(self, primary: str) -> list[str]:
        """Remove every variant of ``primary`` (under the lock); their storage keys."""
        keys = self._held.drop(primary)
        self._dirty.difference_update(keys)
        return keys

    def _read_through(self, key: str, request_headers: Mapping[str, str]) -> CacheEntry | None:
        """The shared storage's entry for ``key``, held in memory too; ``None`` if none fits."""
        try:
            data = self._storage.get(key)
            entry = None if data is None else CacheEntry.from_bytes(data)
        except Exception as exc:  # a miss, not a failure
            log_event(logging.WARNING, "cache_read_through_failed", key=key, error=repr(exc))
            return None
        if entry is None or entry.key != key:
            return None
        with self._lock:
            if not self._enabled:
                return None
            self._put(entry)
        if entry.vary and variant_key(key, request_snapshot(entry.vary_names, request_headers)) != (
            entry.storage_key
        ):
            return None
        return entry

    def _write_changes(self, invalidated: Sequence[str], stored: CacheEntry | None) -> None:
        """Write-through: delete what was invalidated and write what was stored, now."""
        try:
            delete_all(
                self._storage, [key for key in invalidated if stored is None or key != stored.key]
            )
            if stored is not None and "private" not in stored.cache_control:
                self._storage.put(stored.key, stored.to_bytes())
        except Exception as exc:  # the next flush() retries the write
            log_event(
                logging.WARNING,
                "cache_write_through_failed",
                storage=repr(self._storage),
                error=repr(exc),
            )
            if stored is not None:
                with self._lock:
                    self._dirty.add(stored.storage_key)

    def _log_changes(
        self,
        lookup: CacheLookup,
        outcome: policy.Outcome,
        stored: CacheEntry | None,
        invalidated: Iterable[str],
        evicted: Iterable[CacheEntry],
    ) -> None:
        for key in invalidated:
            log_event(_DEBUG, "cache_invalidated", key=key, by=f"{lookup.method} {lookup.url}")
        if outcome.serve is not None:
            event = "cache_stale_if_error" if outcome.stale else "cache_revalidated"
            log_event(_DEBUG, event, key=lookup.key, status=outcome.serve.status)
        if outcome.store is not None and stored is None:
            log_event(
                _DEBUG,
                "cache_not_stored",
                key=lookup.key,
                reason="larger than cache_size",
                size=outcome.store.size,
                cache_size=self.cache_size,
            )
        if stored is not None:
            log_event(
                _DEBUG, "cache_stored", key=stored.key, status=stored.status, size=stored.size
            )
        for entry in evicted:
            log_event(_DEBUG, "cache_evicted", key=entry.storage_key, reason="lru")

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
        error: HttpError | None = None
        with self._flush_lock:
            with self._lock:
                current = self._memory.snapshot() if self._enabled else {}
                dirty = [current[key] for key in self._dirty & current.keys()]
                # Oldest first: a bounded storage keeps the most recent.
                to_write = sorted(dirty, key=lambda e: (e.response_time, e.storage_key))
                to_remove = [] if self._write_through else sorted(self._persisted - current.keys())
                self._dirty.clear()
            attempted = {entry.storage_key for entry in to_write}
            pairs = (
                ((e.key if self._write_through else e.storage_key), e.to_bytes()) for e in to_write
            )
            try:
                delete_all(self._storage, to_remove)
                put_all(self._storage, pairs)
            except Exception as exc:  # any storage failure becomes an HttpError
                error = storage_error("flush", self._storage, exc)
            with self._lock:
                if error is None:
                    self._persisted = (self._persisted - set(to_remove)) | attempted
                else:  # unknown how far it got: rewrite every entry, delete again
                    self._persisted |= attempted
                    self._dirty |= attempted
        if error is not None:
            log_event(
                logging.WARNING, "cache_flush_failed", storage=repr(self._storage), error=str(error)
            )
        elif enabled(_DEBUG):
            log_event(
                _DEBUG,
                "cache_flushed",
                storage=repr(self._storage),
                written=len(to_write),
                removed=len(to_remove),
            )
        return settle(error, callback)

    def delete(self, callback: FlushCallback | None = None) -> Future[None]:
        """Disable the cache and delete its data in memory and in the storage.

        Runs in the calling thread; storage failures end the future with
        ``HttpError`` 2300023 (the cache stays disabled and empty in memory).
        """
        error: HttpError | None = None
        with self._flush_lock:
            with self._lock:
                self._enabled = False
                self._held.clear()
                self._dirty.clear()
            try:
                self._storage.clear()
            except Exception as exc:  # any storage failure becomes an HttpError
                error = storage_error("delete", self._storage, exc)
            else:
                with self._lock:
                    self._persisted.clear()
        if error is not None:
            log_event(
                logging.WARNING,
                "cache_delete_failed",
                storage=repr(self._storage),
                error=str(error),
            )
        elif enabled(_DEBUG):
            log_event(_DEBUG, "cache_deleted", storage=repr(self._storage))
        return settle(error, callback)

    def _load(self) -> None:
        """Fill memory from the storage; trouble is logged, never raised."""
        entries: list[tuple[str, CacheEntry]] = []
        unreadable: list[str] = []
        try:
            entries, unreadable = read_entries(self._storage)
        except Exception as exc:  # creating a cache never fails for storage
            log_event(
                logging.WARNING,
                "cache_load_failed",
                storage=repr(self._storage),
                error=repr(exc),
                outcome="starting empty",
            )
        warn_unreadable(self._storage, unreadable)
        for key in unreadable:
            self._forget(key)
        with self._lock:
            for key, entry in sorted(entries, key=lambda pair: pair[1].response_time):
                self._persisted.add(key)
                if key != entry.storage_key:  # kept under its primary key: move it
                    self._dirty.add(entry.storage_key)
                self._put(entry)
        if enabled(_DEBUG):
            log_event(
                _DEBUG,
                "cache_loaded",
                storage=repr(self._storage),
                entries=len(self._memory),
                bytes=self._memory.current_bytes,
            )

    def _forget(self, key: str) -> None:
        try:
            self._storage.delete(key)
        except Exception as exc:  # best effort; the next flush retries
            log_event(
                logging.WARNING,
                "cache_remove_failed",
                key=key,
                storage=repr(self._storage),
                error=repr(exc),
            )
            self._persisted.add(key)


_install_lock = threading.Lock()
_installed: HttpResponseCache | None = None


def create_http_response_cache(
    cache_size: int = DEFAULT_CACHE_SIZE,
    *,
    directory: str | os.PathLike[str] | None = None,
    storage: CacheStorage | None = None,
) -> HttpResponseCache:
    """Create a cache and install it as the process-wide one, replacing any earlier one."""
    global _installed  # noqa: PLW0603 -- @ohos.net.http's process-wide cache
    cache = HttpResponseCache(cache_size, directory=directory, storage=storage)
    with _install_lock:
        _installed = cache
    return cache


def installed_cache() -> HttpResponseCache | None:
    """The cache ``create_http_response_cache()`` installed last, if any (internal)."""
    return _installed
