"""``CacheDriver``: the request path of a response cache, as the request pipeline drives it.

The policy (:mod:`netstack.cache.policy`) decides; the driver applies its
decisions to one cache's :class:`~netstack.cache.state.CacheState`: it finds
the stored variant (reading through a shared storage on a miss), counts hits
and misses, hands out background revalidations one per URL, and stores or
invalidates what an answer changes (writing through at once when the storage
is shared). The pipeline gets a cache's driver from
:func:`netstack.cache.driver_of`; users never see it. Every method is
thread-safe.

Logging (DEBUG, through :mod:`netstack.log`, silent unless the program turns
it on): ``cache_fresh_hit``, ``cache_stale_hit``, ``cache_miss``,
``cache_revalidated``, ``cache_stale_if_error``, ``cache_stored``,
``cache_not_stored``, ``cache_evicted``, ``cache_invalidated``; storage
trouble is a WARNING (``cache_read_through_failed``,
``cache_write_through_failed``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Final

from netstack.cache import policy
from netstack.cache.entry import CacheEntry
from netstack.cache.freshness import cache_key, request_snapshot, variant_key
from netstack.cache.persistence import delete_all
from netstack.cache.policy import CachedResponse, CacheLookup
from netstack.cache.state import CacheState
from netstack.log import enabled, log_event

_DEBUG: Final = logging.DEBUG
#: Requests a stored GET response may answer: a HEAD gets its header fields.
_LOOKUP_METHODS: Final = frozenset({"GET", "HEAD"})

#: Seconds a background revalidation may run before another request starts a new one.
_REVALIDATION_CLAIM: Final = 300.0


class CacheDriver:
    """Lookups before the network and what its answer changes, for one cache."""

    __slots__ = (
        "__weakref__",
        "_counts_lock",
        "_held",
        "_hits",
        "_memory",
        "_misses",
        "_revalidating",
        "_state",
    )

    def __init__(self, state: CacheState) -> None:
        self._state = state
        self._held = state.held
        self._memory = state.memory
        #: Primary keys a background revalidation is running for, with when it began.
        self._revalidating: dict[str, float] = {}
        self._counts_lock = threading.Lock()  # not the state's: a hit never waits for a store
        self._hits = self._misses = 0

    @property
    def hits(self) -> int:
        """Lookups answered by a stored response (see :class:`~netstack.cache.stats.CacheStats`)."""
        return self._hits

    @property
    def misses(self) -> int:
        """GET or HEAD lookups the cache could not answer by itself."""
        return self._misses

    def counts(self) -> tuple[int, int]:
        """``(hits, misses)``, read together."""
        with self._counts_lock:
            return self._hits, self._misses

    def lookup(
        self, method: str, url: str, request_headers: Mapping[str, str], now: float
    ) -> CacheLookup:
        """Decide, before the network, how to answer this request (see the package docs)."""
        key = cache_key(url)
        decision = self._decide(key, method, url, request_headers, now)
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
        state = self._state
        if not state.enabled or self._held.varies(key):
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
        background revalidation (a queued request looking again).
        """
        decision = self._decide(cache_key(url), method, url, request_headers, now)
        if count and decision.action == "fresh":
            with self._counts_lock:
                self._hits += 1
        return decision

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
        state = self._state
        if not state.enabled:
            return None
        try:
            outcome = policy.complete(
                lookup,
                status,
                headers,
                body,
                request_time=request_time,
                response_time=response_time,
                final_url=final_url,
            )
        except Exception as exc:  # headers the policy cannot read must not fail the request
            self._unreadable(lookup, exc)
            return None
        invalidated: list[str] = []
        evicted: list[CacheEntry] = []
        stored = outcome.store
        with state.lock:
            if not state.enabled:
                return None
            for key in outcome.invalidate:
                invalidated.extend(state.drop(key))
            if stored is not None:
                kept, evicted, replaced = state.put(stored)
                invalidated.extend(replaced)
                if kept:
                    state.stored += 1
                    if not state.write_through:
                        state.dirty.add(stored.storage_key)
                else:
                    stored = None
                state.evicted += len(evicted)
            if outcome.serve is not None and not outcome.stale:
                state.revalidated += 1
        if state.write_through:
            self._write_changes(outcome.invalidate, stored)
        if enabled(_DEBUG):
            self._log_changes(lookup, outcome, stored, invalidated, evicted)
        return outcome.serve

    def _unreadable(self, lookup: CacheLookup, error: Exception) -> None:
        """An answer the policy failed on: served as it came, stored nowhere, logged; an
        unsafe request's target is still invalidated (all RFC 9111 4.4 can be sure of)."""
        log_event(
            logging.WARNING, "cache_response_unreadable", url=lookup.url, error=repr(error)[:300]
        )
        if lookup.method not in policy.SAFE_METHODS:
            state = self._state
            with state.lock:
                state.drop(lookup.key)
            if state.write_through:
                self._write_changes([lookup.key], None)

    def fail(self, lookup: CacheLookup, now: float) -> CachedResponse | None:
        """The request failed (no answer from the origin): a stale response to serve, or ``None``.

        Within ``stale-if-error`` the stored response answers a connection
        failure (RFC 5861 §4). Call it instead of :meth:`complete`.
        """
        if lookup.background:
            self._release(lookup.key)
        if not self._state.enabled:
            return None
        return policy.stale_if_error(lookup, now)

    def held(self) -> dict[str, CacheEntry]:
        """The entries memory holds now, by storage key (a copy; recency untouched)."""
        return self._memory.snapshot()

    def _decide(
        self, key: str, method: str, url: str, request_headers: Mapping[str, str], now: float
    ) -> CacheLookup:
        """The policy's decision over the variant stored for primary ``key``, if any."""
        stored: CacheEntry | None = None
        if self._state.enabled and method.upper() in _LOOKUP_METHODS:
            stored = self._stored(key, request_headers)
        return policy.lookup(stored, method, url, request_headers, now, key)

    def _stored(self, key: str, request_headers: Mapping[str, str]) -> CacheEntry | None:
        """The variant stored under primary ``key`` that these request headers select, if any."""
        entry = self._held.find(key, request_headers)
        if entry is None and self._state.write_through:
            entry = self._read_through(key, request_headers)
        return entry

    def _claim(self, key: str, now: float) -> bool:
        """Whether the caller is the one to revalidate ``key`` in the background."""
        with self._state.lock:
            began = self._revalidating.get(key)
            if began is not None and now - began < _REVALIDATION_CLAIM:
                return False
            self._revalidating[key] = now
            return True

    def _release(self, key: str) -> None:
        with self._state.lock:
            self._revalidating.pop(key, None)

    def _read_through(self, key: str, request_headers: Mapping[str, str]) -> CacheEntry | None:
        """The shared storage's entry for ``key``, held in memory too; ``None`` if none fits."""
        state = self._state
        try:
            data = state.storage.get(key)
            entry = None if data is None else CacheEntry.from_bytes(data)
        except Exception as exc:  # a miss, not a failure
            log_event(logging.WARNING, "cache_read_through_failed", key=key, error=repr(exc))
            return None
        if entry is None or entry.key != key:
            return None
        with state.lock:
            if not state.enabled:
                return None
            state.put(entry)
        if entry.vary and variant_key(key, request_snapshot(entry.vary_names, request_headers)) != (
            entry.storage_key
        ):
            return None
        return entry

    def _write_changes(self, invalidated: Sequence[str], stored: CacheEntry | None) -> None:
        """Write-through: delete what was invalidated and write what was stored, now."""
        state = self._state
        try:
            delete_all(
                state.storage, [key for key in invalidated if stored is None or key != stored.key]
            )
            if stored is not None and "private" not in stored.cache_control:
                state.storage.put(stored.key, stored.to_bytes())
        except Exception as exc:  # the next flush() retries the write
            log_event(
                logging.WARNING,
                "cache_write_through_failed",
                storage=repr(state.storage),
                error=repr(exc),
            )
            if stored is not None:
                with state.lock:
                    state.dirty.add(stored.storage_key)

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
                cache_size=self._memory.max_bytes,
            )
        if stored is not None:
            log_event(
                _DEBUG, "cache_stored", key=stored.key, status=stored.status, size=stored.size
            )
        for entry in evicted:
            log_event(_DEBUG, "cache_evicted", key=entry.storage_key, reason="lru")
