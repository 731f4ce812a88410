"""Flush, delete and load: the storage brought in line with what a cache holds.

After ``flush`` the storage holds exactly what memory holds (unless
``write_through``: then only writes that failed on the request path are
retried). ``delete`` empties both and disables the cache; ``load`` fills
memory at creation. Storage trouble never raises here: ``flush`` and
``delete`` end their future with ``HttpError`` 2300023, ``load`` logs.

Logging (through :mod:`netstack.log`): ``cache_loaded``, ``cache_flushed``,
``cache_deleted`` (DEBUG); ``cache_entry_unreadable``, ``cache_load_failed``,
``cache_flush_failed``, ``cache_delete_failed``, ``cache_remove_failed`` (WARNING).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Final

from netstack.cache.entry import CacheEntry
from netstack.cache.persistence import (
    FlushCallback,
    delete_all,
    put_all,
    read_entries,
    settle,
    storage_error,
    warn_unreadable,
)
from netstack.cache.state import CacheState
from netstack.errors import HttpError
from netstack.log import enabled, log_event

_DEBUG: Final = logging.DEBUG


def flush(state: CacheState, callback: FlushCallback | None = None) -> Future[None]:
    """``HttpResponseCache.flush()`` (see there) over ``state``."""
    error: HttpError | None = None
    with state.flush_lock:
        with state.lock:
            current = state.memory.snapshot() if state.enabled else {}
            dirty = [current[key] for key in state.dirty & current.keys()]
            # Oldest first: a bounded storage keeps the most recent.
            to_write = sorted(dirty, key=lambda e: (e.response_time, e.storage_key))
            to_remove = [] if state.write_through else sorted(state.persisted - current.keys())
            state.dirty.clear()
        attempted = {entry.storage_key for entry in to_write}
        pairs = (
            ((e.key if state.write_through else e.storage_key), e.to_bytes()) for e in to_write
        )
        try:
            delete_all(state.storage, to_remove)
            put_all(state.storage, pairs)
        except Exception as exc:  # any storage failure becomes an HttpError
            error = storage_error("flush", state.storage, exc)
        with state.lock:
            if error is None:
                state.persisted = (state.persisted - set(to_remove)) | attempted
            else:  # unknown how far it got: rewrite every entry, delete again
                state.persisted |= attempted
                state.dirty |= attempted
    if error is not None:
        log_event(
            logging.WARNING, "cache_flush_failed", storage=repr(state.storage), error=str(error)
        )
    elif enabled(_DEBUG):
        log_event(
            _DEBUG,
            "cache_flushed",
            storage=repr(state.storage),
            written=len(to_write),
            removed=len(to_remove),
        )
    return settle(error, callback)


def delete(state: CacheState, callback: FlushCallback | None = None) -> Future[None]:
    """``HttpResponseCache.delete()`` (see there) over ``state``."""
    error: HttpError | None = None
    with state.flush_lock:
        with state.lock:
            state.enabled = False
            state.held.clear()
            state.dirty.clear()
        try:
            state.storage.clear()
        except Exception as exc:  # any storage failure becomes an HttpError
            error = storage_error("delete", state.storage, exc)
        else:
            with state.lock:
                state.persisted.clear()
    if error is not None:
        log_event(
            logging.WARNING,
            "cache_delete_failed",
            storage=repr(state.storage),
            error=str(error),
        )
    elif enabled(_DEBUG):
        log_event(_DEBUG, "cache_deleted", storage=repr(state.storage))
    return settle(error, callback)


def load(state: CacheState) -> None:
    """Fill memory from the storage; trouble is logged, never raised."""
    entries: list[tuple[str, CacheEntry]] = []
    unreadable: list[str] = []
    try:
        entries, unreadable = read_entries(state.storage)
    except Exception as exc:  # creating a cache never fails for storage
        log_event(
            logging.WARNING,
            "cache_load_failed",
            storage=repr(state.storage),
            error=repr(exc),
            outcome="starting empty",
        )
    warn_unreadable(state.storage, unreadable)
    for key in unreadable:
        _forget(state, key)
    with state.lock:
        for key, entry in sorted(entries, key=lambda pair: pair[1].response_time):
            state.persisted.add(key)
            if key != entry.storage_key:  # kept under its primary key: move it
                state.dirty.add(entry.storage_key)
            state.put(entry)
    if enabled(_DEBUG):
        log_event(
            _DEBUG,
            "cache_loaded",
            storage=repr(state.storage),
            entries=len(state.memory),
            bytes=state.memory.current_bytes,
        )


def _forget(state: CacheState, key: str) -> None:
    try:
        state.storage.delete(key)
    except Exception as exc:  # best effort; the next flush retries
        log_event(
            logging.WARNING,
            "cache_remove_failed",
            key=key,
            storage=repr(state.storage),
            error=repr(exc),
        )
        state.persisted.add(key)
