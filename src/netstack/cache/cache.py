"""``HttpResponseCache``: the driver that applies the policy to memory and storage.

The policy (:mod:`netstack.cache.policy`) decides; this class holds the state:
the bytes-bounded memory tier, the storage, and which keys changed since the
last ``flush()``. After a flush the storage holds exactly what memory holds.

Logging (DEBUG, through :mod:`netstack.log`, silent unless the program turns
it on): ``cache_fresh_hit``, ``cache_miss``, ``cache_revalidated``,
``cache_stored``, ``cache_evicted``, ``cache_invalidated``, ``cache_loaded``,
``cache_flushed``, ``cache_deleted``; storage trouble is a WARNING
(``cache_entry_unreadable``, ``cache_load_failed``, ``cache_flush_failed`` ...).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from netstack.cache import policy
from netstack.cache.entry import CacheEntry
from netstack.cache.freshness import cache_key
from netstack.cache.memory import MemoryTier
from netstack.cache.policy import CachedResponse, CacheLookup
from netstack.cache.storage import CacheStorage, FileStorage
from netstack.errors import WRITE_ERROR, HttpError
from netstack.log import enabled, log_event

_DEBUG: Final = logging.DEBUG
#: Requests a stored GET response may answer: a HEAD gets its header fields.
_LOOKUP_METHODS: Final = frozenset({"GET", "HEAD"})

#: The seed's default (and, in the seed, maximum) cache size: 10 MiB.
DEFAULT_CACHE_SIZE: Final = 10 * 1024 * 1024

FlushCallback = Callable[[HttpError | None], object]


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
    every entry); any int >= 0 is accepted, beyond the seed's 10 MiB maximum.
    ``storage`` is where ``flush()`` persists entries; by default a
    :class:`FileStorage` at ``directory``, itself by default the user's cache
    directory (``$XDG_CACHE_HOME/netstack`` or ``~/.cache/netstack``).
    Creation loads what an earlier ``flush()`` left in the storage and never
    raises for storage trouble: it logs a warning and starts empty.

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
    ) -> None:
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
            raise HttpError.parameter(
                f"cache_size: expected an int >= 0 (bytes), got {cache_size!r}"
            )
        if directory is not None and storage is not None:
            raise HttpError.parameter("directory: give either directory or storage, not both")
        if storage is None:
            storage = FileStorage(default_directory() if directory is None else directory)
        self._storage = storage
        self._memory = MemoryTier(cache_size)
        self._lock = threading.Lock()  # enabled, dirty, persisted; then the memory tier's
        self._flush_lock = threading.Lock()  # one flush or delete at a time
        self._enabled = True
        self._dirty: set[str] = set()  # keys whose entry changed since the last flush
        self._persisted: set[str] = set()  # keys the storage holds
        self._counts_lock = threading.Lock()
        self._hits = self._misses = 0
        self._revalidated = self._stored = self._evicted = 0  # under self._lock
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
    def enabled(self) -> bool:
        """False once ``delete()`` ran: lookups miss and nothing is stored."""
        return self._enabled

    @property
    def hits(self) -> int:
        """Lookups answered by a fresh stored response (see :class:`CacheStats`)."""
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
        return (
            f"<HttpResponseCache [{len(self._memory)} entries, "
            f"{self._memory.current_bytes} of {self.cache_size} bytes | {state}]>"
        )

    def lookup(
        self, method: str, url: str, request_headers: Mapping[str, str], now: float
    ) -> CacheLookup:
        """Decide, before the network, how to answer this request (see the package docs)."""
        key = cache_key(url)
        stored: CacheEntry | None = None
        if self._enabled and method.upper() in _LOOKUP_METHODS:
            stored = self._memory.get(key)
        decision = policy.lookup(stored, method, url, request_headers, now, key)
        if decision.action == "fresh":
            with self._counts_lock:
                self._hits += 1
            if enabled(_DEBUG):
                log_event(_DEBUG, "cache_fresh_hit", key=key)
        elif decision.method in _LOOKUP_METHODS:
            with self._counts_lock:
                self._misses += 1
            if enabled(_DEBUG):
                log_event(_DEBUG, "cache_miss", key=key, action=decision.action)
        return decision

    def complete(
        self,
        lookup: CacheLookup,
        status: int,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        request_time: float,
        response_time: float,
    ) -> CachedResponse | None:
        """Let the cache see the network's answer; a response to serve instead, or ``None``."""
        if not self._enabled:
            return None
        outcome = policy.complete(
            lookup, status, headers, body, request_time=request_time, response_time=response_time
        )
        invalidated: list[str] = []
        evicted: list[str] = []
        stored = outcome.store
        with self._lock:
            if not self._enabled:
                return None
            for key in outcome.invalidate:
                if self._memory.pop(key) is not None:
                    invalidated.append(key)
                self._dirty.discard(key)
            if stored is not None:
                evicted = self._memory.put(stored)
                self._dirty.difference_update(evicted)
                if stored.key in evicted:  # larger than the whole cache: not stored
                    evicted.remove(stored.key)
                    stored = None
                else:
                    self._dirty.add(stored.key)
                    self._stored += 1
                self._evicted += len(evicted)
            if outcome.serve is not None:
                self._revalidated += 1
        if enabled(_DEBUG):
            self._log_changes(lookup, outcome, stored, invalidated, evicted)
        return outcome.serve

    def _log_changes(
        self,
        lookup: CacheLookup,
        outcome: policy.Outcome,
        stored: CacheEntry | None,
        invalidated: Iterable[str],
        evicted: Iterable[str],
    ) -> None:
        for key in invalidated:
            log_event(_DEBUG, "cache_invalidated", key=key, by=f"{lookup.method} {lookup.url}")
        if outcome.serve is not None:
            log_event(_DEBUG, "cache_revalidated", key=lookup.key, status=outcome.serve.status)
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
        for key in evicted:
            log_event(_DEBUG, "cache_evicted", key=key, reason="lru")

    def flush(self, callback: FlushCallback | None = None) -> Future[None]:
        """Persist every cached entry to the storage, and drop what memory no longer holds.

        Runs in the calling thread. The future fails with ``HttpError``
        2300023 naming the storage and the cause when the storage fails;
        ``callback(err)`` is then called with that error (else with ``None``).
        """
        error: HttpError | None = None
        with self._flush_lock:
            with self._lock:
                current = self._memory.snapshot() if self._enabled else {}
                to_write = [current[key] for key in sorted(self._dirty & current.keys())]
                to_remove = sorted(self._persisted - current.keys())
                self._dirty.clear()
            attempted = {entry.key for entry in to_write}
            try:
                _delete_all(self._storage, to_remove)
                _put_all(self._storage, ((entry.key, entry.to_bytes()) for entry in to_write))
            except Exception as exc:  # any storage failure becomes an HttpError
                error = _storage_error("flush", self._storage, exc)
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
        return _settle(error, callback)

    def delete(self, callback: FlushCallback | None = None) -> Future[None]:
        """Disable the cache and delete its data in memory and in the storage.

        Runs in the calling thread; storage failures end the future with
        ``HttpError`` 2300023 (the cache stays disabled and empty in memory).
        """
        error: HttpError | None = None
        with self._flush_lock:
            with self._lock:
                self._enabled = False
                self._memory.clear()
                self._dirty.clear()
            try:
                self._storage.clear()
            except Exception as exc:  # any storage failure becomes an HttpError
                error = _storage_error("delete", self._storage, exc)
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
        return _settle(error, callback)

    def _load(self) -> None:
        """Fill memory from the storage; trouble is logged, never raised."""
        entries: list[CacheEntry] = []
        try:
            for key, data in self._storage.items():
                try:
                    entry = CacheEntry.from_bytes(data)
                    if entry.key != key:
                        raise ValueError(f"entry for {entry.key!r} stored under {key!r}")
                except ValueError as exc:
                    log_event(
                        logging.WARNING,
                        "cache_entry_unreadable",
                        key=key,
                        storage=repr(self._storage),
                        error=str(exc),
                        removed=True,
                    )
                    self._forget(key)
                    continue
                entries.append(entry)
                self._persisted.add(key)
        except Exception as exc:  # creating a cache never fails for storage
            log_event(
                logging.WARNING,
                "cache_load_failed",
                storage=repr(self._storage),
                error=repr(exc),
                outcome="starting empty",
            )
        for entry in sorted(entries, key=lambda e: e.response_time):
            self._memory.put(entry)
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


def _put_all(storage: CacheStorage, pairs: Iterable[tuple[str, bytes]]) -> None:
    put_many: Callable[[Iterable[tuple[str, bytes]]], None] | None
    put_many = getattr(storage, "put_many", None)
    if put_many is not None:
        put_many(pairs)
        return
    for key, data in pairs:
        storage.put(key, data)


def _delete_all(storage: CacheStorage, keys: Sequence[str]) -> None:
    delete_many: Callable[[Iterable[str]], None] | None
    delete_many = getattr(storage, "delete_many", None)
    if delete_many is not None:
        delete_many(keys)
        return
    for key in keys:
        storage.delete(key)


def _storage_error(operation: str, storage: CacheStorage, exc: BaseException) -> HttpError:
    where = getattr(storage, "directory", None)
    place = f"{where}" if where is not None else repr(storage)
    error = HttpError.of(WRITE_ERROR, f"cache {operation} to {place} failed: {exc}")
    error.__cause__ = exc
    return error


def _settle(error: HttpError | None, callback: FlushCallback | None) -> Future[None]:
    future: Future[None] = Future()
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
    if callback is not None:
        try:
            callback(error)
        except Exception as exc:  # a user bug never escapes flush() or delete()
            log_event(logging.INFO, "cache_callback_failed", error=repr(exc))
    return future


_install_lock = threading.Lock()
_installed: HttpResponseCache | None = None


def create_http_response_cache(
    cache_size: int = DEFAULT_CACHE_SIZE,
    *,
    directory: str | os.PathLike[str] | None = None,
    storage: CacheStorage | None = None,
) -> HttpResponseCache:
    """Create a cache and install it as the process-wide one, replacing any earlier one."""
    global _installed  # noqa: PLW0603 -- the seed's process-wide cache
    cache = HttpResponseCache(cache_size, directory=directory, storage=storage)
    with _install_lock:
        _installed = cache
    return cache


def installed_cache() -> HttpResponseCache | None:
    """The cache ``create_http_response_cache()`` installed last, if any (internal)."""
    return _installed
