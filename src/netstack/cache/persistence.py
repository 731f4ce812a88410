"""What the cache does with its storage: load at creation, batched writes, errors.

Helpers of :class:`~netstack.cache.HttpResponseCache`; they apply to any
:class:`~netstack.cache.storage.CacheStorage` and use its optional batch
methods (``put_many``, ``delete_many``) when it has them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future

from netstack.cache.entry import CacheEntry
from netstack.cache.storage import CacheStorage
from netstack.errors import WRITE_ERROR, HttpError
from netstack.log import log_event

FlushCallback = Callable[[HttpError | None], object]
"""Called by ``flush()`` and ``delete()`` with their error, or ``None``."""

#: Keys a load warning names at most (the count says how many there were).
_NAMED: int = 5


def read_entries(storage: CacheStorage) -> tuple[list[tuple[str, CacheEntry]], list[str]]:
    """Every whole entry in ``storage`` with the key it is stored under, and the unreadable keys.

    An entry is stored under its :attr:`~CacheEntry.storage_key`, or under its
    primary key (written by a write-through cache, or before variants were
    kept side by side). Unreadable ones are reported once, by the caller.
    """
    entries: list[tuple[str, CacheEntry]] = []
    unreadable: list[str] = []
    for key, data in storage.items():
        try:
            entry = CacheEntry.from_bytes(data)
        except ValueError:
            unreadable.append(key)
            continue
        if key not in (entry.storage_key, entry.key):
            unreadable.append(key)
            continue
        entries.append((key, entry))
    return entries, unreadable


def warn_unreadable(storage: CacheStorage, keys: Sequence[str]) -> None:
    """One warning for every entry a load skipped (and removed)."""
    if keys:
        log_event(
            logging.WARNING,
            "cache_entry_unreadable",
            key=keys[0],
            keys=list(keys[:_NAMED]),
            skipped=len(keys),
            storage=repr(storage),
            removed=True,
        )


def put_all(storage: CacheStorage, pairs: Iterable[tuple[str, bytes]]) -> None:
    """``storage.put`` every pair, in one ``put_many`` when the storage has it."""
    put_many: Callable[[Iterable[tuple[str, bytes]]], None] | None
    put_many = getattr(storage, "put_many", None)
    if put_many is not None:
        put_many(pairs)
        return
    for key, data in pairs:
        storage.put(key, data)


def delete_all(storage: CacheStorage, keys: Sequence[str]) -> None:
    """``storage.delete`` every key, in one ``delete_many`` when the storage has it."""
    if not keys:
        return
    delete_many: Callable[[Iterable[str]], None] | None
    delete_many = getattr(storage, "delete_many", None)
    if delete_many is not None:
        delete_many(keys)
        return
    for key in keys:
        storage.delete(key)


def storage_error(operation: str, storage: CacheStorage, exc: BaseException) -> HttpError:
    """HttpError 2300023 naming the storage (its directory when it has one) and the cause."""
    where = getattr(storage, "directory", None)
    place = f"{where}" if where is not None else repr(storage)
    error = HttpError.of(WRITE_ERROR, f"cache {operation} to {place} failed: {exc}")
    error.__cause__ = exc
    return error


def settle(error: HttpError | None, callback: FlushCallback | None) -> Future[None]:
    """A completed future for ``error``; ``callback(error)`` run first, its exceptions logged."""
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
