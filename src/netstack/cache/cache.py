"""``HttpResponseCache``: the driver that applies the policy to memory and storage.

The policy (:mod:`netstack.cache.policy`) decides; this class holds the state:
the bytes-bounded memory tier, the storage, and which keys changed since the
last ``flush()``. After a flush the storage holds exactly what memory holds.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Final

from netstack.cache import policy
from netstack.cache.entry import CacheEntry
from netstack.cache.freshness import cache_key
from netstack.cache.memory import MemoryTier
from netstack.cache.policy import CachedResponse, CacheLookup
from netstack.cache.storage import CacheStorage, FileStorage
from netstack.errors import WRITE_ERROR, HttpError

logger = logging.getLogger("netstack.cache")

#: The seed's default (and, in the seed, maximum) cache size: 10 MiB.
DEFAULT_CACHE_SIZE: Final = 10 * 1024 * 1024

FlushCallback = Callable[[HttpError | None], object]


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
    already completed future. Every method is thread-safe.
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
        stored: CacheEntry | None = None
        if self._enabled and method.upper() == "GET":
            stored = self._memory.get(cache_key(url))
        return policy.lookup(stored, method, url, request_headers, now)

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
        with self._lock:
            if not self._enabled:
                return None
            for key in outcome.invalidate:
                self._memory.pop(key)
                self._dirty.discard(key)
            if outcome.store is not None:
                evicted = self._memory.put(outcome.store)
                self._dirty.difference_update(evicted)
                if outcome.store.key not in evicted:
                    self._dirty.add(outcome.store.key)
        return outcome.serve

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
            written: set[str] = set()
            removed: set[str] = set()
            try:
                for key in to_remove:
                    self._storage.delete(key)
                    removed.add(key)
                for entry in to_write:
                    self._storage.put(entry.key, entry.to_bytes())
                    written.add(entry.key)
            except Exception as exc:  # any storage failure becomes an HttpError
                error = _storage_error("flush", self._storage, exc)
            with self._lock:
                self._persisted = (self._persisted - removed) | written
                self._dirty |= {e.key for e in to_write} - written
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
                    logger.warning("netstack cache: dropping unreadable entry %r: %s", key, exc)
                    self._forget(key)
                    continue
                entries.append(entry)
                self._persisted.add(key)
        except Exception as exc:  # creating a cache never fails for storage
            logger.warning("netstack cache: cannot load %r, starting empty: %s", self._storage, exc)
        for entry in sorted(entries, key=lambda e: e.response_time):
            self._memory.put(entry)

    def _forget(self, key: str) -> None:
        try:
            self._storage.delete(key)
        except Exception as exc:  # best effort; the next flush retries
            logger.warning("netstack cache: cannot remove %r from %r: %s", key, self._storage, exc)
            self._persisted.add(key)


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
        except Exception:
            logger.exception("netstack cache: the flush/delete callback raised")
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
